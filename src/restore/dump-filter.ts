import { Transform, type TransformCallback } from 'node:stream';
import { DumpLineEditor, type DumpLine, type LineJudge, type LineVerdict } from '../pg/dump/line-reader.js';
import {
  BUILTIN_DATABASES,
  DATABASE_DUMP_END,
  IDENTIFIER,
  alteredRole,
  connectTarget,
  createdRole,
  unquoteIdentifier,
  withoutPassword,
} from '../pg/dump/syntax.js';

export interface DumpFilterOptions {
  /** Roles that exist on the target: their `CREATE ROLE x;` lines are blanked (their ALTER ROLE follows). */
  existingRoles: ReadonlySet<string>;
  /** The admin role the tool connects as: the PASSWORD clause of its ALTER ROLE is taken out. */
  adminRole: string;
  /** Blank `\restrict` / `\unrestrict` lines, for a psql too old to know them. */
  dropRestrict?: boolean;
  /** Leave out what the dump puts into the built-in databases postgres and template1 (default true). */
  skipBuiltinContents?: boolean;
  /**
   * A live restore: each database named here is created and filled under the name it maps to
   * (`CREATE`/`ALTER`/`COMMENT ON DATABASE`, `GRANT`/`REVOKE ... ON DATABASE` and `\connect`).
   */
  renameDatabases?: ReadonlyMap<string, string>;
  /**
   * A live restore: the `ALTER ROLE x WITH ...` of these roles (the ones that exist, which running
   * sessions log in as) is held back, blanked and kept in `heldRoles`, to be applied in the outage.
   */
  holdRoleAlters?: ReadonlySet<string>;
}

/** A part of the dump that was left out: the contents of a built-in database. */
export interface SkippedSection {
  database: string;
  /** Line numbers in the dump (1-based, inclusive). */
  firstLine: number;
  lastLine: number;
  /** How many SQL statements (other than SET) it held, and the first of them. */
  statements: number;
  example: string | undefined;
}

/** Longest line examined in full (line end counted); only short lines (roles, \connect, COPY headers) need it. */
const MAX_EXAMINED = 1024 * 1024;
/** Bytes needed to classify a line by its start. */
const HEAD = DATABASE_DUMP_END.length;
const BACKSLASH = 0x5c;
const DASH = 0x2d;
const UPPER_A = 0x41;
const UPPER_C = 0x43;
const UPPER_G = 0x47;
const UPPER_R = 0x52;
const UPPER_Z = 0x5a;

/**
 * The stream between the archive and psql. It changes a pg_dumpall script in exactly these ways,
 * each line replaced by a line (never removed), so psql's line numbers are the dump's:
 *  - `CREATE ROLE x;` of a role that exists on the target is blanked (its `ALTER ROLE x WITH ...`
 *    follows and sets everything), the one error a pg_dumpall restore otherwise always has;
 *  - the PASSWORD clause of the admin role's ALTER ROLE is taken out, so the credentials the tool
 *    (and the administrator) use keep working; the hash is kept in `adminPassword`;
 *  - the contents of the built-in databases postgres and template1 are blanked: the restore
 *    replaces databases by renaming them aside, which it cannot do for those, and whatever the
 *    dump put there could be neither undone nor loaded over the target's own (plpgsql in
 *    template1 on 8.2 is the classic); they are reported in `skipped`;
 *  - `\restrict` lines are blanked when the psql in use predates them.
 * Everything else passes byte for byte. The lines are read by the dump's line reader
 * (DumpLineEditor, pg/dump/line-reader.ts), which passes COPY data on as slices of the chunks it
 * came in; only line starts are looked at, and only short lines are held, so memory stays flat
 * whatever the dump's size.
 */
export class DumpFilter extends Transform {
  /** Roles whose CREATE ROLE was blanked. */
  readonly rolesKept: string[] = [];
  /** The password (hash) the dump set for the admin role; undefined when it set none. */
  adminPassword: string | undefined;
  readonly skipped: SkippedSection[] = [];
  /** The held-back `ALTER ROLE ... WITH ...` statements (holdRoleAlters), admin password taken out. */
  readonly heldRoles: string[] = [];
  private inGlobals = true;
  private seenRole = false;
  private skipping: SkippedSection | undefined;
  private readonly skipBuiltins: boolean;
  private readonly reader: DumpLineEditor;

  constructor(private readonly options: DumpFilterOptions) {
    super();
    this.skipBuiltins = options.skipBuiltinContents ?? true;
    const judge: LineJudge = {
      head: (source, start, stop, inCopy) => this.classify(source, start, stop, inCopy),
      whole: (bytes, kind, text, end) => this.examine(bytes, kind, text, end),
    };
    this.reader = new DumpLineEditor(judge, { headLength: HEAD, maxLine: MAX_EXAMINED });
  }

