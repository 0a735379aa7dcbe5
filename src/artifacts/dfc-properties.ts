/**
 * Reading and editing `sep/dfc.properties` with the exact semantics of `java.util.Properties.load`
 * (the JDK's LineReader, load0 and loadConvert, as of JDK 17-25), because CUPM reads the file with
 * Java: whatever Java sees is what counts.
 *
 * Texts are byte-transparent: callers decode the file as `latin1` and encode the result back as
 * `latin1` (Java reads a .properties InputStream as ISO-8859-1, one byte per char). A UTF-8 BOM is
 * therefore NOT skipped: like Java, the first key starts with the three chars "ï»¿".
 *
 * Editing replaces only the raw bytes of the targeted values; every other byte (comments, order,
 * separators, line ends, escapes, continuation lines, BOM) stays as it was.
 */
import { ConfigError } from '../errors.js';

/** The key of the single database host (docs/cupm.md). */
export const DB_HOST_KEY = 'dfc.postgres.host';
/** The key of the database hosts when the database runs on several systems (docs/cupm.md). */
export const DB_HOSTLIST_KEY = 'dfc.postgres.hostlist';

/** One `key=value` of the file, as Java reads it, with where it sits in the text. */
export interface PropertyOccurrence {
  key: string;
  value: string;
  /** 1-based number of the natural line the entry starts on. */
  line: number;
  /** Index in the text where the natural line holding the entry begins. */
  lineStart: number;
  /** Index in the text where the entry's logical line ends (its line terminator, or the end). */
  lineEnd: number;
  /**
   * Index where the value's raw text starts (right after the separator, or after the key of a bare
   * key); it runs to `lineEnd`, continuation lines included.
   */
  valueStart: number;
  /** False when the line is a bare key (`key` alone): an edit must add a separator. */
  hasSeparator: boolean;
}

/** One value changed by an edit: where, and the entry's text before and after. */
export interface PropertyChange {
  key: string;
  line: number;
  oldValue: string;
  newValue: string;
  /** The entry's raw text before the edit (all its natural lines). */
  before: string;
  /** The entry's raw text after the edit. */
  after: string;
}

export interface PropertiesEditResult {
  text: string;
  /** Every occurrence changed, in file order (a duplicated key appears once per occurrence). */
  changes: PropertyChange[];
  /** Keys that occur more than once (Java keeps the last one; every occurrence was changed). */
  duplicates: string[];
}

export interface PropertiesOptions {
  /** The file the text came from, for messages. */
  file?: string;
}

/** Key -> value as java.util.Properties.load reads it (escapes, \uXXXX, continuations, BOM as chars, last one wins). */
export function readProperties(text: string, options: PropertiesOptions = {}): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of parseProperties(text, options)) map.set(entry.key, entry.value);
  return map;
}

/** Every occurrence of `key`, in file order (more than one: Java uses the last). */
export function findPropertyOccurrences(text: string, key: string, options: PropertiesOptions = {}): PropertyOccurrence[] {
  return parseProperties(text, options).filter((entry) => entry.key === key);
}

/** The text with only the values of the given keys replaced; every other byte kept. */
export function setPropertyValues(text: string, values: Record<string, string>, options: PropertiesOptions = {}): string {
  return editProperties(text, values, options).text;
}

/**
 * Replaces the values of the given keys and says what changed. Every occurrence of a duplicated
 * key is changed, so that no stale value remains whichever one a reader takes; `duplicates` names
 * them so the caller can warn. A key that does not occur throws a ConfigError naming the key and
 * the file: an edit that silently does nothing would leave CUPM pointing at the old host.
 */
export function editProperties(text: string, values: Record<string, string>, options: PropertiesOptions = {}): PropertiesEditResult {
  const entries = parseProperties(text, options);
  const wanted = Object.keys(values);
  const missing = wanted.filter((key) => !entries.some((entry) => entry.key === key));
  if (missing.length > 0) throw missingKeysError(missing, entries, options);

  const targets = entries.filter((entry) => Object.hasOwn(values, entry.key));
  const duplicates = wanted.filter((key) => targets.filter((entry) => entry.key === key).length > 1);
  const changes: PropertyChange[] = [];
  let result = '';
  let copied = 0;
  for (const entry of targets) {
    const newValue = values[entry.key]!;
    const replacement = (entry.hasSeparator ? '' : '=') + escapePropertyValue(newValue);
    result += text.slice(copied, entry.valueStart) + replacement;
    copied = entry.lineEnd;
    changes.push({
      key: entry.key,
      line: entry.line,
      oldValue: entry.value,
      newValue,
      before: text.slice(entry.lineStart, entry.lineEnd),
      after: text.slice(entry.lineStart, entry.valueStart) + replacement,
    });
  }
  result += text.slice(copied);
  return { text: result, changes, duplicates };
}

