import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import { JobFailedError } from '../errors.js';
import { childEnv, type PgSettings } from './connection.js';
import type { PgTool } from './tools.js';

/** How much of psql's stderr is kept for the error message: the end, where ON_ERROR_STOP stops. */
const STDERR_KEEP = 64 * 1024;

/** A SQL error psql reported, with the line of its input it was reading (psql -f - numbers lines). */
export interface PsqlError {
  line: number | undefined;
  /** "ERROR:  relation "x" does not exist" and the LINE/DETAIL/HINT lines that follow it. */
  message: string;
}

/** A running psql whose script is written to `stdin`. */
export interface PsqlProcess {
  stdin: Writable;
  /** What psql prints (query results, \echo), when started with stdout 'pipe'. */
  stdout: Readable | undefined;
  pid: number | undefined;
  /** Settles when psql ended: rejects with a PsqlFailedError naming the SQL error and its line. */
  finished: Promise<void>;
  kill(): void;
}

/** psql ended without success; `sqlError` is the first error it printed, when it printed one. */
export class PsqlFailedError extends JobFailedError {
  constructor(
    message: string,
    readonly sqlError: PsqlError | undefined,
    readonly stderrTail: string,
    /** The signal that ended psql (SIGKILL when the caller killed it), or undefined when it exited. */
    readonly signal: string | undefined,
  ) {
    super(message);
  }

  /** The same failure, its SQL error at `line` (a caller that fed psql other lines than the script's maps them back). */
  atLine(line: number | undefined): PsqlFailedError {
    return new PsqlFailedError(this.message, this.sqlError && { ...this.sqlError, line }, this.stderrTail, this.signal);
  }
}

/** psql's flags: no psqlrc, quiet, stop at the first error, read the script from stdin with line numbers. */
export function psqlArgs(tool: PgTool, database: string): string[] {
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database];
  // `-f -` (stdin, with "psql:<stdin>:LINE:" in messages) exists from psql 8.4; older ones read stdin plainly.
  if (tool.version.num >= 80400) args.push('-f', '-');
  return args;
}

/**
 * Starts psql on `database` with the connection and password in its environment (never in argv).
 * The caller streams the script into `stdin`; stdout (query results of setval() and friends) is
 * dropped unless asked for (the parallel load reads its markers there); only the end of stderr is
 * kept, so memory stays flat whatever the script's size.
 */
export function startPsql(tool: PgTool, config: PgSettings, database: string, options: { stdout?: 'pipe' } = {}): PsqlProcess {
  const child = execa(tool.path, psqlArgs(tool, database), {
    env: { ...childEnv(config), PGAPPNAME: 'cupm-backup restore' },
    stdin: 'pipe',
    stdout: options.stdout ?? 'ignore',
    stderr: 'pipe',
    buffer: false,
    reject: false,
  });
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_KEEP);
  });
  // psql stops reading when ON_ERROR_STOP hits: writes after that fail with EPIPE, which the
  // caller sees on its pipeline; the reason is in psql's exit, reported by `finished`.
  child.stdin.on('error', () => {});
  const finished = child.then((result) => {
    if (result.exitCode === 0 && !result.signal) return;
    const sqlError = firstSqlError(tail);
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    const detail = sqlError
      ? `${sqlError.line === undefined ? '' : `line ${sqlError.line}: `}${sqlError.message}`
      : tail.trim().split('\n').slice(-5).join('\n') || '(no message)';
    throw new PsqlFailedError(`psql ${how}: ${detail}`, sqlError, tail, result.signal ?? undefined);
  });
  finished.catch(() => {});
  return {
    stdin: child.stdin,
    stdout: child.stdout ?? undefined,
    pid: child.pid,
    finished,
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}

/** Runs a small script (a roles snapshot) through psql and waits for it; errors as startPsql's. */
export async function runPsqlScript(tool: PgTool, config: PgSettings, database: string, script: Buffer | string): Promise<void> {
  const psql = startPsql(tool, config, database);
  psql.stdin.end(script);
  await psql.finished;
}

const MESSAGE_LINE = /^(?:psql:[^\n]*?:(\d+): )?(ERROR|FATAL|PANIC|error|fatal):\s+(.*)$/;
const CONTEXT_LINE = /^(?:LINE \d+:|DETAIL:|HINT:|CONTEXT:|QUERY:|\s+\^|\s)/;

/** The first error in psql's stderr, with the input line it names and its context lines. */
export function firstSqlError(stderr: string): PsqlError | undefined {
  const lines = stderr.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    const match = MESSAGE_LINE.exec(line);
    if (!match) continue;
    const message = [`${match[2]!.toUpperCase()}:  ${match[3]!.trim()}`];
    for (const next of lines.slice(i + 1, i + 8)) {
      if (!CONTEXT_LINE.test(next) || next.trim() === '') break;
      message.push(next);
    }
    return { line: match[1] === undefined ? undefined : Number(match[1]), message: message.join('\n') };
  }
  return undefined;
}

/** "CONTEXT:  COPY order_history, line 1699485, column payload: ..." -> the row of the COPY data (1-based). */
export function copyRowOf(error: PsqlError): number | undefined {
  const match = /^CONTEXT:\s+COPY [^,\n]+, line (\d+)\b/m.exec(error.message);
  return match ? Number(match[1]) : undefined;
}
