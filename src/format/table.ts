/**
 * Aligned tables for the terminal (sizes and durations: ./units.ts). Commands (list,
 * status, doctor), the report and the mail all use these, so a size reads the same everywhere.
 */

export interface Column {
  /** The header; omit every header for a table without a header line (key: value lists). */
  header?: string;
  /** Numbers and sizes read best right-aligned. */
  align?: 'left' | 'right';
}

/**
 * Rows as aligned columns, two spaces apart (or `gap`), with a header line when the columns have headers.
 * The last column is not padded (no trailing spaces). A row that is a plain string is printed
 * as it is, under the row before it (a note, a hint).
 */
export function formatTable(
  columns: readonly Column[],
  rows: ReadonlyArray<readonly string[] | string>,
  options: { gap?: number } = {},
): string[] {
  const gap = ' '.repeat(options.gap ?? 2);
  const header = columns.some((c) => c.header !== undefined) ? columns.map((c) => c.header ?? '') : undefined;
  const cells = rows.filter((r): r is readonly string[] => typeof r !== 'string');
  const widths = columns.map((_, i) => Math.max(...[header, ...cells].map((r) => width(r?.[i] ?? ''))));
  const line = (row: readonly string[]) =>
    columns
      .map((column, i) => {
        const text = row[i] ?? '';
        const pad = ' '.repeat(widths[i]! - width(text));
        if (column.align === 'right') return pad + text;
        return i === columns.length - 1 ? text : text + pad;
      })
      .join(gap)
      .trimEnd();
  return [...(header ? [line(header)] : []), ...rows.map((r) => (typeof r === 'string' ? r : line(r)))];
}

/** Columns a string takes on a terminal: East Asian wide characters (a Japanese host name) take two. */
function width(text: string): number {
  let n = 0;
  for (const char of text)
    n += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(char) ? 2 : 1;
  return n;
}