/**
 * A value written the way `Properties.store` writes it: `\` doubled, a leading space, `=`, `:`,
 * `#`, `!` escaped, tab/newline/return/form feed as `\t` `\n` `\r` `\f`, and everything outside
 * printable ASCII as `\uXXXX` (so the file stays ASCII whatever encoding a reader assumes).
 */
export function escapePropertyValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const code = value.charCodeAt(i);
    if (code > 61 && code < 127) {
      out += c === '\\' ? '\\\\' : c;
      continue;
    }
    switch (c) {
      case ' ':
        out += i === 0 ? '\\ ' : ' ';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\f':
        out += '\\f';
        break;
      case '=':
      case ':':
      case '#':
      case '!':
        out += '\\' + c;
        break;
      default:
        out += code < 0x20 || code > 0x7e ? '\\u' + code.toString(16).toUpperCase().padStart(4, '0') : c;
    }
  }
  return out;
}

/**
 * Which key names the database host (docs/cupm.md): `dfc.postgres.hostlist` when it is present with a
 * non-blank value (the database runs on several systems), otherwise `dfc.postgres.host` when
 * present, otherwise a blank `dfc.postgres.hostlist`, otherwise undefined (no host key at all).
 */
export function dbHostKey(text: string, options: PropertiesOptions = {}): typeof DB_HOST_KEY | typeof DB_HOSTLIST_KEY | undefined {
  const properties = readProperties(text, options);
  const hostlist = properties.get(DB_HOSTLIST_KEY);
  if (hostlist !== undefined && hostlist.trim() !== '') return DB_HOSTLIST_KEY;
  if (properties.has(DB_HOST_KEY)) return DB_HOST_KEY;
  if (hostlist !== undefined) return DB_HOSTLIST_KEY;
  return undefined;
}

/** Splits a text into the entries Java reads, in order (duplicates included). */
export function parseProperties(text: string, options: PropertiesOptions = {}): PropertyOccurrence[] {
  const entries: PropertyOccurrence[] = [];
  for (const line of logicalLines(text)) {
    const { chars, raw } = line;
    const limit = chars.length;
    // load0: the key ends at the first unescaped '=', ':' or whitespace.
    let keyLen = 0;
    let valueStart = limit;
    let hasSep = false;
    let escaped = false;
    while (keyLen < limit) {
      const c = chars[keyLen]!;
      if ((c === '=' || c === ':') && !escaped) {
        valueStart = keyLen + 1;
        hasSep = true;
        break;
      } else if ((c === ' ' || c === '\t' || c === '\f') && !escaped) {
        valueStart = keyLen + 1;
        break;
      }
      escaped = c === '\\' ? !escaped : false;
      keyLen++;
    }
    while (valueStart < limit) {
      const c = chars[valueStart]!;
      if (c !== ' ' && c !== '\t' && c !== '\f') {
        if (!hasSep && (c === '=' || c === ':')) hasSep = true;
        else break;
      }
      valueStart++;
    }
    const where = () => `${options.file ?? 'the properties file'}, line ${lineNumberAt(text, line.start)}`;
    const key = loadConvert(chars.slice(0, keyLen), where);
    const value = loadConvert(chars.slice(valueStart), where);
    const lineStart = naturalLineStart(text, line.start);
    // The value's raw text starts right after the char before it (the separator, the last key
    // char of a bare key), so a continuation between the two goes with the old value: left
    // behind, it would join the next line to the new value.
    const valueRaw = valueStart > 0 ? raw[valueStart - 1]! + 1 : line.start;
    entries.push({
      key,
      value,
      line: lineNumberAt(text, lineStart),
      lineStart,
      lineEnd: line.end,
      valueStart: valueRaw,
      hasSeparator: keyLen < limit,
    });
  }
  return entries;
}

interface LogicalLine {
  /** The logical line as LineReader returns it (leading whitespace and continuations removed). */
  chars: string;
  /** For each char of `chars`, its index in the text. */
  raw: number[];
  /** Index of the first char (of the dropped backslash, for the empty line a lone `\\` ends a file with). */
  start: number;
  /** Index where the logical line ends: its terminating '\r' or '\n', or the end of the text. */
  end: number;
}

