import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { Config } from '../config/config.js';
import { JobFailedError } from '../errors.js';
import { childEnv } from './connection.js';
import type { PgTool } from './tools.js';

/** pg_dumpall's flags for this tool version: `-o` (table OIDs) while it exists, `-w` once it does. */
export function dumpallArgs(tool: PgTool): string[] {
  const args: string[] = [];
  // -o was removed in PostgreSQL 12; CUPM's seed procedure passes it (8.2 era).
  if (tool.version.num < 120000) args.push('-o');
  // -w (never prompt) exists from 8.4; older tools get the password from the environment anyway.
  if (tool.version.num >= 80400) args.push('-w');
  return args;
}

/** A running pg_dumpall whose script is read from `stdout` (or goes to the file it was given). */
export interface DumpallProcess {
  stdout: Readable | undefined;
  /** Settles when the process ended: rejects with the exit code, signal and stderr when it failed. */
  finished: Promise<void>;
  pid: number | undefined;
  kill(): void;
}

/**
 * Starts pg_dumpall with the connection in its environment (never in argv). The caller streams
 * stdout; nothing is buffered here but stderr (kept for the error message).
 */
export function startDumpall(tool: PgTool, config: Pick<Config, 'pg'>, options: { outputFile?: string } = {}): DumpallProcess {
  const child = execa(tool.path, dumpallArgs(tool), {
    env: childEnv(config),
    stdin: 'ignore',
    // A file (the backup's spool, created owner-only by the caller): pg_dumpall writes there at its own speed.
    ...(options.outputFile === undefined ? {} : { stdout: { file: options.outputFile, append: true } }),
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 1024 * 1024 },
    reject: false,
    // Its own process group on POSIX: pg_dumpall runs pg_dump children, and a cancel must end
    // them too (and a Ctrl-C on the terminal is ours to handle, not theirs).
    detached: process.platform !== 'win32',
  });
  const finished = child.then((result) => {
    if (result.exitCode === 0 && !result.signal) return;
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    const stderr = String(result.stderr ?? '').trim();
    throw new JobFailedError(`pg_dumpall ${how}${stderr ? `: ${stderr}` : '.'}`);
  });
  // The caller awaits `finished` after the stream; keep an early failure from being "unhandled".
  finished.catch(() => {});
  return {
    stdout: child.stdout ?? undefined,
    finished,
    pid: child.pid,
    kill: () => {
      try {
        if (process.platform !== 'win32' && child.pid) process.kill(-child.pid, 'SIGTERM');
        else child.kill('SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      // Closing our end makes any writer left over fail with EPIPE instead of running on.
      child.stdout?.destroy();
    },
  };
}
