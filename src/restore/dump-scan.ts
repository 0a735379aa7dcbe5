import type { Readable } from 'node:stream';
import { connectTarget, copyField, startsCopyData, unquoteIdentifier } from '../pg/dump-syntax.js';

/** Lines longer than this are never the ones a scan looks for (COPY headers, short data rows). */
const MAX_LINE = 64 * 1024;

/**
 * Yields the lines of a byte stream (latin1, without their line end). Lines longer than MAX_LINE
 * come out as '' (their content is never needed), so memory stays flat.
 */
export async function* dumpLines(stream: Readable): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl === -1) {
        if (!tooLong) {
          parts.push(chunk.subarray(pos));
          size += chunk.length - pos;
          if (size > MAX_LINE) {
            tooLong = true;
            parts = [];
          }
        }
        break;
      }
      const line = tooLong ? '' : (parts.length ? Buffer.concat([...parts, chunk.subarray(pos, nl)]) : chunk.subarray(pos, nl)).toString('latin1');
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
      parts = [];
      size = 0;
      tooLong = false;
      pos = nl + 1;
    }
  }
  if (size > 0 && !tooLong) yield Buffer.concat(parts).toString('latin1');
}

export interface RowCountQuery {
  database: string;
  table: string;
  column: string;
  value: string;
}

/**
 * Counts the rows of `table` whose `column` equals `value` in the COPY data the dump loads into
 * `database`. Returns undefined when the dump has no COPY block for that table (then the count is
 * only known once the dump is loaded).
 */
export async function countRowsInDump(stream: Readable, query: RowCountQuery): Promise<number | undefined> {
  let database: string | undefined;
  let columnIndex: number | undefined;
  let inCopy = false;
  let found = false;
  let count = 0;
  for await (const line of dumpLines(stream)) {
    if (inCopy) {
      if (line === '\\.') {
        inCopy = false;
        columnIndex = undefined;
      } else if (columnIndex !== undefined) {
        const field = line.split('\t')[columnIndex];
        if (field !== undefined && copyField(field) === query.value) count++;
      }
      continue;
    }
    const target = connectTarget(line);
    if (target !== undefined) {
      database = target;
      continue;
    }
    if (!startsCopyData(line)) continue;
    inCopy = true;
    if (database !== query.database) continue;
    const header = parseCopyHeader(line);
    if (header?.table !== query.table) continue;
    const index = header.columns.indexOf(query.column);
    if (index < 0) continue;
    columnIndex = index;
    found = true;
  }
  return found ? count : undefined;
}

/** `COPY public.nicesyseng (id, host) FROM stdin;` -> table nicesyseng, its columns. */
function parseCopyHeader(line: string): { table: string; columns: string[] } | undefined {
  const ident = '(?:"(?:[^"]|"")+"|[^\\s."(]+)';
  const match = new RegExp(`^COPY (?:${ident}\\.)?(${ident}) \\((.*)\\) FROM stdin;$`).exec(line);
  if (!match) return undefined;
  const columns = match[2]!.split(/,\s*/).map((c) => unquoteIdentifier(c.trim()));
  return { table: unquoteIdentifier(match[1]!), columns };
}
