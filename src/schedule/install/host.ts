import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../file-system.js';
import { decodeScOutput } from '../../system/windows-output.js';

/** What one scheduler command printed and how it exited. */
export interface CommandOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The host a scheduler is installed on, as narrow as the installers need: run a command, and read,
 * write or remove a file. Tests give a recording host (exact commands, in order, recorded outputs);
 * the real one runs them.
 */
export interface SchedulerHost {
  /** Runs argv[0] with the rest as arguments, without a shell; `input` goes to its stdin. */
  run(argv: string[], options?: { input?: string }): Promise<CommandOutput>;
  /** The file's text, or undefined when there is none. */
  readFile(file: string): Promise<string | undefined>;
  /** Writes the whole file atomically (temp + rename), creating its folder. */
  writeFile(file: string, content: string, mode: number): Promise<void>;
  /** Removes the file; a missing file is not an error. */
  removeFile(file: string): Promise<void>;
  /** Creates the folder and its parents; an existing one is fine. */
  makeDir(dir: string): Promise<void>;
}

/** Seconds one scheduler command may take (schtasks, systemctl, crontab all answer at once). */
const COMMAND_TIMEOUT_MS = 60_000;

/** The machine this process runs on. */
export function localHost(): SchedulerHost {
  return {
    async run(argv, options = {}) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error('empty command');
      const result = await execa(file, args, {
        reject: false,
        input: options.input,
        stdin: options.input === undefined ? 'ignore' : 'pipe',
        // schtasks.exe writes in the console's OEM code page, like sc.exe.
        encoding: 'buffer',
        timeout: COMMAND_TIMEOUT_MS,
        windowsHide: true,
      });
      const stdout = decodeScOutput(result.stdout);
      const stderr = decodeScOutput(result.stderr) + (result.failed && result.exitCode === undefined ? result.shortMessage : '');
      return { exitCode: result.exitCode ?? -1, stdout, stderr };
    },
    async readFile(file) {
      try {
        return await fs.readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async writeFile(file, content, mode) {
      await fs.mkdir(path.dirname(file), { recursive: true });
      // No lock (schedule install runs no job): a later write of the file removes killed writes' temp files once stale.
      await writeFileAtomic(file, content, { mode }, { removeStaleTemps: true });
    },
    async removeFile(file) {
      await fs.rm(file, { force: true });
    },
    async makeDir(dir) {
      await fs.mkdir(dir, { recursive: true });
    },
  };
}
