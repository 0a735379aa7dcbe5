import type { Readable } from 'node:stream';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { JobFailedError } from '../errors.js';
import { childEnv, type PgSettings } from './connection.js';
import type { PgTool } from './tools.js';

/** pg_dumpall's flags for this tool version: `-o` (table OIDs) while it exists, `-w` once it does. */
export function dumpallArgs(tool: PgTool, exclude: readonly string[] = []): string[] {
  const args: string[] = [];
  // -o was removed in PostgreSQL 12; the install guide's procedure passes it (8.2 era, docs/cupm.md).
  if (tool.version.num < 120000) args.push('-o');
  // -w (never prompt) exists from 8.4; older tools get the password from the environment anyway.
  if (tool.version.num >= 80400) args.push('-w');
  // --exclude-database takes a pattern: the name in double quotes matches exactly that name.
  if (canExcludeDatabases(tool)) for (const name of exclude) args.push(`--exclude-database="${name.replaceAll('"', '""')}"`);
  return args;
}

/** pg_dumpall can leave databases out from PostgreSQL 12 (--exclude-database). */
export function canExcludeDatabases(tool: PgTool): boolean {
  return tool.version.num >= 120000;
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
 * stdout, or with `outputFd` pg_dumpall writes straight into that open file (the backup's spool:
 * at its own speed, no pipe through this process); nothing is buffered here but stderr (kept
 * for the error message).
 */
export function startDumpall(
  tool: PgTool,
  config: PgSettings,
  options: { outputFd?: number; exclude?: readonly string[] } = {},
): DumpallProcess {
  const spawnOptions = {
    env: childEnv(config),
    // Its own process group on POSIX: pg_dumpall runs pg_dump children, and a cancel must end
    // them too (and a Ctrl-C on the terminal is ours to handle, not theirs).
    detached: process.platform !== 'win32',
  };
  if (options.outputFd !== undefined) return startToFile(tool, spawnOptions, options.outputFd, options.exclude);
  const child = execa(tool.path, dumpallArgs(tool, options.exclude), {
    ...spawnOptions,
    stdin: 'ignore',
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: STDERR_KEPT },
    reject: false,
  });
  const finished = child.then((result) => checkExit(result.exitCode, result.signal, String(result.stderr ?? '')));
  // The caller awaits `finished` after the stream; keep an early failure from being "unhandled".
  finished.catch(() => {});
  return {
    stdout: child.stdout,
    finished,
    pid: child.pid,
    kill: () => {
      killGroup(child.pid, () => child.kill('SIGTERM'));
      // Closing our end makes any writer left over fail with EPIPE instead of running on.
      child.stdout.destroy();
    },
  };
}

/** stderr kept for the error message. */
const STDERR_KEPT = 1024 * 1024;

/**
 * pg_dumpall with its stdout on `fd`. Node's own spawn: execa pipes every stdout through this
 * process, even one given as a file descriptor, which would tie the dump's speed to ours.
 */
function startToFile(
  tool: PgTool,
  spawnOptions: { env: Record<string, string>; detached: boolean },
  fd: number,
  exclude: readonly string[] = [],
): DumpallProcess {
  const child = spawn(tool.path, dumpallArgs(tool, exclude), { ...spawnOptions, stdio: ['ignore', fd, 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < STDERR_KEPT) stderr += text;
  });
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new JobFailedError(`pg_dumpall could not be started: ${error.message}.`)));
    child.once('close', (code, signal) => {
      try {
        checkExit(code, signal ?? undefined, stderr);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  });
  finished.catch(() => {});
  return { stdout: undefined, finished, pid: child.pid, kill: () => killGroup(child.pid, () => child.kill('SIGTERM')) };
}

function checkExit(exitCode: number | null | undefined, signal: string | undefined | null, stderr: string): void {
  if (exitCode === 0 && !signal) return;
  const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
  const text = stderr.trim();
  throw new JobFailedError(`pg_dumpall ${how}${text ? `: ${text}` : '.'}`);
}

/** SIGTERM to the process group (pg_dumpall and its pg_dump children); the process alone on Windows. */
function killGroup(pid: number | undefined, fallback: () => void): void {
  try {
    if (process.platform !== 'win32' && pid) process.kill(-pid, 'SIGTERM');
    else fallback();
  } catch {
    fallback();
  }
}

/** Writes `pg_dumpall --roles-only` (--globals-only before 8.3) of the target to `file`, mode 0600. */
export async function dumpRoles(tool: PgTool, config: PgSettings, file: string): Promise<void> {
  const child = execa(tool.path, [tool.version.num >= 80300 ? '--roles-only' : '--globals-only'], {
    env: childEnv(config),
    stdin: 'ignore',
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 1024 * 1024 },
    reject: false,
  });
  await pipeline(child.stdout, fs.createWriteStream(file, { mode: 0o600, flags: 'w' }));
  const result = await child;
  if (result.exitCode !== 0) {
    throw new JobFailedError(`pg_dumpall --roles-only exited with code ${result.exitCode}: ${String(result.stderr).trim()}`);
  }
}
