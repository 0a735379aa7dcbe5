import { Transform, Writable, type TransformCallback } from 'node:stream';
import { ArchiveInvalidError } from '../errors.js';
import { CLUSTER_HEADER, HEADER_LINES } from './dump-script.js';
import { COPY_FROM_STDIN } from './dump/syntax.js';

/**
 * The dump guard: proves a dump is a pg_dumpall script before psql runs it. psql executes
 * backslash meta-commands found anywhere outside quotes and comments (`\! cmd` runs a shell as the
 * user of this tool, `\o file` writes files, `\connect ... host=x` sends the admin password
 * elsewhere), so the guard lexes the script the way psql does (psqlscan.l: quotes, E'' strings,
 * dollar quotes, nested comments, COPY data) and accepts only what pg_dumpall writes, an
 * allow-list:
 *  - `\connect <database>` (bare, "quoted", or `-reuse-previous=on "dbname='...'"`), at the start
 *    of a line: the same server, the same user;
 *  - `\restrict KEY` / `\unrestrict KEY` (PostgreSQL 17.6+), `\encoding SQL_ASCII`;
 *  - `COPY <table> [(columns)] [WITH OIDS] FROM stdin;` and its data, up to the `\.` line.
 * Anything else with a backslash outside a literal is refused, and so are COPY to/from files or
 * programs, lo_import/lo_export, ALTER SYSTEM, references to psql's own variables, and NUL bytes.
 *
 * Literals whose end depends on standard_conforming_strings (a quote after an odd run of
 * backslashes in a '...' string) are refused: psql's reading of them could differ from ours, and
 * pg_dump never writes them that way. Client encodings whose bytes psql masks (SJIS and friends)
 * are masked as psql does once the dump sets one.
 *
 * It does not make a hostile dump harmless: the script runs as the admin role, and SQL can do on
 * the database server whatever SQL can. It keeps the script from running programs or touching
 * files on this machine through psql, and refuses what is not a pg_dumpall script.
 */

/** A dump the guard refuses: a usage of psql or SQL that pg_dumpall never writes (exit 3). */
export class DumpRefusedError extends ArchiveInvalidError {
  constructor(readonly line: number, reason: string, label: string) {
    super(`${label} is not a pg_dumpall script psql may run: line ${line}: ${reason}.`, {
      hint: 'do not restore from this archive; it was altered, or was not made by pg_dumpall (cupm-backup list shows the others)',
    });
  }
}

/** A line outside COPY data is held in memory to be read whole; pg_dump's are far shorter. */
const MAX_SQL_LINE = 16 * 1024 * 1024;
/** COPY blocks remembered to place an error in COPY data (pg_dumpall writes one per table). */
const MAX_COPY_BLOCKS = 4096;
/** The start of a statement kept for the checks made when it ends (a COPY header, a SET). */
const MAX_STATEMENT_HEAD = 64 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const QUOTE = 0x27;
const DQUOTE = 0x22;
const DOLLAR = 0x24;

/** Client encodings whose multibyte characters can hold ASCII bytes; psql masks them (psqlscan). */
const UNSAFE_ENCODINGS: Record<string, (bytes: Buffer, at: number) => number> = {
  sjis: sjisLength,
  shiftjis: sjisLength,
  mskanji: sjisLength,
  win932: sjisLength,
  windows932: sjisLength,
  shiftjis2004: sjisLength,
  big5: twoByteLength,
  win950: twoByteLength,
  windows950: twoByteLength,
  gbk: twoByteLength,
  win936: twoByteLength,
  windows936: twoByteLength,
  uhc: twoByteLength,
  win949: twoByteLength,
  windows949: twoByteLength,
  johab: twoByteLength,
  gb18030: gb18030Length,
};

const META_COMMANDS: Record<string, string> = {
  '!': 'runs a shell command on this machine',
  o: 'writes query output to a file or a program',
  out: 'writes query output to a file or a program',
  w: 'writes the query buffer to a file or a program',
  write: 'writes the query buffer to a file or a program',
  g: 'can send query output to a file or a program',
  gx: 'can send query output to a file or a program',
  gexec: 'runs query results as SQL',
  gset: 'sets psql variables from query results',
  copy: 'reads or writes files on this machine, or runs a program',
  setenv: 'changes the environment of psql and the programs it runs',
  set: 'sets psql variables',
  i: 'reads and runs another file',
  include: 'reads and runs another file',
  ir: 'reads and runs another file',
  include_relative: 'reads and runs another file',
  e: 'runs an editor',
  edit: 'runs an editor',
  lo_import: 'reads a file of this machine into the database',
  lo_export: 'writes a file on this machine',
  c: 'connects elsewhere (only "\\connect <database>" as pg_dumpall writes it is accepted)',
  connect: 'connects elsewhere (only "\\connect <database>" as pg_dumpall writes it is accepted)',
  cd: 'changes the working directory',
};

