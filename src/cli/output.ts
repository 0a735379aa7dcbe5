import type { Manifest } from '../archive/format.js';
import { isEncryptedName } from '../archive/names.js';
import type { Reporter } from '../jobs/reporter.js';
import { redactOutput } from '../security/redact.js';
import { formatBytes, formatDuration } from '../format/units.js';

/**
 * Human output goes to stderr, always: stdout is for the archive path or the one JSON object.
 * Every line passes the redactor: no configured password reaches the terminal or a log of it.
 */
export function terminalReporter(target: NodeJS.WriteStream = process.stderr): Reporter {
  const tty = target.isTTY === true;
  const stream = { write: (text: string) => target.write(redactOutput(text)) };
  let progressShown = false;
  // A terminal gets its first progress line at once; a log file only once the job runs long.
  let lastDraw = tty ? 0 : Date.now();
  const started = new Map<string, number>();
  const clearProgress = () => {
    if (tty && progressShown) stream.write('\r\x1b[K');
    progressShown = false;
  };
  return {
    info(message) {
      clearProgress();
      stream.write(`${message}\n`);
    },
    warn(message) {
      clearProgress();
      stream.write(`warning: ${message}\n`);
    },
    progress(label, done, total) {
      const now = Date.now();
      if (!started.has(label)) started.set(label, now);
      // A terminal gets a live line 4 times a second; a log file a line every 15 seconds.
      if (now - lastDraw < (tty ? 250 : 15_000)) return;
      lastDraw = now;
      const seconds = Math.max((now - started.get(label)!) / 1000, 0.001);
      const of = total ? ` of ${formatBytes(total)} (${Math.floor((100 * done) / total)}%)` : '';
      const line = `${label}: ${formatBytes(done)}${of}, ${formatBytes(done / seconds)}/s, ${formatDuration(seconds * 1000)}`;
      if (tty) {
        stream.write(`\r\x1b[K${line}`);
        progressShown = true;
      } else {
        stream.write(`${line}\n`);
      }
    },
  };
}

/** Writes text to stdout, redacted (the command line's only way to stdout besides printJson). */
export function printOut(text: string): void {
  process.stdout.write(redactOutput(text));
}

/** Writes text to stderr, redacted. */
export function printErr(text: string): void {
  process.stderr.write(redactOutput(text));
}

/** Prints the one JSON object of --json on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(redactOutput(JSON.stringify(value, null, 2)) + '\n');
}

/** What backup and import say of the archive they wrote, in their --json object. */
export function writtenArchiveFacts(result: { archive: string; size: number; dumpBytes: number; durationMs: number; manifest: Manifest }) {
  return {
    archive: result.archive,
    size: result.size,
    dumpBytes: result.dumpBytes,
    durationMs: result.durationMs,
    createdAt: result.manifest.createdAt,
    label: result.manifest.label,
    cupmVersion: result.manifest.cupm.version,
    encrypted: isEncryptedName(result.archive),
  };
}
