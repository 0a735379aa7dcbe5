import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** bin/cupm-backup, run on the sources as they are now (CUPM_BACKUP_DEV=1: see test/support/bin/cupm-backup). */
export const BIN = path.join(REPO, 'test', 'support', 'bin', 'cupm-backup');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

/**
 * Runs ./bin/cupm-backup as a user would, with only the given settings in its environment
 * (plus PATH and HOME), in `cwd` (default: a place without a cupm-backup.env).
 */
export async function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  const result = await execa(BIN, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.env },
    extendEnv: false,
    cwd: options.cwd ?? '/tmp',
    reject: false,
    stdin: 'ignore',
  });
  return {
    exitCode: result.exitCode ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
    json<T>() {
      return JSON.parse(result.stdout) as T;
    },
  };
}
