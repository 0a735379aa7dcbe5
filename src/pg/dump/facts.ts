import { Transform, type TransformCallback } from 'node:stream';
import { DumpLineReader, type DumpLine } from './line-reader.js';
import { HEADER_LINES } from './script.js';
import { connectTarget, createdRole, DATABASE_DUMP_START, isClusterHeader, unquoteIdentifier, withoutByteOrderMark } from './syntax.js';

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
 * through the line reader (line-reader.ts), without holding more than one (cut) line: dumps are
 * GBs. Lines inside `COPY ... FROM stdin;` data are skipped, so a table row that happens to read
 * `CREATE ROLE x;` is not taken for a role. The statements are recognized by restore's grammar
 * (syntax.ts), so import and restore read a dump the same way.
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
  private readonly reader = new DumpLineReader({ maxLine: MAX_LINE });
  private readonly look = (line: DumpLine) => this.lookAt(line);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.reader.feed(chunk, this.look);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.reader.finish(this.look);
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

  /** Looks at one line (latin1: one char per byte; names decoded as UTF-8, as restore reads them). */
  private lookAt({ kind, text, number, end }: DumpLine): void {
    if (end === '\r\n') this.crlf++;
    else if (end === '\n') this.lf++;
    if (kind !== 'sql') return;
    if (isClusterHeader(text, number)) this.hasClusterHeader = true;
    const role = createdRole(text);
    if (role !== undefined) {
      this.roles.add(role);
      return;
    }
    const database = connectTarget(text) ?? createdDatabase(text);
    if (database !== undefined) {
      this.databases.add(database);
      return;
    }
    let match: RegExpExecArray | null;
    if ((match = /^-- Dumped from database version (\S+)/.exec(text))) {
      this.serverVersion ??= match[1]!;
    } else if ((match = /^-- Dumped by pg_dump(?:all)? version (\S+)/.exec(text))) {
      this.dumpToolVersion ??= match[1]!;
    } else if ((match = /^SET client_encoding = '([^']*)';/.exec(text))) {
      this.clientEncoding ??= match[1]!;
    }
  }
}

/**
 * What the first lines of a script (`head`, its first bytes) say it is: a pg_dumpall script
 * ('cluster'), a pg_dump of a single database ('database'), or neither.
 */
export function scriptKind(head: Buffer): 'cluster' | 'database' | 'other' {
  let kind: 'cluster' | 'database' | 'other' = 'other';
  const look = ({ text, number }: DumpLine) => {
    if (isClusterHeader(text, number)) kind = 'cluster';
    else if (kind === 'other' && number <= HEADER_LINES && withoutByteOrderMark(text) === DATABASE_DUMP_START) kind = 'database';
  };
  const reader = new DumpLineReader({ maxLine: MAX_LINE });
  reader.feed(head, look);
  reader.finish(look);
  return kind;
}

/** The database a `CREATE DATABASE x ...;` line creates (pg_dumpall before 11 and pg_dump --create alike). */
function createdDatabase(line: string): string | undefined {
  const match = /^CREATE DATABASE ("(?:[^"]|"")+"|[^\s;"]+)/.exec(line);
  return match ? unquoteIdentifier(match[1]!) : undefined;
}
