/** The bytes the readers of a pg_dumpall script look for (line-reader.ts, guard/). */
export const NL = 0x0a;
export const CR = 0x0d;
export const BACKSLASH = 0x5c;
export const QUOTE = 0x27;
export const DQUOTE = 0x22;
export const DOLLAR = 0x24;
