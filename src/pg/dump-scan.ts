import { Transform, type TransformCallback } from 'node:stream';

/** What a pg_dumpall script says about itself (for the manifest of an imported dump). */
export interface DumpFacts {
  /** `-- Dumped from database version X`, first seen; null when the dump does not say (8.2 does not). */
  serverVersion: string | null;
  /** `-- Dumped by pg_dump version X`, first seen; null when the dump does not say. */
  dumpToolVersion: string | null;
  /** Databases named by `CREATE DATABASE` and `\connect` lines, sorted. */
  databases: string[];
  /** Roles named by `CREATE ROLE` lines, sorted. */
  roles: string[];
  /** The first `SET client_encoding = '...'`, or null. */
  clientEncoding: string | null;
  /** True when the script starts with pg_dumpall's header comment. */
  hasClusterHeader: boolean;
  /** How lines end: 'lf', 'crlf', or 'mixed' (a file edited on Windows after the fact). */
  lineEnds: 'lf' | 'crlf' | 'mixed' | 'none';
}

/** pg_dumpall's first comment. */
export const CLUSTER_HEADER = '-- PostgreSQL database cluster dump';
/** Statement lines are short; only their starts are looked at, so longer lines are cut. */
const MAX_LINE = 4096;

/**
 * A pass-through that reads the facts of a pg_dumpall script out of the bytes flowing through it,
 * line by line, without holding more than one (cut) line: dumps are GBs. Lines inside
 * `COPY ... FROM stdin;` data are skipped, so a table row that happens to read `CREATE ROLE x;`
 * is not taken for a role.
 */
export class DumpScanner extends Transform {
  private readonly databases = new Set<string>();
  private readonly roles = new Set<string>();
  private serverVersion: string | null = null;
  private dumpToolVersion: string | null = null;
  private clientEncoding: string | null = null;
  private hasClusterHeader = false;
  private crlf = 0;
  private lf = 0;
  private lineNumber = 0;
  private inCopy = false;
  /** The start of the current line (at most MAX_LINE bytes) and its last two bytes. */
  private head: Buffer[] = [];
  private headBytes = 0;
  private lineBytes = 0;
  private lastTwo: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) {
        this.keep(chunk.subarray(start));
        break;
      }
      this.keep(chunk.subarray(start, nl + 1));
      this.endLine();
      start = nl + 1;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.lineBytes > 0) this.endLine();
    callback();
  }

  /** The facts; complete once the stream has ended. */
  get facts(): DumpFacts {
    const lineEnds = this.crlf === 0 && this.lf === 0 ? 'none' : this.crlf === 0 ? 'lf' : this.lf === 0 ? 'crlf' : 'mixed';
    return {
      serverVersion: this.serverVersion,
      dumpToolVersion: this.dumpToolVersion,
      databases: [...this.databases].sort(),
      roles: [...this.roles].sort(),
      clientEncoding: this.clientEncoding,
      hasClusterHeader: this.hasClusterHeader,
      lineEnds,
    };
  }

  private keep(part: Buffer): void {
    if (part.length === 0) return;
    if (this.headBytes < MAX_LINE) {
      const take = part.subarray(0, MAX_LINE - this.headBytes);
      this.head.push(take);
      this.headBytes += take.length;
    }
    this.lineBytes += part.length;
    this.lastTwo = part.length >= 2 ? part.subarray(-2) : Buffer.concat([this.lastTwo, part]).subarray(-2);
  }

  private endLine(): void {
    let head = Buffer.concat(this.head);
    const cut = this.lineBytes > MAX_LINE;
    if (this.lastTwo[this.lastTwo.length - 1] === 0x0a) {
      if (this.lastTwo.length === 2 && this.lastTwo[0] === 0x0d) this.crlf++;
      else this.lf++;
    }
    if (!cut) head = head.subarray(0, head.length - (head.at(-1) === 0x0a ? (head.at(-2) === 0x0d ? 2 : 1) : 0));
    this.head = [];
    this.headBytes = 0;
    this.lineBytes = 0;
    this.lastTwo = Buffer.alloc(0);
    this.lineNumber++;
    this.look(decode(head), cut);
  }

  private look(line: string, cut: boolean): void {
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return;
    }
    if (this.lineNumber <= 5 && line.replace(/^\ufeff/, '') === CLUSTER_HEADER) this.hasClusterHeader = true;
    // pg_dump writes data as COPY ... FROM stdin; a line too long to have been read whole is one too.
    if (/^COPY\s/.test(line) && (cut || /\sFROM\s+stdin;$/.test(line))) {
      this.inCopy = true;
      return;
    }
    let match: RegExpExecArray | null;
    if ((match = /^CREATE ROLE\s+("(?:[^"]|"")*"|[^\s;]+)/.exec(line))) {
      this.roles.add(unquoteIdentifier(match[1]!));
    } else if ((match = /^CREATE DATABASE\s+("(?:[^"]|"")*"|[^\s;]+)/.exec(line))) {
      this.databases.add(unquoteIdentifier(match[1]!));
    } else if ((match = /^\\connect\s+(.+)$/.exec(line))) {
      const name = connectTarget(match[1]!.trim());
      if (name !== undefined) this.databases.add(name);
    } else if ((match = /^-- Dumped from database version (\S+)/.exec(line))) {
      this.serverVersion ??= match[1]!;
    } else if ((match = /^-- Dumped by pg_dump(?:all)? version (\S+)/.exec(line))) {
      this.dumpToolVersion ??= match[1]!;
    } else if ((match = /^SET client_encoding = '([^']*)';/.exec(line))) {
      this.clientEncoding ??= match[1]!;
    }
  }
}

/** UTF-8 when the bytes are UTF-8, else latin1 (names in a legacy code page stay readable as bytes). */
function decode(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/** `"my ""role"""` -> `my "role"`; a plain identifier as it is (pg_dumpall quotes anything unusual). */
function unquoteIdentifier(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text;
}

/**
 * The database of a `\connect` line: `\connect cupm`, `\connect "odd name"`, or (PostgreSQL 10+)
 * `\connect -reuse-previous=on "dbname='odd name'"`.
 */
function connectTarget(args: string): string | undefined {
  const connString = /dbname='((?:[^'\\]|\\.)*)'/.exec(args);
  if (connString) return connString[1]!.replace(/\\(.)/g, '$1');
  const word = /^("(?:[^"]|"")*"|[^\s"]+)/.exec(args.replace(/^-reuse-previous=\S+\s+/, ''));
  if (!word || word[1]!.startsWith('-')) return undefined;
  return unquoteIdentifier(word[1]!);
}
