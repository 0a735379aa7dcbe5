import { Transform, Writable, type TransformCallback } from 'node:stream';
import { CLUSTER_HEADER, HEADER_LINES } from '../script.js';
import * as byteValues from '../bytes.js';
import { LineSplitter } from '../line-reader.js';
import { copyDataEndLength, isClusterHeader } from '../syntax.js';
import { DumpRefusedError } from './allow-list.js';
import { PsqlLexer } from './lexer.js';

export { DumpRefusedError } from './allow-list.js';

/**
 * The dump guard: proves a dump is a pg_dumpall script before psql runs it. psql executes
 * backslash meta-commands found anywhere outside quotes and comments (`\! cmd` runs a shell as the
 * user of this tool, `\o file` writes files, `\connect ... host=x` sends the admin password
 * elsewhere), so the guard lexes the script the way psql does (lexer.ts) and accepts only what
 * pg_dumpall writes (allow-list.ts). This file is its stream adapter: it cuts the script into
 * lines (line-reader.ts), passes COPY data through, and hands on only bytes already judged.
 * Anything else with a backslash outside a literal is refused, and so are COPY to/from files or
 * programs, lo_import/lo_export, ALTER SYSTEM, references to psql's own variables, and NUL bytes.
 *
 * It does not make a hostile dump harmless: the script runs as the admin role, and SQL can do on
 * the database server whatever SQL can. It keeps the script from running programs or touching
 * files on this machine through psql, and refuses what is not a pg_dumpall script.
 */

// Module-local copies: V8 folds these into the hot loops; imported bindings are loaded each time.
const { BACKSLASH, NL } = byteValues;

/** A line outside COPY data is held in memory to be read whole; pg_dump's are far shorter. */
const MAX_SQL_LINE = 16 * 1024 * 1024;
/** COPY blocks remembered to place an error in COPY data (pg_dumpall writes one per table). */
const MAX_COPY_BLOCKS = 4096;

/**
 * The guard's scanner. `feed` takes the script in any chunks and returns the bytes that were
 * judged safe, in order: psql must never get a byte of a line the guard has not read whole (a
 * cut-off `\!` line would run at the end of its input), so an incomplete line is held back, except
 * in COPY data, where only the start of a line that could be `\.` is.
 */
export class DumpGuardScanner {
  /** The line being read (1-based). */
  line = 1;
  private inCopy = false;
  private readonly lines = new LineSplitter(MAX_SQL_LINE);
  private readonly lexer = new PsqlLexer((reason) => this.refuse(reason));
  /** In COPY data: the start of a line that could be `\.`, held from the chunk before (at most 3 bytes). */
  private copyHead: Buffer | undefined;
  private atCopyLineStart = true;
  private headerSeen = false;
  /** The latest COPY blocks: the line of their header and of their `\.` (see copyHeaderOf). */
  private readonly copyBlocks: Array<{ header: number; end: number | undefined }> = [];

  /** `label` names the script in refusals (the archive entry, or the file given to import). */
  constructor(private readonly label: string) {}

