import type { Readable } from 'node:stream';
import { readDumpLines } from './line-reader.js';
import { connectTarget, copyField, copyHeader } from './syntax.js';

/** Lines longer than this are never the ones a scan looks for (COPY headers, short data rows). */
const MAX_LINE = 64 * 1024;

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
  let found = false;
  let count = 0;
  for await (const { kind, text, cut } of readDumpLines(stream, { maxLine: MAX_LINE })) {
    if (kind === 'copy-data') {
      if (columnIndex !== undefined && !cut) {
        const field = text.split('\t')[columnIndex];
        if (field !== undefined && copyField(field) === query.value) count++;
      }
    } else if (kind === 'copy-end') {
      columnIndex = undefined;
    } else if (kind === 'sql') {
      database = connectTarget(text) ?? database;
    } else if (database === query.database && !cut) {
      const header = copyHeader(text);
      if (header?.table !== query.table) continue;
      const index = header.columns.indexOf(query.column);
      if (index < 0) continue;
      columnIndex = index;
      found = true;
    }
  }
  return found ? count : undefined;
}
