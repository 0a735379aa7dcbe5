import type { Readable } from 'node:stream';
import * as byteValues from './bytes.js';
import { isCopyDataEnd, startsCopyData } from './syntax.js';

/**
 * One line of a pg_dumpall script, typed as psql reads it:
 *  - 'sql': a line outside COPY data (statements, comments, meta-commands);
 *  - 'copy-start': the `COPY ... FROM stdin;` line that data lines follow;
 *  - 'copy-data': a data line of that block;
 *  - 'copy-end': the `\.` line that ends it.
 */
export interface DumpLine {
  kind: 'sql' | 'copy-start' | 'copy-data' | 'copy-end';
  /** The line without its line end, latin1 (one char per byte: nothing is re-encoded). Cut when `cut`. */
  text: string;
  /** 1-based. */
  number: number;
  /** True when the line was longer than the reader's maxLine: text holds only its first maxLine bytes. */
  cut: boolean;
  /** The line end it had: '\n', '\r\n', or '' for a last line without one. */
  end: '' | '\n' | '\r\n';
}

export interface LineReaderOptions {
  /** Bytes of a line kept; longer lines come out cut to this, so memory stays flat. */
  maxLine: number;
}

// Module-local copies: V8 folds these into the hot loops; imported bindings are loaded each time.
const { CR, NL } = byteValues;
const EMPTY = Buffer.alloc(0);

/**
 * The one place a pg_dumpall script is cut into lines: fed chunk by chunk, synchronously (a
 * Transform can use it), holding at most one line of at most maxLine bytes. `take` finds the
 * line that ends in a chunk; a line that goes on in the next chunk is held, and its first maxLine
 * bytes come out with it once it ends (`cut` when it was longer). A line that sits whole in one
 * chunk is not copied: the line found is `source` from `start` to `stop`, and `source` is the
 * chunk. The guard reads lines outside COPY data through it; the typed reader below is built on it.
 */
export class LineSplitter {
  /** The last line found is source[start, stop): its bytes with its line end, or its first maxLine bytes (no line end) when cut. */
  source: Buffer = EMPTY;
  start = 0;
  stop = 0;
  /** The line end it had: '\n', '\r\n', or '' for a last line without one. */
  end: DumpLine['end'] = '';
  /** True when the line had more than maxLine bytes (line end not counted). */
  cut = false;
  /** Bytes of the unfinished line seen so far (held, up to maxLine + 2 of them). */
  held = 0;
  private parts: Buffer[] = [];
  private kept = 0;
  /** The last byte held (a \r there may end the line, with a \n at the start of the next chunk). */
  private lastHeld = -1;

  constructor(readonly maxLine: number) {}

  /** Finds the line that ends in `chunk` at or after `pos`: sets bytes/end/cut, returns where the next line starts; or holds the rest of the chunk and returns -1. */
  take(chunk: Buffer, pos: number): number {
    const nl = chunk.indexOf(NL, pos);
    if (nl === -1) {
      this.hold(chunk, pos, chunk.length);
      return -1;
    }
    if (this.held === 0) {
      // The whole line is in this chunk (the common case): no copy.
      const crlf = nl > pos && chunk[nl - 1] === CR;
      this.end = crlf ? '\r\n' : '\n';
      this.cut = nl - pos - (crlf ? 1 : 0) > this.maxLine;
      this.source = chunk;
      this.start = pos;
      this.stop = this.cut ? pos + this.maxLine : nl + 1;
      return nl + 1;
    }
    const crlf = (nl > pos ? chunk[nl - 1] : this.lastHeld) === CR;
    this.hold(chunk, pos, nl + 1);
    this.close(crlf ? '\r\n' : '\n');
    return nl + 1;
  }

  /** The last line found, as a view of its bytes. */
  get bytes(): Buffer {
    return this.source.subarray(this.start, this.stop);
  }

  /** The last line found without its line end, latin1 (one char per byte). */
  text(): string {
    return this.source.toString('latin1', this.start, this.cut ? this.stop : this.stop - this.end.length);
  }

  /** At the end of the input: the held last line (one without a line end) -> true, with bytes/end/cut set; false when none is held. */
  finish(): boolean {
    if (this.held === 0) return false;
    this.close('');
    return true;
  }

  private hold(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const room = this.maxLine + 2 - this.kept;
    if (room > 0) {
      const take = chunk.subarray(from, Math.min(to, from + room));
      // A copy: the chunk may be a pooled buffer its producer reuses.
      this.parts.push(Buffer.from(take));
      this.kept += take.length;
    }
    this.held += to - from;
    this.lastHeld = chunk[to - 1]!;
  }

  private close(end: DumpLine['end']): void {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.end = end;
    this.cut = this.held - end.length > this.maxLine;
    this.source = all;
    this.start = 0;
    this.stop = this.cut ? this.maxLine : all.length;
    this.parts = [];
    this.kept = 0;
    this.held = 0;
    this.lastHeld = -1;
  }
}

/**
 * The typed lines of a script fed in chunks: the splitter above, with line numbers and the COPY
 * blocks told apart. A COPY line too long to be read whole starts data too (psql reads it as one).
 * Data that ends without its `\.` line ends with the input, as in psql.
 */
export class DumpLineReader {
  private readonly splitter: LineSplitter;
  private number = 0;
  private inCopy = false;

  constructor(options: LineReaderOptions) {
    this.splitter = new LineSplitter(options.maxLine);
  }

  /** Calls `each` for every line that ends in `chunk`, in order; an unfinished line waits for the next chunk. */
  feed(chunk: Buffer, each: (line: DumpLine) => void): void {
    for (let pos = 0; pos < chunk.length;) {
      pos = this.splitter.take(chunk, pos);
      if (pos === -1) break;
      each(this.line());
    }
  }

  /** The line that ends in `chunk` at or after `pos` and where the next starts, or undefined (the rest is held). */
  next(chunk: Buffer, pos: number): { line: DumpLine; next: number } | undefined {
    const next = this.splitter.take(chunk, pos);
    return next === -1 ? undefined : { line: this.line(), next };
  }

  /** Calls `each` for the last line when the input ended without a line end. */
  finish(each: (line: DumpLine) => void): void {
    if (this.splitter.finish()) each(this.line());
  }

  private line(): DumpLine {
    const { end, cut } = this.splitter;
    const text = this.splitter.text();
    let kind: DumpLine['kind'];
    if (this.inCopy) {
      kind = !cut && isCopyDataEnd(text) ? 'copy-end' : 'copy-data';
      this.inCopy = kind === 'copy-data';
    } else {
      this.inCopy = startsCopyData(text) || (cut && text.startsWith('COPY '));
      kind = this.inCopy ? 'copy-start' : 'sql';
    }
    return { kind, text, number: ++this.number, cut, end };
  }
}

/** The typed lines of a byte stream, read through DumpLineReader. */
export async function* readDumpLines(stream: Readable, options: LineReaderOptions): AsyncGenerator<DumpLine> {
  const reader = new DumpLineReader(options);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let pos = 0; pos < chunk.length;) {
      const found = reader.next(chunk, pos);
      if (!found) break;
      yield found.line;
      pos = found.next;
    }
  }
  let last: DumpLine | undefined;
  reader.finish((line) => (last = line));
  if (last) yield last;
}
