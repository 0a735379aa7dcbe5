import * as byteValues from '../bytes.js';
import { judgeMetaCommand, judgeStatement } from './allow-list.js';
import { mask, unsafeEncoding, type CharLength } from './encodings.js';

/**
 * The guard's lexer: reads the lines of a script outside COPY data the way psql does
 * (psqlscan.l: quotes, E'' strings, dollar quotes, nested comments, psql variables, where a
 * statement ends), so that every backslash psql would take for a meta-command, and every whole
 * statement, is put before the allow-list (allow-list.ts).
 *
 * Literals whose end depends on standard_conforming_strings (a quote after an odd run of
 * backslashes in a '...' string) are refused: psql's reading of them could differ from ours, and
 * pg_dump never writes them that way. Client encodings whose bytes psql masks (SJIS and friends)
 * are masked as psql does once the dump sets one (encodings.ts).
 */

// Module-local copies: V8 folds these into the hot loops; imported bindings are loaded each time.
const { BACKSLASH, CR, DOLLAR, DQUOTE, NL, QUOTE } = byteValues;

/** The start of a statement kept for the checks made when it ends (a COPY header, a SET). */
const MAX_STATEMENT_HEAD = 64 * 1024;

type State = 'sql' | 'quote' | 'equote' | 'dquote' | 'dollar' | 'block';

export class PsqlLexer {
  private state: State = 'sql';
  private copyFollows = false;
  private blockDepth = 0;
  private dollarTag = '';
  private parenDepth = 0;
  private beginDepth = 0;
  private identifiers = 0;
  private keyLetters: string[] = [];
  private statement = '';
  private statementEmpty = true;
  private lastLiteral: string | undefined;
  private encodingLength: CharLength | undefined;

  /** `refuse` throws the refusal of the line being read. */
  constructor(private readonly refuse: (reason: string) => never) {}

  /**
   * Lexes one line outside COPY data (`raw`, with its line end when it has one; `first` for the
   * script's first line; NUL bytes were refused before). Returns true when COPY data follows it.
   */
  line(raw: Buffer, first: boolean): boolean {
    const line = this.asPsqlReads(raw);
    const end = raw[raw.length - 1] === NL ? raw.length - 1 : raw.length;
    // A UTF-8 byte order mark before the first line (a dump saved by an editor) is not SQL.
    let i = first && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
    while (i < end) {
      switch (this.state) {
        case 'sql':
          i = this.sqlToken(line, i, end);
          break;
        case 'quote': {
          const q = line.indexOf(QUOTE, i);
          if (q < 0 || q >= end) {
            i = end;
            break;
          }
          let run = 0;
          while (q - run - 1 >= i && line[q - run - 1] === BACKSLASH) run++;
          if (run % 2 === 1) {
            this.refuse(
              "a '...' string literal with a backslash before its closing quote: where it ends depends on standard_conforming_strings, and pg_dump never writes it so",
            );
          }
          i = q + 1;
          if (line[i] === QUOTE)
            i++; // '' inside the literal
          else this.state = 'sql';
          break;
        }
        case 'equote':
          while (i < end) {
            const c = line[i]!;
            if (c === BACKSLASH) i += 2;
            else if (c === QUOTE) {
              if (line[i + 1] === QUOTE) i += 2;
              else {
                i++;
                this.state = 'sql';
                break;
              }
            } else i++;
          }
          if (i > end) i = end; // an escaped line end: the literal goes on
          break;
        case 'dquote': {
          const q = line.indexOf(DQUOTE, i);
          if (q < 0 || q >= end) {
            i = end;
            break;
          }
          i = q + 1;
          if (line[i] === DQUOTE) i++;
          else this.state = 'sql';
          break;
        }
        case 'dollar': {
          const q = line.indexOf(this.dollarTag, i, 'latin1');
          if (q < 0 || q >= end) {
            i = end;
            break;
          }
          i = q + this.dollarTag.length;
          this.state = 'sql';
          break;
        }
        case 'block':
          while (i < end) {
            if (line[i] === 0x2f && line[i + 1] === 0x2a) {
              this.blockDepth++;
              i += 2;
            } else if (line[i] === 0x2a && line[i + 1] === 0x2f) {
              i += 2;
              if (this.blockDepth-- === 0) {
                this.state = 'sql';
                break;
              }
            } else i++;
          }
          break;
      }
    }
    this.addStatement(' ');
    const copy = this.copyFollows;
    this.copyFollows = false;
    return copy;
  }

