import { Transform, type TransformCallback } from 'node:stream';
import { connectTarget, createdRole, startsCopyData, unquoteIdentifier } from './dump/syntax.js';
import { CLUSTER_HEADER, HEADER_LINES } from './dump-script.js';

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

/** Statement lines are short; only their starts are looked at, so longer lines are cut. */
const MAX_LINE = 4096;

/**
 * A pass-through that reads the facts of a pg_dumpall script out of the bytes flowing through it,
 * line by line, without holding more than one (cut) line: dumps are GBs. Lines inside
 * `COPY ... FROM stdin;` data are skipped, so a table row that happens to read `CREATE ROLE x;`
 * is not taken for a role. The statements are recognized by restore's grammar
 * (dump/syntax.ts), so import and restore read a dump the same way.
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
    this.look(head.toString('latin1'), cut);
  }

  /** Looks at one line (latin1: one char per byte; names decoded as UTF-8, as restore reads them). */
  private look(line: string, cut: boolean): void {
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return;
    }
    if (this.lineNumber <= HEADER_LINES && line.replace(/^\u00ef\u00bb\u00bf/, '') === CLUSTER_HEADER) this.hasClusterHeader = true;
    // pg_dump writes data as COPY ... FROM stdin; a COPY line too long to have been read whole is one too.
    if (startsCopyData(line) || (cut && line.startsWith('COPY '))) {
      this.inCopy = true;
      return;
    }
    const role = createdRole(line);
    if (role !== undefined) {
      this.roles.add(role);
      return;
    }
    const database = connectTarget(line) ?? createdDatabase(line);
    if (database !== undefined) {
      this.databases.add(database);
      return;
    }
    let match: RegExpExecArray | null;
    if ((match = /^-- Dumped from database version (\S+)/.exec(line))) {
      this.serverVersion ??= match[1]!;
    } else if ((match = /^-- Dumped by pg_dump(?:all)? version (\S+)/.exec(line))) {
      this.dumpToolVersion ??= match[1]!;
    } else if ((match = /^SET client_encoding = '([^']*)';/.exec(line))) {
      this.clientEncoding ??= match[1]!;
    }
  }
}

/** The database a `CREATE DATABASE x ...;` line creates (pg_dumpall before 11 and pg_dump --create alike). */
function createdDatabase(line: string): string | undefined {
  const match = /^CREATE DATABASE ("(?:[^"]|"")+"|[^\s;"]+)/.exec(line);
  return match ? unquoteIdentifier(match[1]!) : undefined;
}
