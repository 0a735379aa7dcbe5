import os from 'node:os';
import { execa } from 'execa';
import { BIN } from './cli.js';

/** How the run is interrupted: kill -9 of the tool alone, or a terminal's Ctrl-C / a service manager's TERM. */
export type Interruption = 'SIGKILL' | 'SIGINT-group' | 'SIGTERM';

export interface KilledRun {
  /** The progress line that triggered the kill (undefined when the run ended before it appeared). */
  matched?: string;
  exitCode?: number;
  signal?: string;
  /** Everything the run printed on stderr before it ended. */
  stderr: string;
  stdout: string;
}

/**
 * A moment that is not a progress line: `when` resolves once the run has got there (a paused
 * psql, say) with the words for `matched`.
 */
export interface Moment {
  when: () => Promise<string>;
}

/**
 * Runs bin/cupm-backup with `args` and interrupts it the moment a progress line (stderr) matches
 * `at` (or a Moment comes): the crash tests' "kill at this step". The run gets a process group of
 * its own, as a terminal gives it, so 'SIGINT-group' reaches its children too, as Ctrl-C does.
 * Resolves when the run has ended; `matched` is undefined when it ended without printing the line
 * (a test asserts it).
 */
export async function killAt(
  args: string[],
  at: RegExp | Moment,
  how: Interruption,
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<KilledRun> {
  const child = execa(BIN, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...options.env },
    extendEnv: false,
    cwd: options.cwd ?? os.tmpdir(),
    reject: false,
    stdin: 'ignore',
    detached: true,
    buffer: true,
  });
  let seen = '';
  let matched: string | undefined;
  let ended = false;
  if (!(at instanceof RegExp)) {
    at.when().then(
      (what) => {
        if (ended || matched !== undefined) return;
        matched = what;
        interrupt(child.pid!, how);
      },
      () => undefined,
    );
  }
  child.stderr?.on('data', (chunk: Buffer) => {
    if (matched !== undefined || !(at instanceof RegExp)) return;
    seen += chunk.toString('utf8');
    const line = seen.split('\n').find((l) => at.test(l));
    if (line === undefined) return;
    matched = line;
    interrupt(child.pid!, how);
  });
  const result = await child;
  ended = true;
  return {
    matched,
    exitCode: result.exitCode ?? undefined,
    signal: result.signal ?? undefined,
    stderr: result.stderr ?? '',
    stdout: result.stdout ?? '',
  };
}

function interrupt(pid: number, how: Interruption): void {
  try {
    if (how === 'SIGINT-group') process.kill(-pid, 'SIGINT');
    else process.kill(pid, how);
  } catch {
    // Already gone: the result says how it ended.
  }
}
