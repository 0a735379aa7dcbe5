import fs from 'node:fs';
import type { Readable } from 'node:stream';
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

/** A running pg_dumpall whose script is read from `stdout`. */
export interface DumpallProcess {
  stdout: Readable;
  /** Settles when the process ended: rejects with the exit code, signal and stderr when it failed. */
  finished: Promise<void>;
  pid: number | undefined;
  kill(): void;
}

/**
 * Starts pg_dumpall with the connection in its environment (never in argv). The caller streams
 * stdout; nothing is buffered here but stderr (kept for the error message).
 */
export function startDumpall(tool: PgTool, config: PgSettings, exclude: readonly string[] = []): DumpallProcess {
  const child = execa(tool.path, dumpallArgs(tool, exclude), {
    env: childEnv(config),
    stdin: 'ignore',
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
    stdout: child.stdout,
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
      child.stdout.destroy();
    },
  };
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
