import { execa } from 'execa';
import { ConfigError, JobFailedError } from '../errors.js';
import { decodeScOutput } from './windows-output.js';

/** What one run of a Windows tool printed and how it ended. */
export interface CommandResult {
  exitCode: number;
  /** Decoded output (console code page on Windows: cp932 on Japanese servers). */
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command after this long (default 2 minutes; uninstallers get longer). */
  timeoutMs?: number;
  /** Variables added to (or, when undefined, taken out of) the inherited environment: how secrets reach a child. */
  env?: Record<string, string | undefined>;
  /** What to do when the program is not installed (default: run on the CUPM Windows server). */
  notFoundHint?: string;
}

/**
 * The one way the Windows system driver runs programs: an argument array, never a shell string.
 * The Windows driver uses `execaRunner`; tests use a recorded runner that answers with real
 * recorded outputs and keeps the exact commands in order.
 */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Runs the real programs (reg.exe, net.exe, sc.exe, uninstallers). */
export const execaRunner: CommandRunner = {
  async run(file, args, options = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const result = await execa(file, [...args], {
      reject: false,
      stdin: 'ignore',
      encoding: 'buffer',
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
      windowsHide: true,
      ...(options.env ? { env: options.env } : {}),
    });
    const line = commandLine(file, args);
    if (result.timedOut) {
      throw new JobFailedError(`${line} did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped.`, {
        hint: 'see whether it waits for input in a window of its own; run it by hand to see why',
      });
    }
    if (result.exitCode === undefined) {
      if (result.code === 'ENOENT') {
        throw new ConfigError(`Could not run ${file}: not found.`, {
          hint: options.notFoundHint ?? 'run cupm-backup on the CUPM Windows server (reg.exe, net.exe and sc.exe are in C:\\Windows\\System32)',
        });
      }
      throw new JobFailedError(`${line} could not be run (${result.signal ?? result.code ?? result.originalMessage ?? 'unknown error'}).`);
    }
    return { exitCode: result.exitCode, stdout: decodeScOutput(result.stdout), stderr: decodeScOutput(result.stderr) };
  },
};

/** A command as a person would type it at cmd.exe, for messages: arguments with spaces quoted. */
export function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((arg) => (/[\s"]/.test(arg) || arg === '' ? `"${arg.replace(/"/g, '\\"')}"` : arg)).join(' ');
}

/** All of a run's output on one line, for error messages. */
export function outputOf(result: CommandResult): string {
  return `${result.stdout}\n${result.stderr}`.replace(/\s+/g, ' ').trim();
}
