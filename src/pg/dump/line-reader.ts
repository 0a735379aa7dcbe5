import type { Readable } from 'node:stream';
import { startsCopyData } from './syntax.js';

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

/**
 * The one streaming splitter of pg_dumpall scripts: yields the typed lines of a byte stream without
 * holding more than one (cut) line. A COPY line too long to be read whole starts data too (psql
 * reads it as one). Data that ends without its `\.` line ends with the input, as in psql.
 */
export async function* readDumpLines(stream: Readable, options: LineReaderOptions): AsyncGenerator<DumpLine> {
  const { maxLine } = options;
  let parts: Buffer[] = [];
  let kept = 0;
  let size = 0;
  let number = 0;
  let inCopy = false;
  const classify = (text: string, cut: boolean, end: DumpLine['end']): DumpLine => {
    let kind: DumpLine['kind'];
    if (inCopy) {
      kind = !cut && text === '\\.' ? 'copy-end' : 'copy-data';
      inCopy = kind === 'copy-data';
    } else {
      inCopy = startsCopyData(text) || (cut && text.startsWith('COPY '));
      kind = inCopy ? 'copy-start' : 'sql';
    }
    return { kind, text, number: ++number, cut, end };
  };
  /** The last byte of the current line seen so far (a \r there may end it, with a \n in the next chunk). */
  let lastSeen = -1;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl === -1) {
        if (pos < chunk.length) {
          if (kept < maxLine) {
            const take = chunk.subarray(pos, Math.min(chunk.length, pos + maxLine - kept));
            parts.push(take);
            kept += take.length;
          }
          size += chunk.length - pos;
          lastSeen = chunk[chunk.length - 1]!;
        }
        break;
      }
      if (size === 0) {
        // The whole line is in this chunk (the common case): no copy.
        const crlf = nl > pos && chunk[nl - 1] === 0x0d;
        const length = nl - pos - (crlf ? 1 : 0);
        yield classify(chunk.toString('latin1', pos, pos + Math.min(length, maxLine)), length > maxLine, crlf ? '\r\n' : '\n');
      } else {
        if (kept < maxLine && nl > pos) parts.push(chunk.subarray(pos, Math.min(nl, pos + maxLine - kept)));
        size += nl - pos;
        // A \r before the \n belongs to the line end (it may sit at the end of the previous chunk).
        const crlf = (nl > pos ? chunk[nl - 1] : lastSeen) === 0x0d;
        let bytes = Buffer.concat(parts);
        if (crlf && size <= maxLine) bytes = bytes.subarray(0, bytes.length - 1);
        if (crlf) size--;
        yield classify(bytes.toString('latin1'), size > maxLine, crlf ? '\r\n' : '\n');
      }
      parts = [];
      kept = 0;
      size = 0;
      lastSeen = -1;
      pos = nl + 1;
    }
  }
  if (size > 0) yield classify(Buffer.concat(parts).toString('latin1'), size > maxLine, '');
}
