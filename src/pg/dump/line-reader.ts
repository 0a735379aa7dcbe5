import type { Readable } from 'node:stream';
import * as byteValues from './bytes.js';
import { COPY_DATA_END, isCopyDataEnd, startsCopyData } from './syntax.js';

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
const { BACKSLASH, CR, NL } = byteValues;
const DOT = COPY_DATA_END.charCodeAt(1);
const EMPTY = Buffer.alloc(0);
const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');

/**
 * The one place a pg_dumpall script is cut into lines: fed chunk by chunk, synchronously (a
 * Transform can use it), holding at most one line of at most maxLine bytes. `take` finds the
 * line that ends in a chunk; a line that goes on in the next chunk is held, and its first maxLine
 * bytes come out with it once it ends (`cut` when it was longer). A line that sits whole in one
 * chunk is not copied: the line found is `source` from `start` to `stop`, and `source` is the
 * chunk. The guard reads lines outside COPY data through it; the typed readers below are built on it.
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

  /** Gives back the bytes held of an unfinished line (all of them while at most maxLine + 2 were seen) and forgets it. */
  release(): Buffer[] {
    const parts = this.parts;
    this.parts = [];
    this.kept = 0;
    this.held = 0;
    this.lastHeld = -1;
    return parts;
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

/** What becomes of a line in a DumpLineEditor: passed on as it is, blanked (only its line end goes on), or read whole and replaced. */
export type LineVerdict = 'pass' | 'blank' | 'whole';

/** What a DumpLineEditor asks of its user, line by line. */
export interface LineJudge {
  /**
   * What becomes of a line, decided from its start: source[start, stop) is its first headLength
   * bytes, or the whole line with its line end when it is shorter (what there is of a last line
   * without one). Called for every line but the ones the editor reads whole itself (a line that
   * starts with `COPY ` outside COPY data, one that starts with `\.` inside).
   */
  head(source: Buffer, start: number, stop: number, inCopy: boolean): LineVerdict;
  /**
   * A line read whole (a 'whole' verdict, and every line that may start or end COPY data): its
   * bytes with their line end (a view: copy what is kept), typed, its text latin1 without the line
   * end; returns the bytes that go on in its place.
   */
  whole(bytes: Buffer, kind: DumpLine['kind'], text: string, end: DumpLine['end']): Buffer;
}

export interface LineEditorOptions {
  /** Bytes of a line's start handed to `head` (at least 4). */
  headLength: number;
  /** The longest line (its line end counted) read whole; a longer one passes as it is, unread. */
  maxLine: number;
}

/** The state of a line that goes on in the next chunk. */
const AT_START = 0;
const HEAD = 1;
const PASS = 2;
const BLANK = 3;
const WHOLE = 4;

/**
 * The line reader for a stream that rewrites some lines and passes the rest byte for byte (the
 * restore's dump filter): fed chunk by chunk, synchronously, it returns what goes on, in order.
 * Each line's start is judged (LineJudge.head) as soon as headLength bytes of it are in; a passed
 * line goes on as slices of the chunks it came in (a run of them as one slice: COPY data is never
 * copied), a blanked one as its line end (CRLF kept), a line read whole is held (LineSplitter) up
 * to maxLine bytes. COPY blocks are told apart as DumpLineReader does (a `COPY ... FROM stdin;`
 * line, or a `COPY ` line too long to read, starts data; `\.` ends it), so the judge sees their
 * start and end lines whole. Line numbers are the dump's (`number`: the line being read). Only line
 * ends and line starts are looked at, and neither a newline nor a carriage return nor a line's
 * first byte can be part of a multibyte character in any client encoding (SJIS and friends
 * included), so the lines are psql's.
 */
export class DumpLineEditor {
  /** Lines begun so far: the number of the line being read (1-based). */
  number = 0;
  /** True while reading the data lines of a COPY block. */
  inCopy = false;
  private state = AT_START;
  /** HEAD: the line's first bytes so far (fewer than headLength, no line end). */
  private head: Buffer = EMPTY;
  /** BLANK: the last byte of the line so far (a \r there belongs to a CRLF). */
  private lastByte = -1;
  /** WHOLE: the line starts with `COPY ` (were it too long to read, data would follow it). */
  private copyLike = false;
  private readonly splitter: LineSplitter;
  private readonly headLength: number;
  private readonly maxLine: number;

  constructor(
    private readonly judge: LineJudge,
    options: LineEditorOptions,
  ) {
    this.headLength = Math.max(4, options.headLength);
    this.maxLine = options.maxLine;
    this.splitter = new LineSplitter(options.maxLine);
  }

  /** Reads `chunk`; returns the bytes that go on for the lines (or parts of lines) in it. */
  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    /** Where the run of passed bytes that ends in `pos` starts, or -1. */
    let run = -1;
    while (this.state !== AT_START && pos < chunk.length) {
      if (this.state !== PASS) {
        pos = this.goOn(chunk, pos, out);
        continue;
      }
      // The rest of a passed line: a run of passed bytes starts with it.
      const nl = chunk.indexOf(NL, pos);
      run = pos;
      if (nl === -1) pos = chunk.length;
      else {
        this.state = AT_START;
        pos = nl + 1;
      }
    }
    const { headLength, maxLine } = this;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      const end = nl === -1 ? chunk.length : nl + 1;
      if (nl === -1 && end - pos < headLength) {
        if (run >= 0) out.push(chunk.subarray(run, pos));
        // A copy: the chunk may be a pooled buffer its producer reuses.
        this.head = Buffer.from(chunk.subarray(pos));
        this.state = HEAD;
        return out;
      }
      this.number++;
      const verdict = this.verdict(chunk, pos, end - pos < headLength ? end : pos + headLength);
      if (verdict === 'pass') {
        if (run < 0) run = pos;
        if (nl === -1) this.state = PASS;
        pos = end;
        continue;
      }
      if (run >= 0) out.push(chunk.subarray(run, pos));
      run = -1;
      if (verdict === 'blank') {
        if (nl !== -1) out.push(lineEnd(nl > pos ? chunk[nl - 1]! : -1));
        else this.blankRest(chunk[end - 1]!);
      } else if (end - pos > maxLine) {
        // Too long to read whole: it passes (and a COPY line too long to read starts data, as in psql).
        run = pos;
        if (startsWithCopy(chunk, pos, end)) this.inCopy = true;
        if (nl === -1) this.state = PASS;
      } else if (nl !== -1) {
        out.push(this.wholeLine(chunk.subarray(pos, end)));
      } else {
        this.copyLike = startsWithCopy(chunk, pos, end);
        this.splitter.take(chunk, pos);
        this.state = WHOLE;
      }
      pos = end;
    }
    if (run >= 0) out.push(chunk.subarray(run, pos));
    return out;
  }

  /** The end of the input: returns what goes on for a last line without a line end. */
  finish(): Buffer[] {
    const state = this.state;
    this.state = AT_START;
    if (state === HEAD) {
      const line = this.head;
      this.head = EMPTY;
      this.number++;
      const verdict = this.verdict(line, 0, line.length);
      if (verdict === 'pass') return [line];
      if (verdict === 'blank') return [];
      return [this.wholeLine(line)];
    }
    if (state === WHOLE && this.splitter.finish()) return [this.wholeLine(this.splitter.bytes)];
    return [];
  }

  /** Goes on with the line begun in an earlier chunk; returns where the next line starts in `chunk`. */
  private goOn(chunk: Buffer, start: number, out: Buffer[]): number {
    const nl = chunk.indexOf(NL, start);
    const end = nl === -1 ? chunk.length : nl + 1;
    switch (this.state) {
      case BLANK:
        if (nl === -1) this.lastByte = chunk[end - 1]!;
        else {
          out.push(lineEnd(nl > start ? chunk[nl - 1]! : this.lastByte));
          this.state = AT_START;
        }
        return end;
      case WHOLE:
        if (this.splitter.held + end - start > this.maxLine) {
          // Too long to read whole: what was held and the rest of the line pass.
          out.push(...this.splitter.release(), chunk.subarray(start, end));
          if (this.copyLike) this.inCopy = true;
          this.state = nl === -1 ? PASS : AT_START;
          return end;
        }
        if (this.splitter.take(chunk, start) !== -1) {
          this.state = AT_START;
          out.push(this.wholeLine(this.splitter.bytes));
        }
        return end;
      default: {
        // HEAD (PASS is feed's): enough of the line's start to judge it, or all of it.
        const take = nl === -1 ? Math.min(chunk.length, start + this.headLength - this.head.length) : end;
        const line = Buffer.concat([this.head, chunk.subarray(start, take)]);
        if (nl === -1 && line.length < this.headLength) {
          this.head = line;
          return take;
        }
        this.head = EMPTY;
        this.state = AT_START;
        this.number++;
        const verdict = this.verdict(line, 0, Math.min(line.length, this.headLength));
        if (verdict === 'pass') {
          out.push(line);
          if (nl === -1) this.state = PASS;
        } else if (verdict === 'blank') {
          if (nl !== -1) out.push(lineEnd(line.length > 1 ? line[line.length - 2]! : -1));
          else this.blankRest(line[line.length - 1]!);
        } else if (line.length > this.maxLine) {
          if (startsWithCopy(line, 0, line.length)) this.inCopy = true;
          out.push(line);
          if (nl === -1) this.state = PASS;
        } else if (nl !== -1) {
          out.push(this.wholeLine(line));
        } else {
          this.copyLike = startsWithCopy(line, 0, line.length);
          this.splitter.take(line, 0);
          this.state = WHOLE;
        }
        return take;
      }
    }
  }

  /** The verdict on the line that starts at source[start]: the editor's own for lines that may start or end COPY data, else the judge's. */
  private verdict(source: Buffer, start: number, stop: number): LineVerdict {
    if (this.inCopy) {
      if (source[start] === BACKSLASH && stop - start > 1 && source[start + 1] === DOT) return 'whole';
      return this.judge.head(source, start, stop, true);
    }
    if (startsWithCopy(source, start, stop)) return 'whole';
    return this.judge.head(source, start, stop, false);
  }

  private blankRest(last: number): void {
    this.lastByte = last;
    this.state = BLANK;
  }

  /** A line read whole: typed, handed to the judge; returns what goes on. */
  private wholeLine(bytes: Buffer): Buffer {
    const n = bytes.length;
    const end: DumpLine['end'] = n > 0 && bytes[n - 1] === NL ? (n > 1 && bytes[n - 2] === CR ? '\r\n' : '\n') : '';
    const text = bytes.toString('latin1', 0, n - end.length);
    let kind: DumpLine['kind'];
    if (this.inCopy) {
      kind = isCopyDataEnd(text) ? 'copy-end' : 'copy-data';
      this.inCopy = kind === 'copy-data';
    } else {
      this.inCopy = startsCopyData(text);
      kind = this.inCopy ? 'copy-start' : 'sql';
    }
    return this.judge.whole(bytes, kind, text, end);
  }
}

const UPPER_C = 0x43;
const COPY_WORD = Buffer.from('COPY ', 'latin1');

/** True when source[start, stop) starts with `COPY `. */
function startsWithCopy(source: Buffer, start: number, stop: number): boolean {
  if (source[start] !== UPPER_C || stop - start < COPY_WORD.length) return false;
  for (let k = 1; k < COPY_WORD.length; k++) if (source[start + k] !== COPY_WORD[k]) return false;
  return true;
}

/** The line end to hand on for a blanked line: CRLF when the byte before its newline is a CR. */
function lineEnd(byteBeforeNewline: number): Buffer {
  return byteBeforeNewline === CR ? CRLF : LF;
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