  /** Reads `chunk`; returns what may go on to psql. Throws DumpRefusedError. */
  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.inCopy) {
        pos = this.copyData(chunk, pos, out);
        continue;
      }
      const next = this.lines.take(chunk, pos);
      if (next === -1) {
        if (this.lines.held > MAX_SQL_LINE) this.refuse(`a line of more than ${MAX_SQL_LINE} bytes outside COPY data`);
        break;
      }
      out.push(this.sqlLine());
      pos = next;
    }
    return out;
  }

  /**
   * The line of the `COPY ... FROM stdin;` header whose data holds `line` (or ends at it: psql
   * names the `\.` line for an error in the data), among the latest blocks read; row N of the
   * block is line header + N. Undefined when `line` is in no COPY block the guard remembers.
   */
  copyHeaderOf(line: number): number | undefined {
    for (let i = this.copyBlocks.length - 1; i >= 0; i--) {
      const block = this.copyBlocks[i]!;
      if (block.header < line && (block.end === undefined || line <= block.end)) return block.header;
      if (block.header < line) return undefined;
    }
    return undefined;
  }

  /** The end of the script: judges what is held and the whole; returns the rest to pass on. */
  finish(): Buffer[] {
    let rest: Buffer[] = [];
    if (this.inCopy) {
      // Data that ends without its \. line: psql ends the COPY at the end of its input.
      if (this.copyHead) rest = [this.copyHead];
    } else if (this.lines.finish()) {
      rest = [this.sqlLine()];
    }
    if (!this.headerSeen) this.refuse(`it does not start with "${CLUSTER_HEADER}"`, 1);
    return rest;
  }

  /** The line the splitter found, lexed; returns its bytes to pass on. */
  private sqlLine(): Buffer {
    const { bytes, end, cut } = this.lines;
    if (cut) this.refuse(`a line of more than ${MAX_SQL_LINE} bytes outside COPY data`);
    if (bytes.includes(0)) this.refuse('a NUL byte');
    if (this.line <= HEADER_LINES && !this.headerSeen) {
      const text = this.lexer.asPsqlReads(bytes).toString('latin1', 0, bytes.length - end.length);
      if (isClusterHeader(text, this.line)) this.headerSeen = true;
      else if (this.line === HEADER_LINES) this.refuse(`it does not start with "${CLUSTER_HEADER}"`);
    }
    this.inCopy = this.lexer.line(bytes, this.line === 1);
    if (this.inCopy) {
      // psql may be this far behind the guard when it stops: the latest blocks are enough.
      if (this.copyBlocks.length >= MAX_COPY_BLOCKS) this.copyBlocks.shift();
      this.copyBlocks.push({ header: this.line, end: undefined });
    }
    this.atCopyLineStart = true;
    if (end !== '') this.line++;
    return bytes;
  }

  /** COPY data: lines pass as they are until the `\.` line; returns where it stopped. */
  private copyData(chunk: Buffer, start: number, out: Buffer[]): number {
    let pos = start;
    let run = start; // data lines pass on as one slice
    // Text COPY data cannot hold NUL, and psql would cut the line there (and lose its line end).
    const nul = chunk.indexOf(0, start);
    while (pos < chunk.length) {
      if (this.atCopyLineStart && (chunk[pos] === BACKSLASH || this.copyHead)) {
        // Is this line the end marker? Up to 4 bytes decide (`\.\n`, `\.\r\n`), some held from before.
        if (pos > run) out.push(chunk.subarray(run, pos));
        const held = this.copyHead?.length ?? 0;
        const fromChunk = Math.min(4 - held, chunk.length - pos);
        const head = this.copyHead
          ? Buffer.concat([this.copyHead, chunk.subarray(pos, pos + fromChunk)])
          : Buffer.from(chunk.subarray(pos, pos + fromChunk));
        this.copyHead = undefined;
        const verdict = copyDataEndLength(head);
        if (verdict === 'maybe') {
          this.copyHead = head;
          return chunk.length;
        }
        if (verdict !== 'no') {
          out.push(head.subarray(0, verdict));
          this.copyBlocks[this.copyBlocks.length - 1]!.end = this.line;
          this.line++;
          this.inCopy = false;
          return pos + verdict - held;
        }
        if (held > 0) out.push(head.subarray(0, held));
        run = pos;
      }
      const nl = chunk.indexOf(NL, pos);
      if (nul >= pos && (nl < 0 || nul < nl)) this.refuse('a NUL byte in COPY data');
      if (nl < 0) {
        this.atCopyLineStart = false;
        pos = chunk.length;
        break;
      }
      pos = nl + 1;
      this.line++;
      this.atCopyLineStart = true;
    }
    if (pos > run) out.push(chunk.subarray(run, pos));
    return pos;
  }

  private refuse(reason: string, line = this.line): never {
    throw new DumpRefusedError(line, reason, this.label);
  }
}

/** The guard between the archive and psql: passes only judged lines on, fails the stream on a refusal. */
export class DumpGuard extends Transform {
  readonly scanner: DumpGuardScanner;

  constructor(label: string) {
    super();
    this.scanner = new DumpGuardScanner(label);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      for (const piece of this.scanner.feed(chunk)) this.push(piece);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      for (const piece of this.scanner.finish()) this.push(piece);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

/**
 * The guard as the end of a pipeline (verify reads the dump to measure and judge it): the first
 * refusal is kept in `refusal`, and the rest of the dump is still read, so the other checks
 * (size, SHA-256, trailer) are made too.
 */
export function dumpGuardSink(label: string): Writable & { refusal: DumpRefusedError | undefined } {
  const scanner = new DumpGuardScanner(label);
  let refusal: DumpRefusedError | undefined;
  const judge = (step: () => void) => {
    if (refusal) return;
    try {
      step();
    } catch (error) {
      if (!(error instanceof DumpRefusedError)) throw error;
      refusal = error;
    }
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      judge(() => scanner.feed(chunk));
      callback();
    },
    final(callback) {
      judge(() => scanner.finish());
      callback();
    },
  });
  return Object.defineProperty(sink, 'refusal', { get: () => refusal }) as Writable & { refusal: DumpRefusedError | undefined };
}
