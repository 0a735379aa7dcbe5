import { spawn } from 'node:child_process';

/** How a shielded command ended. */
export interface ShieldedResult {
  /** The exit code, or undefined when it was killed or could not start. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** stdout and stderr as far as the command wrote them before it exited (at most `maxOutput` bytes). */
  output: string;
  timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES). */
  spawnError: string | undefined;
}

/**
 * Runs a command that must be allowed to finish (a service stop/start, an undo step) in a process
 * group of its own, so the terminal's Ctrl-C (sent to our whole foreground group) does not reach it.
 * It ends when the process exits, not when its output closes: a start script may leave a daemon
 * holding the pipe for good. After `timeoutMs` the command (only it, not a daemon it started) is
 * killed.
 */
export function runShielded(file: string, args: string[], options: { timeoutMs: number; maxOutput?: number }): Promise<ShieldedResult> {
  const maxOutput = options.maxOutput ?? 64 * 1024;
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer) => {
      if (output.length < maxOutput) output += chunk.toString('utf8').slice(0, maxOutput - output.length);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const finish = (result: Omit<ShieldedResult, 'output' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      clearTimeout(hardKillTimer);
      // A daemon the command started may hold these pipes open for good: stop reading them.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ...result, output: output.trim(), timedOut });
    };
    let hardKillTimer: NodeJS.Timeout | undefined;
    const killTimer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      hardKillTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    }, Math.max(1, options.timeoutMs));
    child.on('error', (error: NodeJS.ErrnoException) =>
      finish({ exitCode: undefined, signal: undefined, spawnError: error.code ?? error.message }),
    );
    child.on('exit', (code, signal) => finish({ exitCode: code ?? undefined, signal: signal ?? undefined, spawnError: undefined }));
  });
}
