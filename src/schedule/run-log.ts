import fs from 'node:fs';
import path from 'node:path';
import type { Reporter } from '../jobs/reporter.js';
import { redactor } from '../security/redact.js';

/** The log of nightly and prune runs, in the backup dir; rotated to .1, .2, .3 by size. */
export const LOG_FILE = 'cupm-backup.log';
export const LOG_GENERATIONS = 3;

/** Progress lines in the log: one per label this often, so a long dump leaves a trace, not a flood. */
const PROGRESS_EVERY_MS = 30_000;

// Redaction lives in src/security/redact.ts (one place); re-exported for the log's callers.
export { redactor, secretsOf } from '../security/redact.js';

/**
 * Moves the log aside when it is larger than maxBytes (log -> log.1 -> log.2 ...; the oldest is
 * dropped). Only a run holding the lock rotates: a refused run only appends.
 */
export function rotateLog(dir: string, maxBytes: number, generations = LOG_GENERATIONS): void {
  const file = path.join(dir, LOG_FILE);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  if (size <= maxBytes) return;
  fs.rmSync(`${file}.${generations}`, { force: true });
  for (let i = generations - 1; i >= 1; i--) {
    if (fs.existsSync(`${file}.${i}`)) fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  }
  fs.renameSync(file, `${file}.1`);
}

export interface RunLog {
  /** Writes to the log and to `tee` (the terminal). */
  reporter: Reporter;
  /** Writes one line to the log only. */
  write(level: 'info' | 'warn' | 'error', message: string): void;
  file: string;
}

/**
 * A reporter that appends every line, redacted, to the log file in `dir` and passes it on to
 * `tee`. Each line is appended on its own (O_APPEND), so two runs never mix within a line, and a
 * log that cannot be written (a full disk) never stops the run: it is said once on the terminal.
 */
export function openRunLog(dir: string, options: { command: string; secrets: readonly string[]; tee: Reporter }): RunLog {
  const file = path.join(dir, LOG_FILE);
  const redact = redactor(options.secrets);
  let broken = false;
  const lastProgress = new Map<string, number>();
  const write = (level: 'info' | 'warn' | 'error', message: string) => {
    const prefix = `${new Date().toISOString()} ${options.command}[${process.pid}] ${level}: `;
    const text =
      redact(message)
        .split('\n')
        .map((line) => prefix + line)
        .join('\n') + '\n';
    try {
      fs.appendFileSync(file, text, { mode: 0o600 });
      broken = false;
    } catch (error) {
      if (!broken) options.tee.warn(`cannot write the log ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      broken = true;
    }
  };
  return {
    file,
    write,
    reporter: {
      info(message) {
        write('info', message);
        options.tee.info(redact(message));
      },
      warn(message) {
        write('warn', message);
        options.tee.warn(redact(message));
      },
      progress(label, done, total) {
        const now = Date.now();
        if (now - (lastProgress.get(label) ?? 0) >= PROGRESS_EVERY_MS) {
          lastProgress.set(label, now);
          write('info', `${label}: ${done} bytes${total ? ` of ${total}` : ''}`);
        }
        options.tee.progress(label, done, total);
      },
    },
  };
}
