import { Transform, type TransformCallback } from 'node:stream';
import {
  BUILTIN_DATABASES,
  DATABASE_DUMP_END,
  IDENTIFIER,
  alteredRole,
  connectTarget,
  createdRole,
  startsCopyData,
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

/** Longest line examined in full; only short lines (roles, \connect, COPY headers) need it. */
const MAX_EXAMINED = 1024 * 1024;
/** Bytes needed to classify a line by its start. */
const HEAD = DATABASE_DUMP_END.length;
const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const DASH = 0x2d;
const UPPER_A = 0x41;
const UPPER_C = 0x43;
const UPPER_G = 0x47;
const UPPER_R = 0x52;
const UPPER_Z = 0x5a;

type Kind = 'pass' | 'blank' | 'examine';
type Partial =
  | { kind: 'head'; parts: Buffer[]; size: number }
  | { kind: 'pass' }
  | { kind: 'blank'; last: number }
  | { kind: 'examine'; parts: Buffer[]; size: number };

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
 * Everything else passes byte for byte. Only line starts are looked at, and only short lines are
 * held, so memory stays flat whatever the dump's size.
 */
export class DumpFilter extends Transform {
  /** Roles whose CREATE ROLE was blanked. */
  readonly rolesKept: string[] = [];
  /** The password (hash) the dump set for the admin role; undefined when it set none. */
  adminPassword: string | undefined;
  readonly skipped: SkippedSection[] = [];
  /** The held-back `ALTER ROLE ... WITH ...` statements (holdRoleAlters), admin password taken out. */
  readonly heldRoles: string[] = [];
  /** Lines seen so far (the number of the line being read). */
  lines = 0;

  private inGlobals = true;
  private seenRole = false;
  private copyData = false;
  private skipping: SkippedSection | undefined;
  private partial: Partial | undefined;
  private readonly skipBuiltins: boolean;

  constructor(private readonly options: DumpFilterOptions) {
    super();
    this.skipBuiltins = options.skipBuiltinContents ?? true;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    let pos = 0;
    let runStart = -1;
    const endRun = (at: number) => {
      if (runStart >= 0 && at > runStart) out.push(chunk.subarray(runStart, at));
      runStart = -1;
    };
    while (this.partial && pos < chunk.length) pos = this.continueLine(chunk, pos, out);
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      const end = nl === -1 ? chunk.length : nl + 1;
      if (nl === -1 && end - pos < HEAD) {
        endRun(pos);
        this.partial = { kind: 'head', parts: [Buffer.from(chunk.subarray(pos))], size: end - pos };
        pos = end;
        break;
      }
      this.lines++;
      const kind = this.classify(chunk.subarray(pos, Math.min(end, pos + HEAD)));
      if (kind === 'pass') {
        if (runStart < 0) runStart = pos;
        if (nl === -1) this.partial = { kind: 'pass' };
      } else {
        endRun(pos);
        if (kind === 'blank') {
          if (nl === -1) this.partial = { kind: 'blank', last: chunk[end - 1]! };
          else out.push(lineEnd(nl > pos ? chunk[nl - 1]! : -1));
        } else if (nl === -1) {
          this.partial = { kind: 'examine', parts: [Buffer.from(chunk.subarray(pos))], size: end - pos };
        } else {
          out.push(this.examine(chunk.subarray(pos, end)));
        }
      }
      pos = end;
    }
    endRun(pos);
    if (out.length === 1) this.push(out[0]);
    else if (out.length > 1) this.push(Buffer.concat(out));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const partial = this.partial;
    this.partial = undefined;
    if (partial?.kind === 'head') {
      this.lines++;
      const line = Buffer.concat(partial.parts);
      const kind = this.classify(line);
      if (kind === 'pass') this.push(line);
      else if (kind === 'examine') this.push(this.examine(line));
    } else if (partial?.kind === 'examine') {
      this.push(this.examine(Buffer.concat(partial.parts)));
    }
    if (this.skipping) this.closeSkipped();
    callback();
  }

  /** Goes on with a line begun in an earlier chunk, from `start`; returns where it stopped. */
  private continueLine(chunk: Buffer, start: number, out: Buffer[]): number {
    const partial = this.partial!;
    const nl = chunk.indexOf(NL, start);
    const end = nl === -1 ? chunk.length : nl + 1;
    switch (partial.kind) {
      case 'pass':
        out.push(chunk.subarray(start, end));
        if (nl !== -1) this.partial = undefined;
        return end;
      case 'blank':
        if (nl === -1) partial.last = chunk[end - 1]!;
        else {
          out.push(lineEnd(nl > start ? chunk[nl - 1]! : partial.last));
          this.partial = undefined;
        }
        return end;
      case 'examine':
        if (nl === -1 && partial.size + end - start > MAX_EXAMINED) {
          // Too long to be a line we rewrite: pass what we held and the rest of the line.
          out.push(...partial.parts, chunk.subarray(start));
          this.partial = { kind: 'pass' };
          return end;
        }
        partial.parts.push(Buffer.from(chunk.subarray(start, end)));
        partial.size += end - start;
        if (nl !== -1) {
          out.push(this.examine(Buffer.concat(partial.parts)));
          this.partial = undefined;
        }
        return end;
      case 'head': {
        const take = nl === -1 ? Math.min(chunk.length, start + HEAD - partial.size) : end;
        const head = Buffer.concat([...partial.parts, chunk.subarray(start, take)]);
        if (nl === -1 && head.length < HEAD) {
          this.partial = { kind: 'head', parts: [head], size: head.length };
          return take;
        }
        // Enough to classify: the held bytes become the start of a line of that kind.
        this.lines++;
        const kind = this.classify(head.subarray(0, HEAD));
        if (nl === -1) {
          // The line goes on in this chunk (or the next): the caller continues it from `take`.
          if (kind === 'pass') out.push(head);
          this.partial =
            kind === 'pass'
              ? { kind: 'pass' }
              : kind === 'blank'
                ? { kind: 'blank', last: head[head.length - 1]! }
                : { kind: 'examine', parts: [head], size: head.length };
          return take;
        }
        if (kind === 'pass') out.push(head);
        else if (kind === 'blank') out.push(lineEnd(head.length > 1 ? head[head.length - 2]! : -1));
        else out.push(this.examine(head));
        this.partial = undefined;
        return take;
      }
    }
  }

  /** Decides from a line's first bytes whether it passes, is blanked, or must be read in full. */
  private classify(head: Buffer): Kind {
    const first = head[0];
    if (this.copyData) {
      // Data lines pass untouched; only the `\.` that ends the block is looked at.
      if (first === BACKSLASH && head[1] === DOT) return 'examine';
      return this.skipping ? 'blank' : 'pass';
    }
    if (first === BACKSLASH) return 'examine';
    if (this.skipping) {
      if (first === DASH || first === UPPER_C) {
        const text = head.toString('latin1');
        if (text.startsWith(DATABASE_DUMP_END) || text.startsWith('COPY ')) return 'examine';
      }
      if (first !== undefined && first >= UPPER_A && first <= UPPER_Z) this.countSkipped(head.toString('latin1'));
      return 'blank';
    }
    if (this.options.renameDatabases && (first === UPPER_A || first === UPPER_C || first === UPPER_G || first === UPPER_R)) {
      if (DATABASE_STATEMENT_HEAD.test(head.toString('latin1'))) return 'examine';
    }
    // Fast path for the bulk of a dump: only lines starting with C (or A in the roles) matter.
    if (first !== UPPER_C && !(this.inGlobals && first === UPPER_A)) return 'pass';
    const text = head.toString('latin1');
    if (this.inGlobals) return text.startsWith('CREATE ROLE ') || text.startsWith('ALTER ROLE ') ? 'examine' : 'pass';
    return text.startsWith('COPY ') ? 'examine' : 'pass';
  }

  /** Reads a whole line and returns what psql gets instead (the same line, or one line in its place). */
  private examine(bytes: Buffer): Buffer {
    const text = bytes.toString('latin1');
    const eol = text.endsWith('\r\n') ? '\r\n' : text.endsWith('\n') ? '\n' : '';
    const line = text.slice(0, text.length - eol.length);
    const blank = Buffer.from(eol, 'latin1');
    if (this.copyData) {
      if (line === '\\.') this.copyData = false;
      return this.skipping ? blank : bytes;
    }
    if (line.startsWith('\\')) return this.metaCommand(line, bytes, blank);
    if (this.skipping) {
      if (line === DATABASE_DUMP_END) {
        this.closeSkipped();
        return bytes;
      }
      this.countSkipped(line);
      if (startsCopyData(line)) this.copyData = true;
      return blank;
    }
    const renamed = this.renameDatabase(line);
    if (renamed !== undefined) return Buffer.from(renamed + eol, 'latin1');
    if (this.inGlobals) {
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
    if (startsCopyData(line)) this.copyData = true;
    return bytes;
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

/** The line end to emit for a blanked line: CRLF when the line had one. */
function lineEnd(byteBeforeNewline: number): Buffer {
  return byteBeforeNewline === CR ? CRLF : LF;
}
const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');
