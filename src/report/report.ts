import path from 'node:path';
import type { Config } from '../config/config.js';
import { JobFailedError, messageOf } from '../errors.js';
import { writeFileAtomic } from '../file-system.js';
import { readHistory } from '../schedule/history.js';
import { renderHtmlReport } from './html-report.js';

export interface ReportResult {
  file: string;
  runs: number;
  bytes: number;
}

/** Writes the HTML report of the backup dir's nightly history to `file` (atomically: temp + rename). */
export async function writeHtmlReport(config: Config, file: string, options: { now?: Date } = {}): Promise<ReportResult> {
  const runs = await readHistory(config.backupDir);
  const html = renderHtmlReport({
    runs,
    backupDir: config.backupDir,
    generatedAt: options.now ?? new Date(),
    maxAgeHours: config.nightly.maxAgeHours,
  });
  return { ...(await writeReportFile(file, html)), runs: runs.length };
}

/**
 * Writes a report page atomically (writeFileAtomic): a reader never sees half a page. No lock is
 * held (a report reads the history only), so the temp files of killed writes of the page are
 * removed once stale, by a later write of it.
 */
export async function writeReportFile(file: string, html: string): Promise<{ file: string; bytes: number }> {
  const target = path.resolve(file);
  try {
    await writeFileAtomic(target, html, { mode: 0o644 }, { removeStaleTemps: true });
  } catch (error) {
    throw new JobFailedError(`Cannot write the report ${target}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}.`, {
      state: 'nothing was written',
      hint: 'check that the folder exists and is writable',
    });
  }
  return { file: target, bytes: Buffer.byteLength(html) };
}
