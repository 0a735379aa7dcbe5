/**
 * The few pieces of pg_dumpall's plain-text output the tool has to understand (restore, import),
 * as written by pg_dumpall 8.2 through 17: role statements, `\connect` lines, COPY blocks. Lines are handled as
 * latin1 strings (one char per byte) so nothing is ever re-encoded; names are compared after
 * decoding their bytes as UTF-8 (the dumps' client_encoding).
 */

import { CLUSTER_HEADER, HEADER_LINES } from './script.js';
import { CR, NL } from './bytes.js';

/** The databases every cluster has: pg_dumpall never creates them, it only fills them. */
export const BUILTIN_DATABASES: readonly string[] = ['postgres', 'template1', 'template0'];

/** The comment pg_dump starts each database's part with (and a pg_dump of one database its script). */
export const DATABASE_DUMP_START = '-- PostgreSQL database dump';

/** The comment pg_dump ends each database's part with. */
export const DATABASE_DUMP_END = '-- PostgreSQL database dump complete';

const QUOTED = '"(?:[^"]|"")+"';
const BARE = '[A-Za-z_\\x80-\\xff][A-Za-z0-9_$\\x80-\\xff]*';
/** An SQL identifier as pg_dump writes it (regex source, no capture group): "Odd ""Name""" or cupm. */
export const IDENTIFIER = `(?:${QUOTED}|${BARE})`;
const IDENT = `(${IDENTIFIER})`;
const COLUMNS = '\\((?:"(?:[^"]|"")*"|[^()"])*\\)';

/**
 * The COPY line as pg_dump writes it, and the only COPY the guard lets through:
 * `COPY [schema.]table [(columns)] [WITH OIDS] FROM stdin;` (any case, as psql reads it).
 * startsCopyData is the looser test the readers use to know that data lines follow.
 */
export const COPY_FROM_STDIN = new RegExp(`^COPY ${IDENTIFIER}(?:\\.${IDENTIFIER})? ?(?:${COLUMNS} ?)?(?:WITH OIDS )?FROM stdin ?;$`, 'i');

const CREATE_ROLE = new RegExp(`^CREATE ROLE ${IDENT};$`);
const ALTER_ROLE = new RegExp(`^ALTER ROLE ${IDENT} WITH (.*);$`);
const PASSWORD_CLAUSE = / (?:ENCRYPTED |UNENCRYPTED )?PASSWORD E?'((?:[^'\\]|''|\\.)*)'/;
const STARTS_COPY_DATA = /^COPY \S.* FROM stdin;$/;

/** True for pg_dumpall's header comment as line `number` of a script (a UTF-8 byte order mark before it allowed). */
export function isClusterHeader(line: string, number: number): boolean {
  return number <= HEADER_LINES && withoutByteOrderMark(line) === CLUSTER_HEADER;
}

/** A first line without the UTF-8 byte order mark an editor may have put before it (latin1 text). */
export function withoutByteOrderMark(line: string): string {
  return line.replace(/^\u00ef\u00bb\u00bf/, '');
}

/** An identifier as written in SQL ("Odd ""Name""" or cupm) -> the name, bytes read as UTF-8. */
export function unquoteIdentifier(latin1: string): string {
  const raw = latin1.startsWith('"') ? latin1.slice(1, -1).replaceAll('""', '"') : latin1;
  return Buffer.from(raw, 'latin1').toString('utf8');
}

/** The role a `CREATE ROLE x;` line creates, or undefined for any other line. */
export function createdRole(line: string): string | undefined {
  const match = CREATE_ROLE.exec(line);
  return match ? unquoteIdentifier(match[1]!) : undefined;
}

/** `ALTER ROLE x WITH ...;` -> the role and the options text, or undefined. */
export function alteredRole(line: string): { role: string; options: string } | undefined {
  const match = ALTER_ROLE.exec(line);
  return match ? { role: unquoteIdentifier(match[1]!), options: match[2]! } : undefined;
}

/**
 * Takes the PASSWORD clause out of an `ALTER ROLE ... WITH ...;` line. Returns the line without it
 * and the password (hash) it set, or the line unchanged and undefined when it had none.
 */