type State = 'sql' | 'quote' | 'equote' | 'dquote' | 'dollar' | 'block' | 'copy';

/**
 * The guard's scanner. `feed` takes the script in any chunks and returns the bytes that were
 * judged safe, in order: psql must never get a byte of a line the guard has not read whole (a
 * cut-off `\!` line would run at the end of its input), so an incomplete line is held back, except
 * in COPY data, where only the start of a line that could be `\.` is.
 */
export class DumpGuardScanner {
  /** The line being read (1-based). */
  line = 1;
  private state: State = 'sql';
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private atCopyLineStart = true;
  private blockDepth = 0;
  private dollarTag = '';
  private parenDepth = 0;
  private beginDepth = 0;
  private identifiers = 0;
  private keyLetters: string[] = [];
  private statement = '';
  private statementEmpty = true;
  private headerSeen = false;
  private lastLiteral: string | undefined;
  private encodingLength: ((bytes: Buffer, at: number) => number) | undefined;
  /** The latest COPY blocks: the line of their header and of their `\.` (see copyHeaderOf). */
  private readonly copyBlocks: Array<{ header: number; end: number | undefined }> = [];

  /** `label` names the script in refusals (the archive entry, or the file given to import). */
  constructor(private readonly label: string) {}

  /** Reads `chunk`; returns what may go on to psql. Throws DumpRefusedError. */
  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'copy') {
        pos = this.copyData(chunk, pos, out);
        continue;
      }
      const nl = chunk.indexOf(NL, pos);
      if (nl < 0) {
        this.hold(chunk.subarray(pos));
        break;
      }
      const line = this.take(chunk.subarray(pos, nl + 1));
      this.sqlLine(line);
      out.push(line);
      pos = nl + 1;
    }
    return out;
  }

  /**
   * The line of the `COPY ... FROM stdin;` header whose data holds `line` (or ends at it: psql
   * names the `\.` line for an error in the data), among the latest blocks read; row N of the
   * block is line header + N. Undefined when `line` is in no COPY block the guard remembers.
   */
  copyHeaderOf(line: number): number | undefined {
    for (let i = this.copyBlocks.length - 1; i >= 0; i--) {
      const block = this.copyBlocks[i]!;
      if (block.header < line && (block.end === undefined || line <= block.end)) return block.header;
      if (block.header < line) return undefined;
    }
    return undefined;
  }

  /** The end of the script: judges what is held and the whole; returns the rest to pass on. */
  finish(): Buffer[] {
    const rest = this.take(Buffer.alloc(0));
    if (rest.length > 0) {
      if (this.state === 'copy') {
        // Data that ends without its \. line: psql ends the COPY at the end of its input.
      } else {
        this.sqlLine(rest);
      }
    }
    if (!this.headerSeen) this.refuse(`it does not start with "${CLUSTER_HEADER}"`, 1);
    return rest.length > 0 ? [rest] : [];
  }

  private hold(bytes: Buffer): void {
    this.pendingSize += bytes.length;
    if (this.state !== 'copy' && this.pendingSize > MAX_SQL_LINE) this.refuse(`a line of more than ${MAX_SQL_LINE} bytes outside COPY data`);
    this.pending.push(Buffer.from(bytes));
  }

  /** The held bytes followed by `bytes`, as one buffer; the hold is emptied. */
  private take(bytes: Buffer): Buffer {
    if (this.pending.length === 0) return bytes;
    const all = Buffer.concat([...this.pending, bytes]);
    this.pending = [];
    this.pendingSize = 0;
    return all;
  }

  /** COPY data: lines pass as they are until the `\.` line; returns where it stopped. */
  private copyData(chunk: Buffer, start: number, out: Buffer[]): number {
    let pos = start;
    let run = start; // data lines pass on as one slice
    // Text COPY data cannot hold NUL, and psql would cut the line there (and lose its line end).
    const nul = chunk.indexOf(0, start);
    while (pos < chunk.length) {
      if (this.atCopyLineStart && (chunk[pos] === BACKSLASH || this.pendingSize > 0)) {
        // Is this line the end marker? Up to 4 bytes decide (`\.\n`, `\.\r\n`), some held from before.
        if (pos > run) out.push(chunk.subarray(run, pos));
        const held = this.pendingSize;
        const fromChunk = Math.min(4 - held, chunk.length - pos);
        const head = Buffer.from(this.take(chunk.subarray(pos, pos + fromChunk)));
        const verdict = endMarker(head);
        if (verdict === 'maybe') {
          this.pending = [head];
          this.pendingSize = head.length;
          return chunk.length;
        }
        if (verdict !== 'no') {
          out.push(head.subarray(0, verdict));
          this.copyBlocks[this.copyBlocks.length - 1]!.end = this.line;
          this.line++;
          this.state = 'sql';
          return pos + verdict - held;
        }
        if (held > 0) out.push(head.subarray(0, held));
        run = pos;
      }
      const nl = chunk.indexOf(NL, pos);
      if (nul >= pos && (nl < 0 || nul < nl)) this.refuse('a NUL byte in COPY data');
      if (nl < 0) {
        this.atCopyLineStart = false;
        pos = chunk.length;
        break;
      }
      pos = nl + 1;
      this.line++;
      this.atCopyLineStart = true;
    }
    if (pos > run) out.push(chunk.subarray(run, pos));
    return pos;
  }

  /** Lexes one line outside COPY data (with its line end, when it has one). */
  private sqlLine(raw: Buffer): void {
    if (raw.includes(0)) this.refuse('a NUL byte');
    const line = this.encodingLength ? mask(raw, this.encodingLength) : raw;
    if (this.line <= HEADER_LINES && !this.headerSeen) {
      const text = line.toString('latin1').replace(/^\u00ef\u00bb\u00bf/, '').replace(/\r?\n$/, '');
      if (text === CLUSTER_HEADER) this.headerSeen = true;
      else if (this.line === HEADER_LINES) this.refuse(`it does not start with "${CLUSTER_HEADER}"`);
    }
    const end = raw[raw.length - 1] === NL ? raw.length - 1 : raw.length;
    // A UTF-8 byte order mark before the first line (a dump saved by an editor) is not SQL.
    let i = this.line === 1 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
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
            this.refuse("a '...' string literal with a backslash before its closing quote: where it ends depends on standard_conforming_strings, and pg_dump never writes it so");
          }
          i = q + 1;
          if (line[i] === QUOTE) i++; // '' inside the literal
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
        case 'copy':
          i = end;
          break;
      }
    }
    this.addStatement(' ');
    if (end < raw.length) this.line++;
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
      return this.state === 'copy' ? end : i + 1;
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
    if (['create', 'function', 'procedure', 'or', 'replace'].includes(lower) && this.identifiers < 4) this.keyLetters[this.identifiers] = lower[0]!;
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

  /** A statement ended (its `;` at `from - 1`): the checks made on whole statements. */
  private endStatement(line: Buffer, from: number, end: number): void {
    const text = this.statement.replace(/\s+/g, ' ').trim();
    this.statement = '';
    this.statementEmpty = true;
    this.identifiers = 0;
    this.parenDepth = 0;
    this.beginDepth = 0;
    if (/^COPY\b/i.test(text)) {
      if (!COPY_FROM_STDIN.test(text)) this.refuse('a COPY that is not "COPY <table> FROM stdin": it reads or writes files, or runs a program, on the database server');
      const rest = line.toString('latin1', from, end);
      if (rest.trim() !== '') this.refuse('text after "COPY ... FROM stdin;" on its line (psql would run it once the data ends)');
      this.state = 'copy';
      this.atCopyLineStart = true;
      // psql may be this far behind the guard when it stops: the latest blocks are enough.
      if (this.copyBlocks.length >= MAX_COPY_BLOCKS) this.copyBlocks.shift();
      this.copyBlocks.push({ header: this.line, end: undefined });
      return;
    }
    if (/\blo_(?:import|export)\s*\(/i.test(text)) this.refuse('lo_import/lo_export, which read or write files on the database server');
    if (/^ALTER SYSTEM\b/i.test(text)) this.refuse('ALTER SYSTEM, which changes the server configuration (it can run programs)');
    if (/^SET (?:SESSION )?client_encoding ?(?:=|TO) ?'' ?;$/i.test(text) || /^SET NAMES ?'' ?;$/i.test(text)) {
      // psql masks the bytes of multibyte characters in some client encodings: so must we.
      this.encodingLength = UNSAFE_ENCODINGS[(this.lastLiteral ?? '').toLowerCase().replace(/[^a-z0-9]/g, '')];
    }
  }

  /** A backslash outside literals: one of the meta-commands pg_dumpall writes, at the start of its line, or refused. */
  private metaCommand(line: Buffer, i: number, end: number): number {
    const text = line.toString('latin1', i, end).replace(/\r$/, '');
    const name = /^\\([A-Za-z_]+|.)/.exec(text)?.[1] ?? '';
    if (i === 0 && this.statementEmpty) {
      const connect = /^\\(?:connect|c)\s+(.*?)\s*$/.exec(text);
      if (connect) {
        const problem = connectProblem(connect[1]!);
        if (problem) this.refuse(`"\\connect" ${problem}`);
        this.encodingLength = undefined; // a new session: the dump sets its encoding next
        return end;
      }
      if (/^\\(?:un)?restrict [A-Za-z0-9]+\s*$/.test(text)) return end;
      if (/^\\encoding SQL_ASCII\s*$/.test(text)) {
        this.encodingLength = undefined;
        return end;
      }
    }
    const what = META_COMMANDS[name] ?? (name === '.' ? 'ends COPY data, outside COPY data' : 'is a psql meta-command');
    this.refuse(`"\\${name}" ${what}${i === 0 ? '' : ' (psql runs it even in the middle of a line)'}; only \\connect, \\restrict and \\unrestrict are accepted, as pg_dumpall writes them`);
  }

  private refuse(reason: string, line = this.line): never {
    throw new DumpRefusedError(line, reason, this.label);
  }
}

