import { ArchiveInvalidError } from '../../../errors.js';
import { connectArgument, COPY_FROM_STDIN } from '../syntax.js';

/**
 * The guard's allow-list: of the psql meta-commands and SQL statements the lexer (lexer.ts) finds,
 * what pg_dumpall writes and so may reach psql:
 *  - `\connect <database>` (bare, "quoted", or `-reuse-previous=on "dbname='...'"`), at the start
 *    of a line: the same server, the same user;
 *  - `\restrict KEY` / `\unrestrict KEY` (PostgreSQL 17.6+), `\encoding SQL_ASCII`;
 *  - `COPY <table> [(columns)] [WITH OIDS] FROM stdin;` (syntax.ts) and its data.
 * Any other meta-command is refused, and so are COPY to/from files or programs,
 * lo_import/lo_export and ALTER SYSTEM.
 */

/** A dump the guard refuses: a usage of psql or SQL that pg_dumpall never writes (exit 3). */
export class DumpRefusedError extends ArchiveInvalidError {
  constructor(
    readonly line: number,
    reason: string,
    label: string,
  ) {
    super(`${label} is not a pg_dumpall script psql may run: line ${line}: ${reason}.`, {
      hint: 'do not restore from this archive; it was altered, or was not made by pg_dumpall (cupm-backup list shows the others)',
    });
  }
}

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

/** A meta-command accepted (what it does to the session), or the reason it is refused. */
export type MetaCommandVerdict = { accepted: 'connect' | 'restrict' | 'encoding' } | { refused: string };

/**
 * Judges a backslash outside literals: `text` runs from it to the end of its line (line end not
 * included); `alone` is true when it starts its line and no statement is under way.
 */
export function judgeMetaCommand(text: string, alone: boolean, atLineStart: boolean): MetaCommandVerdict {
  if (alone) {
    const argument = connectArgument(text);
    if (argument !== undefined) {
      const problem = connectProblem(argument);
      return problem ? { refused: `"\\connect" ${problem}` } : { accepted: 'connect' };
    }
    if (/^\\(?:un)?restrict [A-Za-z0-9]+\s*$/.test(text)) return { accepted: 'restrict' };
    if (/^\\encoding SQL_ASCII\s*$/.test(text)) return { accepted: 'encoding' };
  }
  const name = /^\\([A-Za-z_]+|.)/.exec(text)?.[1] ?? '';
  const what = META_COMMANDS[name] ?? (name === '.' ? 'ends COPY data, outside COPY data' : 'is a psql meta-command');
  return {
    refused: `"\\${name}" ${what}${atLineStart ? '' : ' (psql runs it even in the middle of a line)'}; only \\connect, \\restrict and \\unrestrict are accepted, as pg_dumpall writes them`,
  };
}

/** A whole statement (its head, literals blanked, spaces folded) judged: COPY data follows, it sets the client encoding, it passes, or the reason it is refused. */
export type StatementVerdict = 'copy' | 'client-encoding' | 'pass' | { refused: string };

export function judgeStatement(text: string): StatementVerdict {
  if (/^COPY\b/i.test(text)) {
    return COPY_FROM_STDIN.test(text)
      ? 'copy'
      : { refused: 'a COPY that is not "COPY <table> FROM stdin": it reads or writes files, or runs a program, on the database server' };
  }
  if (/\blo_(?:import|export)\s*\(/i.test(text))
    return { refused: 'lo_import/lo_export, which read or write files on the database server' };
  if (/^ALTER SYSTEM\b/i.test(text)) return { refused: 'ALTER SYSTEM, which changes the server configuration (it can run programs)' };
  if (/^SET (?:SESSION )?client_encoding ?(?:=|TO) ?'' ?;$/i.test(text) || /^SET NAMES ?'' ?;$/i.test(text)) return 'client-encoding';
  return 'pass';
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
