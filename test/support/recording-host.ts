import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandOutput, SchedulerHost } from '../../src/schedule/install/host.js';

/** One thing a scheduler installer did to the host, in order. */
export type HostCall =
  | { kind: 'run'; argv: string[]; input?: string }
  | { kind: 'write'; file: string; content: string; mode: number }
  | { kind: 'remove'; file: string }
  | { kind: 'mkdir'; dir: string };

/** Answers a command the way the real tool would (from recorded output). */
export type Answer = (argv: string[], input: string | undefined) => CommandOutput | Promise<CommandOutput>;

export interface RecordingHost extends SchedulerHost {
  /** Every run, write, remove and mkdir, in order (reads are not changes and are not recorded). */
  calls: HostCall[];
  /** The commands run, each as one string joined by spaces. */
  commands(): string[];
  /** Files, when they are kept in memory (Windows paths on a Linux test machine). */
  files: Map<string, string>;
}

/**
 * A SchedulerHost that records what it is asked to do. Commands are answered by `answer`; files
 * live in memory (`files: 'memory'`, for Windows paths) or on the real disk (`files: 'disk'`).
 */
export function recordingHost(options: { answer: Answer; files: 'memory' | 'disk' }): RecordingHost {
  const calls: HostCall[] = [];
  const files = new Map<string, string>();
  const memory = options.files === 'memory';
  return {
    calls,
    files,
    commands: () => calls.flatMap((call) => (call.kind === 'run' ? [call.argv.join(' ')] : [])),
    async run(argv, runOptions = {}) {
      calls.push(runOptions.input === undefined ? { kind: 'run', argv } : { kind: 'run', argv, input: runOptions.input });
      return options.answer(argv, runOptions.input);
    },
    async readFile(file) {
      if (memory) return files.get(file);
      try {
        return await readFile(file, 'utf8');
      } catch {
        return undefined;
      }
    },
    async writeFile(file, content, mode) {
      calls.push({ kind: 'write', file, content, mode });
      if (memory) files.set(file, content);
      else {
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, content, { mode });
      }
    },
    async removeFile(file) {
      calls.push({ kind: 'remove', file });
      if (memory) files.delete(file);
      else await rm(file, { force: true });
    },
    async makeDir(dir) {
      calls.push({ kind: 'mkdir', dir });
      if (!memory) await mkdir(dir, { recursive: true });
    },
  };
}

export const ok = (stdout = ''): CommandOutput => ({ exitCode: 0, stdout, stderr: '' });
export const failed = (exitCode: number, stderr: string, stdout = ''): CommandOutput => ({ exitCode, stdout, stderr });