/** What is wrong with the argument of a `\connect` line, or undefined when pg_dumpall could have written it. */
function connectProblem(argument: string): string | undefined {
  let database: string;
  const reuse = /^-reuse-previous=on\s+"((?:[^"]|"")*)"$/.exec(argument);
  if (reuse) {
    const conninfo = reuse[1]!.replaceAll('""', '"');
    if (!/^dbname=(?:'(?:[^'\\]|\\.)*'|[^\s'\\]+)$/.test(conninfo)) return 'names more than a database (host, port, user or options)';
    return undefined;
  }
  if (argument === '-') return undefined;
  const quoted = /^"((?:[^"]|"")*)"$/.exec(argument);
  if (quoted) database = quoted[1]!.replaceAll('""', '"');
  else if (/^[^\s"'\\]+$/.test(argument)) database = argument;
  else return 'has more than one argument, or an argument psql would read otherwise';
  if (database.includes('=') || /^postgres(?:ql)?:\/\//.test(database)) return 'names a connection string, not a database';
  return undefined;
}

/** The COPY end marker at the start of a line: its length with the line end, 'no', or 'maybe' (too short to say). */
function endMarker(head: Buffer): number | 'no' | 'maybe' {
  const expect = [BACKSLASH, 0x2e];
  for (let k = 0; k < head.length && k < 2; k++) if (head[k] !== expect[k]) return 'no';
  if (head.length < 3) return 'maybe';
  if (head[2] === NL) return 3;
  if (head[2] !== CR) return 'no';
  if (head.length < 4) return 'maybe';
  return head[3] === NL ? 4 : 'no';
}

/** psql's masking of the trailing bytes of multibyte characters in an unsafe client encoding. */
function mask(line: Buffer, length: (bytes: Buffer, at: number) => number): Buffer {
  const out = Buffer.from(line);
  const end = out[out.length - 1] === NL ? out.length - 1 : out.length;
  for (let i = 0; i < end; ) {
    const n = length(out, i);
    i++;
    for (let k = 1; k < n && i < end; k++) out[i++] = 0xff;
  }
  return out;
}

function sjisLength(bytes: Buffer, at: number): number {
  const c = bytes[at]!;
  return c >= 0xa1 && c <= 0xdf ? 1 : c >= 0x80 ? 2 : 1;
}

function twoByteLength(bytes: Buffer, at: number): number {
  return bytes[at]! >= 0x80 ? 2 : 1;
}

function gb18030Length(bytes: Buffer, at: number): number {
  if (bytes[at]! < 0x80) return 1;
  const next = bytes[at + 1];
  return next !== undefined && next >= 0x30 && next <= 0x39 ? 4 : 2;
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

/** The guard between the archive and psql: passes only judged lines on, fails the stream on a refusal. */
export class DumpGuard extends Transform {
  readonly scanner: DumpGuardScanner;

  constructor(label: string) {
    super();
    this.scanner = new DumpGuardScanner(label);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      for (const piece of this.scanner.feed(chunk)) this.push(piece);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      for (const piece of this.scanner.finish()) this.push(piece);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

/**
 * The guard as the end of a pipeline (verify reads the dump to measure and judge it): the first
 * refusal is kept in `refusal`, and the rest of the dump is still read, so the other checks
 * (size, SHA-256, trailer) are made too.
 */
export function dumpGuardSink(label: string): Writable & { refusal: DumpRefusedError | undefined } {
  const scanner = new DumpGuardScanner(label);
  let refusal: DumpRefusedError | undefined;
  const judge = (step: () => void) => {
    if (refusal) return;
    try {
      step();
    } catch (error) {
      if (!(error instanceof DumpRefusedError)) throw error;
      refusal = error;
    }
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      judge(() => scanner.feed(chunk));
      callback();
    },
    final(callback) {
      judge(() => scanner.finish());
      callback();
    },
  });
  return Object.defineProperty(sink, 'refusal', { get: () => refusal }) as Writable & { refusal: DumpRefusedError | undefined };
}