  /** Lines seen so far (the number of the line being read). */
  get lines(): number {
    return this.reader.number;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pushAll(this.reader.feed(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.pushAll(this.reader.finish());
    if (this.skipping) this.closeSkipped();
    callback();
  }

  private pushAll(out: Buffer[]): void {
    if (out.length === 1) this.push(out[0]);
    else if (out.length > 1) this.push(Buffer.concat(out));
  }

  /** Decides from a line's first bytes whether it passes, is blanked, or must be read whole. */
  private classify(source: Buffer, start: number, stop: number, inCopy: boolean): LineVerdict {
    // Data lines pass untouched (the reader looks at the `\.` that ends the block).
    if (inCopy) return this.skipping ? 'blank' : 'pass';
    const first = source[start];
    if (first === BACKSLASH) return 'whole';
    if (this.skipping) {
      if (first === DASH && source.toString('latin1', start, stop).startsWith(DATABASE_DUMP_END)) return 'whole';
      if (first !== undefined && first >= UPPER_A && first <= UPPER_Z) this.countSkipped(source.toString('latin1', start, stop));
      return 'blank';
    }
    if (this.options.renameDatabases && (first === UPPER_A || first === UPPER_C || first === UPPER_G || first === UPPER_R)) {
      if (DATABASE_STATEMENT_HEAD.test(source.toString('latin1', start, stop))) return 'whole';
    }
    // Fast path for the bulk of a dump: only the roles' lines matter (COPY lines are the reader's).
    if (!this.inGlobals || (first !== UPPER_C && first !== UPPER_A)) return 'pass';
    const text = source.toString('latin1', start, stop);
    return text.startsWith('CREATE ROLE ') || text.startsWith('ALTER ROLE ') ? 'whole' : 'pass';
  }

  /** A line read whole -> what psql gets instead (the same line, or one line in its place). */
  private examine(bytes: Buffer, kind: DumpLine['kind'], line: string, eol: DumpLine['end']): Buffer {
    const blank = eol === '' ? NOTHING : eol === '\n' ? LF : CRLF;
    if (kind === 'copy-data' || kind === 'copy-end') return this.skipping ? blank : bytes;
    if (line.startsWith('\\')) return this.metaCommand(line, bytes, blank);
    if (this.skipping) {
      if (line === DATABASE_DUMP_END) {
        this.closeSkipped();
        return bytes;
      }
      this.countSkipped(line);
      return blank;
    }
    const renamed = this.renameDatabase(line);
    if (renamed !== undefined) return Buffer.from(renamed + eol, 'latin1');
    if (!this.inGlobals) return bytes;
    const created = createdRole(line);
    if (created !== undefined) {
      this.seenRole = true;
      if (this.options.existingRoles.has(created)) {
        this.rolesKept.push(created);
        return blank;
      }
      return bytes;
    }
    const altered = alteredRole(line);
    if (!altered) return bytes;
    let kept = line;
    if (altered.role === this.options.adminRole) {
      const { line: without, password } = withoutPassword(line);
      if (password !== undefined) {
        this.adminPassword = password;
        kept = without;
      }
    }
    if (this.options.holdRoleAlters?.has(altered.role)) {
      this.heldRoles.push(kept);
      return blank;
    }
    return kept === line ? bytes : Buffer.from(kept + eol, 'latin1');
  }

  private metaCommand(line: string, bytes: Buffer, blank: Buffer): Buffer {
    const target = connectTarget(line);
    if (target !== undefined) {
      // The globals (roles, and on 8.x the CREATE DATABASE lines) end where the first database's
      // contents begin: the first \connect after the roles. 8.x dumps also \connect first of all.
      if (this.inGlobals && this.seenRole) this.inGlobals = false;
      if (this.skipping) this.closeSkipped(this.lines - 1);
      if (!this.inGlobals && this.skipBuiltins && BUILTIN_DATABASES.includes(target)) {
        this.skipping = { database: target, firstLine: this.lines, lastLine: this.lines, statements: 0, example: undefined };
      }
      const renamed = this.options.renameDatabases?.get(target);
      // The line end stays as it was (CRLF dumps keep CRLF).
      if (renamed !== undefined)
        return Buffer.from(`\\connect ${quoteIdentifier(renamed)}${bytes.toString('latin1').slice(line.length)}`, 'latin1');
      return bytes;
    }
    if (/^\\(?:un)?restrict\b/.test(line)) return this.options.dropRestrict ? blank : bytes;
    return this.skipping ? blank : bytes;
  }

  /** A statement naming a database to rename (renameDatabases), rewritten; undefined for any other line. */
  private renameDatabase(line: string): string | undefined {
    const renames = this.options.renameDatabases;
    if (!renames) return undefined;
    const match = DATABASE_STATEMENT.exec(line);
    if (!match) return undefined;
    const renamed = renames.get(unquoteIdentifier(match[2]!));
    return renamed === undefined ? undefined : match[1]! + quoteIdentifier(renamed) + match[3]!;
  }

  private countSkipped(text: string): void {
    const section = this.skipping!;
    // Statements start with a keyword in column 0; SET lines and comments are pg_dump's preamble.
    if (!/^[A-Z]/.test(text) || /^(?:SET |SELECT pg_catalog\.set_config)/.test(text)) return;
    section.statements++;
    section.example ??= text.replace(/\r?\n$/, '').slice(0, 80);
  }

  private closeSkipped(lastLine = this.lines): void {
    const section = this.skipping!;
    section.lastLine = lastLine;
    this.skipped.push(section);
    this.skipping = undefined;
  }
}

/** The start of a line that may name a database (examined only when databases are renamed). */
const DATABASE_STATEMENT_HEAD = /^(?:CREATE DATABASE |ALTER DATABASE |ALTER ROLE |COMMENT ON DATABASE |GRANT |REVOKE )/;
const DATABASE_STATEMENT = new RegExp(
  `^(CREATE DATABASE |ALTER DATABASE |ALTER ROLE ${IDENTIFIER} IN DATABASE |COMMENT ON DATABASE |(?:GRANT|REVOKE) .*? ON DATABASE )(${IDENTIFIER})(.*)$`,
);

/** A name as an SQL identifier, "quoted", its UTF-8 bytes as latin1 characters (how lines are handled). */
function quoteIdentifier(name: string): string {
  return Buffer.from(`"${name.replaceAll('"', '""')}"`, 'utf8').toString('latin1');
}

const NOTHING = Buffer.alloc(0);
const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');