  /** `raw` as psql lexes it: with the trailing bytes of multibyte characters masked in an unsafe client encoding. */
  asPsqlReads(raw: Buffer): Buffer {
    return this.encodingLength ? mask(raw, this.encodingLength) : raw;
  }

  /** Reads one token outside literals from `i`; returns where the next starts. */
  private sqlToken(line: Buffer, i: number, end: number): number {
    const c = line[i]!;
    if (c === 0x20 || c === 0x09 || c === CR || c === 0x0c) {
      this.addStatement(' ');
      return i + 1;
    }
    if (c === 0x2d && line[i + 1] === 0x2d) {
      // -- comment: psql ends it at \r as well as \n.
      const cr = line.indexOf(CR, i);
      return cr >= 0 && cr < end ? cr : end;
    }
    if (c === 0x2f && line[i + 1] === 0x2a) {
      this.state = 'block';
      this.blockDepth = 0;
      this.addStatement(' ');
      return i + 2;
    }
    if (c === BACKSLASH) return this.metaCommand(line, i, end);
    this.statementEmpty = false;
    if (c === QUOTE) {
      this.state = 'quote';
      const close = line.indexOf(QUOTE, i + 1);
      // A short literal is remembered: SET client_encoding names the encoding in one.
      this.lastLiteral = close > i && close < end && close - i <= 65 ? line.toString('latin1', i + 1, close) : undefined;
      this.addStatement("''");
      return i + 1;
    }
    if (c === DQUOTE) {
      const q = line.indexOf(DQUOTE, i + 1);
      // Quoted identifiers are kept in the statement head (COPY names its table with them).
      if (q >= 0 && q < end && line[q + 1] !== DQUOTE) {
        this.addStatement(line.toString('latin1', i, q + 1));
        return q + 1;
      }
      this.state = 'dquote';
      this.addStatement('"?"');
      return i + 1;
    }
    if (c === DOLLAR) {
      const next = line[i + 1];
      if (next === DOLLAR) return this.startDollar('$$', i + 2);
      if (next !== undefined && isIdentStart(next)) {
        let j = i + 2;
        while (j < end && isDollarTagChar(line[j]!)) j++;
        if (line[j] === DOLLAR) return this.startDollar(line.toString('latin1', i, j + 1), j + 1);
        this.addStatement('$');
        return i + 1; // $ followed by a name but no closing $: psql reads "$", then the name
      }
      let j = i + 1;
      while (j < end && isDigit(line[j]!)) j++;
      this.addStatement(line.toString('latin1', i, j));
      return j;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < end && isIdentChar(line[j]!)) j++;
      const word = line.toString('latin1', i, j);
      const next = line[j];
      if (word.length === 1 && next === QUOTE) {
        // E'...' takes backslash escapes; B'', X'', N'' are read like '...'.
        this.state = c === 0x45 || c === 0x65 ? 'equote' : 'quote';
        this.addStatement("''");
        return j + 1;
      }
      if ((word === 'U' || word === 'u') && next === 0x26 && (line[j + 1] === QUOTE || line[j + 1] === DQUOTE)) {
        this.state = line[j + 1] === QUOTE ? 'quote' : 'dquote';
        this.addStatement(line[j + 1] === QUOTE ? "''" : '"?"');
        return j + 2;
      }
      this.identifier(word);
      this.addStatement(word);
      return j;
    }
    if (isDigit(c)) {
      let j = i + 1;
      while (j < end && (isDigit(line[j]!) || line[j] === 0x2e)) j++;
      this.addStatement(line.toString('latin1', i, j));
      return j;
    }
    if (c === 0x3a) return this.colon(line, i, end);
    if (c === 0x28) this.parenDepth++;
    else if (c === 0x29) this.parenDepth = Math.max(0, this.parenDepth - 1);
    else if (c === 0x3b && this.parenDepth === 0 && this.beginDepth === 0) {
      this.addStatement(';');
      this.endStatement(line, i + 1, end);
      return this.copyFollows ? end : i + 1;
    }
    this.addStatement(String.fromCharCode(c));
    return i + 1;
  }

  private startDollar(tag: string, next: number): number {
    this.state = 'dollar';
    this.dollarTag = tag;
    this.addStatement('$$?$$');
    return next;
  }

  /** `:name`, `:'name'`, `:"name"`: psql substitutes its variables (and reads their values as script). */
  private colon(line: Buffer, i: number, end: number): number {
    const next = line[i + 1];
    if (next === 0x3a) {
      this.addStatement('::');
      return i + 2;
    }
    let j = i + 1;
    const quote = next === QUOTE || next === DQUOTE ? next : undefined;
    if (quote !== undefined) j++;
    const nameStart = j;
    while (j < end && isVariableChar(line[j]!)) j++;
    const name = line.toString('latin1', nameStart, j);
    const closed = quote === undefined || line[j] === quote;
    if (name !== '' && closed && /^[A-Z_][A-Z0-9_]*$/.test(name)) {
      this.refuse(`a reference to the psql variable :${name}, which psql would replace (pg_dumpall never writes one)`);
    }
    this.addStatement(':');
    return i + 1;
  }

  /** The CREATE FUNCTION ... BEGIN ... END heuristic of psql, so statements end where psql ends them. */
  private identifier(word: string): void {
    const lower = word.toLowerCase();
    if (this.identifiers === 0) this.keyLetters = [];
    if (['create', 'function', 'procedure', 'or', 'replace'].includes(lower) && this.identifiers < 4)
      this.keyLetters[this.identifiers] = lower[0]!;
    this.identifiers++;
    const k = this.keyLetters;
    const inRoutine = k[0] === 'c' && (k[1] === 'f' || k[1] === 'p' || (k[1] === 'o' && k[2] === 'r' && (k[3] === 'f' || k[3] === 'p')));
    if (!inRoutine || this.parenDepth !== 0) return;
    if (lower === 'begin') this.beginDepth++;
    else if (lower === 'case' && this.beginDepth >= 1) this.beginDepth++;
    else if (lower === 'end' && this.beginDepth > 0) this.beginDepth--;
  }

  private addStatement(text: string): void {
    if (this.statement.length < MAX_STATEMENT_HEAD) this.statement += text;
  }

  /** A statement ended (its `;` at `from - 1`): the allow-list judges it whole. */
  private endStatement(line: Buffer, from: number, end: number): void {
    const text = this.statement.replace(/\s+/g, ' ').trim();
    this.statement = '';
    this.statementEmpty = true;
    this.identifiers = 0;
    this.parenDepth = 0;
    this.beginDepth = 0;
    const verdict = judgeStatement(text);
    if (typeof verdict === 'object') this.refuse(verdict.refused);
    if (verdict === 'copy') {
      const rest = line.toString('latin1', from, end);
      if (rest.trim() !== '') this.refuse('text after "COPY ... FROM stdin;" on its line (psql would run it once the data ends)');
      this.copyFollows = true;
    } else if (verdict === 'client-encoding') {
      // psql masks the bytes of multibyte characters in some client encodings: so must we.
      this.encodingLength = unsafeEncoding(this.lastLiteral ?? '');
    }
  }

  /** A backslash outside literals: one of the meta-commands pg_dumpall writes, alone on its line, or refused. */
  private metaCommand(line: Buffer, i: number, end: number): number {
    const text = line.toString('latin1', i, end).replace(/\r$/, '');
    const verdict = judgeMetaCommand(text, i === 0 && this.statementEmpty, i === 0);
    if ('refused' in verdict) this.refuse(verdict.refused);
    // A new session (\connect) or an encoding of its own: the dump sets its encoding next.
    if (verdict.accepted !== 'restrict') this.encodingLength = undefined;
    return end;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isIdentStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
}

function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR;
}

function isDollarTagChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}

function isVariableChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}
