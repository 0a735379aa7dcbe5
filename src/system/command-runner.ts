import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { ConfigError, JobFailedError, type CupmError } from '../errors.js';
import { decodeScOutput } from './windows-output.js';
import { quoteArg } from './windows-paths.js';

/** What one run of a program printed and how it ended. */
export interface CommandResult {
  exitCode: number;
  /** Decoded output (console code page on Windows: cp932 on Japanese servers). */
  stdout: string;
  stderr: string;
}

/** A run that ended without an exit status. */
export interface RunFailure {
  /** 'timed-out': it ran past `timeoutMs` and was stopped; 'not-run': it could not start, or a signal ended it. */
  kind: 'timed-out' | 'not-run';
  /** Why it could not start (ENOENT, EACCES ...). */
  code: string | undefined;
  /** The signal that ended it. */
  signal: string | undefined;
  /** The system's own words, when there is neither a code nor a signal. */
  message: string | undefined;
  timeoutMs: number;
  /** stdout and stderr as far as it wrote them, trimmed. */
  output: string;
}

export interface RunOptions {
  /** Kill the command after this long (default 2 minutes; uninstallers get longer). */
  timeoutMs?: number;
  /** Variables added to (or, when undefined, taken out of) the inherited environment: how secrets reach a child. */
  env?: Record<string, string | undefined>;
  /** What to do when the program is not installed (default: run on the CUPM Windows server). */
  notFoundHint?: string;
  /**
   * The most bytes of output kept (default 16 MiB; 64 KiB a stream for a shielded run). A plain run
   * that prints more fails; a shielded one is let finish and what it prints past this is
   * dropped: a caller that reads the output (sc.exe, reg.exe, net, systemctl) passes a limit far
   * above what the program prints.
   */
  maxOutputBytes?: number;
  /**
   * For a command that must be allowed to finish (a service stop/start, an undo step): it runs in
   * a process group of its own, so the terminal's Ctrl-C (sent to our whole foreground group) does
   * not reach it, and the run ends when the process exits, not when its output closes (a start
   * script may leave a daemon holding the pipe for good). At the timeout only the command is
   * killed, not a daemon it started. A run ended by a terminal's signal is run again (see
   * runShielded): a shielded command must be safe to run twice, as service commands are. Every
   * service driver runs its programs so (sc.exe, reg.exe, net rpc service, systemctl, the
   * CUPM_SERVICE_COMMAND_*).
   */
  shielded?: boolean;
  /** The error a run without an exit status throws; by default the runner's own words (not found, timed out, killed). */
  failure?: (failure: RunFailure) => CupmError;
}

/**
 * The one way programs are run outside the PostgreSQL tools: an argument array, never a shell
 * string. The drivers use `execaRunner`; tests use a recorded runner that answers with real
 * recorded outputs and keeps the exact commands in order.
 */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Runs the real programs (sc.exe, reg.exe, net.exe, uninstallers, Samba's net, service commands). */
export const execaRunner: CommandRunner = {
  async run(file, args, options = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const fail = (failure: Omit<RunFailure, 'timeoutMs'>) =>
      (options.failure ?? defaultFailure(file, args, options))({ ...failure, timeoutMs });
    if (options.shielded) {
      const result = await runShielded(file, [...args], { timeoutMs, maxOutput: options.maxOutputBytes, env: options.env });
      const { output } = result;
      if (result.timedOut) throw fail({ kind: 'timed-out', code: undefined, signal: result.signal, message: undefined, output });
      if (result.exitCode === undefined)
        throw fail({ kind: 'not-run', code: result.spawnError, signal: result.signal, message: undefined, output });
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    }
    const result = await execa(file, [...args], {
      reject: false,
      stdin: 'ignore',
      encoding: 'buffer',
      timeout: timeoutMs,
      maxBuffer: options.maxOutputBytes ?? 16 * 1024 * 1024,
      windowsHide: true,
      ...(options.env ? { env: options.env } : {}),
    });
    const stdout = decodeScOutput(result.stdout);
    const stderr = decodeScOutput(result.stderr);
    const output = `${stdout}\n${stderr}`.trim();
    if (result.timedOut) throw fail({ kind: 'timed-out', code: undefined, signal: result.signal, message: undefined, output });
    if (result.exitCode === undefined) {
      throw fail({ kind: 'not-run', code: result.code, signal: result.signal, message: result.originalMessage, output });
    }
    return { exitCode: result.exitCode, stdout, stderr };
  },
};

/** The runner's own words for a run without an exit status. */
function defaultFailure(file: string, args: readonly string[], options: RunOptions): (failure: RunFailure) => CupmError {
  return (failure) => {
    const line = commandLine(file, args);
    if (failure.kind === 'timed-out') {
      return new JobFailedError(`${line} did not finish within ${Math.round(failure.timeoutMs / 1000)} s and was stopped.`, {
        hint: 'see whether it waits for input in a window of its own; run it by hand to see why',
      });
    }
    if (failure.code === 'ENOENT') {
      return new ConfigError(`Could not run ${file}: not found.`, {
        hint:
          options.notFoundHint ?? 'run cupm-backup on the CUPM Windows server (reg.exe, net.exe and sc.exe are in C:\\Windows\\System32)',
      });
    }
    return new JobFailedError(`${line} could not be run (${failure.signal ?? failure.code ?? failure.message ?? 'unknown error'}).`);
  };
}

/** How a shielded command ended. */
export interface ShieldedResult {
  /** The exit code, or undefined when it was killed or could not start. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** Each stream as far as the command wrote it before it exited (at most `maxOutput` bytes each), decoded. */
  stdout: string;
  stderr: string;
  /** Both, in the order written, trimmed. */
  output: string;
  timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES). */
  spawnError: string | undefined;
}