/** Java's LineReader.readLine, char for char, keeping where each char came from. */
function logicalLines(text: string): LogicalLine[] {
  const lines: LogicalLine[] = [];
  const n = text.length;
  let off = 0;
  for (;;) {
    let chars = '';
    const raw: number[] = [];
    let skipWhiteSpace = true;
    let appendedLineBegin = false;
    let precedingBackslash = false;
    let done: number | undefined; // the end index of the line just finished
    let removed = 0; // where the last continuation backslash was
    while (done === undefined) {
      if (off >= n) {
        if (chars.length === 0) return lines;
        if (precedingBackslash) {
          chars = chars.slice(0, -1);
          removed = raw.pop()!;
        }
        done = n;
        break;
      }
      const c = text[off++]!;
      if (skipWhiteSpace) {
        if (c === ' ' || c === '\t' || c === '\f') continue;
        if (!appendedLineBegin && (c === '\r' || c === '\n')) continue;
        skipWhiteSpace = false;
        appendedLineBegin = false;
      }
      if (chars.length === 0 && (c === '#' || c === '!')) {
        // A comment: the rest of the natural line.
        while (off < n && text[off] !== '\r' && text[off] !== '\n') off++;
        if (off >= n) return lines;
        off++;
        skipWhiteSpace = true;
        continue;
      }
      if (c !== '\n' && c !== '\r') {
        chars += c;
        raw.push(off - 1);
        precedingBackslash = c === '\\' ? !precedingBackslash : false;
        continue;
      }
      // End of a natural line.
      if (chars.length === 0) {
        skipWhiteSpace = true;
        continue;
      }
      if (off >= n) {
        if (precedingBackslash) {
          chars = chars.slice(0, -1);
          removed = raw.pop()!;
        }
        done = off - 1;
        break;
      }
      if (precedingBackslash) {
        // A continuation: the backslash goes, the next line's leading whitespace is skipped.
        chars = chars.slice(0, -1);
        removed = raw.pop()!;
        skipWhiteSpace = true;
        appendedLineBegin = true;
        precedingBackslash = false;
        if (c === '\r' && text[off] === '\n') off++;
      } else {
        done = off - 1;
      }
    }
    // A lone continuation backslash at the very end still makes a line for Java: key "" = "".
    lines.push({ chars, raw, start: raw[0] ?? removed, end: done });
  }
}

/** Java's loadConvert: `\uXXXX`, `\t` `\r` `\n` `\f`, and `\x` -> x. Malformed \u fails like Java. */
function loadConvert(chars: string, where: () => string): string {
  if (!chars.includes('\\')) return chars;
  let out = '';
  let i = 0;
  while (i < chars.length) {
    const c = chars[i++]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = chars[i++] ?? '';
    if (next === 'u') {
      const hex = chars.slice(i, i + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new ConfigError(`Malformed \\uxxxx escape in ${where()}: Java cannot read this file either.`, {
          hint: 'fix the escape by hand (\\u followed by exactly four hex digits)',
        });
      }
      out += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else if (next === 't') out += '\t';
    else if (next === 'r') out += '\r';
    else if (next === 'n') out += '\n';
    else if (next === 'f') out += '\f';
    else out += next;
  }
  return out;
}

function naturalLineStart(text: string, index: number): number {
  let i = index;
  while (i > 0 && text[i - 1] !== '\n' && text[i - 1] !== '\r') i--;
  return i;
}

/** 1-based line number of an index; '\r\n', '\r' and '\n' each end a line. */
function lineNumberAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) line++;
  }
  return line;
}

const BOM_AS_LATIN1 = '\u00ef\u00bb\u00bf';

function missingKeysError(missing: string[], entries: PropertyOccurrence[], options: PropertiesOptions): ConfigError {
  const file = options.file ?? 'the properties file';
  const problems = missing.map((key) => `${key} is not set`);
  let hint = `add the missing key${missing.length > 1 ? 's' : ''} to ${file} by hand (as CUPM expects them), then run again`;
  const first = entries[0];
  if (first && first.key.startsWith(BOM_AS_LATIN1) && missing.includes(first.key.slice(BOM_AS_LATIN1.length))) {
    problems.push(`${file} starts with a UTF-8 byte order mark, so Java (and CUPM) read its first key as "${first.key}"`);
    hint = `remove the byte order mark from ${file} (save it as ANSI/ISO-8859-1), then run again`;
  }
  return new ConfigError(
    `Cannot change ${missing.join(', ')} in ${file}: the key${missing.length > 1 ? 's are' : ' is'} not in the file (as Java reads it).`,
    {
      problems,
      state: `${file} was not changed`,
      hint,
    },
  );
}