export function withoutPassword(line: string): { line: string; password: string | undefined } {
  const match = PASSWORD_CLAUSE.exec(line);
  if (!match) return { line, password: undefined };
  const password = match[1]!.replaceAll("''", "'").replace(/\\(.)/g, '$1');
  return { line: line.slice(0, match.index) + line.slice(match.index + match[0].length), password };
}

/** True for the one-line `COPY table (columns) FROM stdin;` that starts a block of data lines. */
export function startsCopyData(line: string): boolean {
  return STARTS_COPY_DATA.test(line);
}

/** The line that ends COPY data (line end not included). */
export const COPY_DATA_END = '\\.';

/** True for the `\.` line that ends COPY data (its text without the line end). */
export function isCopyDataEnd(line: string): boolean {
  return line === COPY_DATA_END;
}

/**
 * The `\.` line at the start of `head` (the first bytes of a line, up to 4): its length with the
 * line end (`\.\n` 3, `\.\r\n` 4), 'no', or 'maybe' when too few bytes are there to say.
 */
export function copyDataEndLength(head: Buffer): number | 'no' | 'maybe' {
  for (let k = 0; k < head.length && k < 2; k++) if (head[k] !== COPY_DATA_END.charCodeAt(k)) return 'no';
  if (head.length < 3) return 'maybe';
  if (head[2] === NL) return 3;
  if (head[2] !== CR) return 'no';
  if (head.length < 4) return 'maybe';
  return head[3] === NL ? 4 : 'no';
}

const COPY_HEADER = new RegExp(`^COPY (?:${IDENTIFIER}\\.)?(${IDENTIFIER}) (${COLUMNS}) FROM stdin;$`);

/** `COPY public.nicesyseng (id, host) FROM stdin;` -> table nicesyseng and its columns (names decoded), or undefined. */
export function copyHeader(line: string): { table: string; columns: string[] } | undefined {
  const match = COPY_HEADER.exec(line);
  if (!match) return undefined;
  const list = match[2]!.slice(1, -1);
  const columns = [...list.matchAll(new RegExp(`\\s*(${IDENTIFIER})\\s*(?:,|$)`, 'g'))].map((m) => unquoteIdentifier(m[1]!));
  return { table: unquoteIdentifier(match[1]!), columns };
}

/** The argument of a `\connect` (or `\c`) line, trimmed, or undefined for other lines. */
export function connectArgument(line: string): string | undefined {
  return /^\\(?:connect|c)\s+(.*?)\s*$/.exec(line)?.[1];
}

/**
 * The database a `\connect` (or `\c`) line connects to, or undefined for other lines. Handles the
 * forms pg_dumpall writes: `\connect cupm`, `\connect "odd name"` and
 * `\connect -reuse-previous=on "dbname='odd name'"`.
 */
export function connectTarget(line: string): string | undefined {
  let rest = connectArgument(line);
  if (rest === undefined) return undefined;
  if (rest.startsWith('-reuse-previous=')) rest = rest.replace(/^-reuse-previous=\S+\s+/, '');
  const first = firstWord(rest);
  if (first === undefined) return undefined;
  const conninfo = /(?:^|\s)dbname\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/.exec(first);
  const name = conninfo && first.includes('=') ? (conninfo[1]?.replace(/\\(.)/g, '$1') ?? conninfo[2]!) : first;
  return Buffer.from(name, 'latin1').toString('utf8');
}

/** psql's first argument: a "double-quoted" word (with "" inside) or a bare one. */
function firstWord(text: string): string | undefined {
  if (text.startsWith('"')) {
    const match = /^"((?:[^"]|"")*)"/.exec(text);
    return match ? match[1]!.replaceAll('""', '"') : undefined;
  }
  return /^(\S+)/.exec(text)?.[1];
}

/** One COPY data field in text format -> its value (null for \N). */
export function copyField(field: string): string | null {
  if (field === '\\N') return null;
  return field.replace(/\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))/g, (_, octal: string, hex: string, char: string) => {
    if (octal) return String.fromCharCode(parseInt(octal, 8));
    if (hex) return String.fromCharCode(parseInt(hex, 16));
    return { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' }[char] ?? char;
  });
}