/**
 * The signals a terminal sends to its whole foreground group (Ctrl-C, Ctrl-\, hang-up). One sent
 * at the instant a shielded command is forked reaches it before it leaves our group (it is
 * pending in the child until libuv unblocks signals just before exec, after setsid): the command
 * dies of it without having run. Measured: a third of the children spawned as the group gets
 * SIGINT (test/services/command.test.ts).
 */
const TERMINAL_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP']);

/**
 * The shielded run (RunOptions.shielded) itself: Node's spawn, since execa waits for the output
 * to close. A command ended by a terminal's signal was caught by our own Ctrl-C as it was forked
 * (nothing else sends those to a process group of its own): it is run again, within the same
 * timeout, a few times at most.
 */
export async function runShielded(
  file: string,
  args: string[],
  options: { timeoutMs: number; maxOutput?: number | undefined; env?: Record<string, string | undefined> | undefined },
): Promise<ShieldedResult> {
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const result = await runShieldedOnce(file, args, { ...options, timeoutMs: deadline - Date.now() });
    const caughtAtFork =
      result.exitCode === undefined && !result.timedOut && result.signal !== undefined && TERMINAL_SIGNALS.has(result.signal);
    if (!caughtAtFork || attempt === 3 || deadline - Date.now() < 1_000) return result;
  }
}

function runShieldedOnce(
  file: string,
  args: string[],
  options: { timeoutMs: number; maxOutput?: number | undefined; env?: Record<string, string | undefined> | undefined },
): Promise<ShieldedResult> {
  const maxOutput = options.maxOutput ?? 64 * 1024;
  return new Promise((resolve) => {
    const streams = { stdout: new Capped(maxOutput), stderr: new Capped(maxOutput), all: new Capped(2 * maxOutput) };
    let timedOut = false;
    let settled = false;
    const child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    });
    child.stdout.on('data', (chunk: Buffer) => (streams.stdout.add(chunk), streams.all.add(chunk)));
    child.stderr.on('data', (chunk: Buffer) => (streams.stderr.add(chunk), streams.all.add(chunk)));
    const finish = (result: Pick<ShieldedResult, 'exitCode' | 'signal' | 'spawnError'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      clearTimeout(hardKillTimer);
      // A daemon the command started may hold these pipes open for good: stop reading them.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ...result, stdout: streams.stdout.text(), stderr: streams.stderr.text(), output: streams.all.text().trim(), timedOut });
    };
    let hardKillTimer: NodeJS.Timeout | undefined;
    const killTimer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGTERM');
        hardKillTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      },
      Math.max(1, options.timeoutMs),
    );
    child.on('error', (error: NodeJS.ErrnoException) =>
      finish({ exitCode: undefined, signal: undefined, spawnError: error.code ?? error.message }),
    );
    child.on('exit', (code, signal) => finish({ exitCode: code ?? undefined, signal: signal ?? undefined, spawnError: undefined }));
  });
}

/** Output chunks up to a number of bytes, decoded once at the end (a character may span chunks). */
class Capped {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  add(chunk: Buffer): void {
    if (this.size >= this.max) return;
    const kept = chunk.subarray(0, this.max - this.size);
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return decodeScOutput(Buffer.concat(this.chunks));
  }
}

/** A command as a person would type it at cmd.exe or a shell, for messages: arguments quoted as `quoteArg` does. */
export function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map(quoteArg).join(' ');
}

/** All of a run's output on one line, for error messages. */
export function outputOf(result: CommandResult): string {
  return `${result.stdout}\n${result.stderr}`.replace(/\s+/g, ' ').trim();
}
