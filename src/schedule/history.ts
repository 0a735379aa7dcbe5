import fs from 'node:fs/promises';
import path from 'node:path';
import { removeTempFiles, writeFileAtomic } from '../file-system.js';

/** The history of nightly runs, one JSON object a line, in the backup dir. */
export const HISTORY_FILE = 'cupm-backup-history.jsonl';

/** When the history grows past this, a run holding the lock keeps only the newest records. */
const HISTORY_MAX_BYTES = 4 * 1024 * 1024;
const HISTORY_KEEP_RECORDS = 2000;

export type NightlyOutcome = 'ok' | 'warning' | 'failed';

export interface NightlyStepRecord {
  name: string;
  status: 'done' | 'failed' | 'skipped';
  detail?: string;
  error?: string;
  durationMs: number;
}

export interface OffsiteCopyRecord {
  /** The destination as displayed (no password). */
  destination: string;
  /** The archive copied (or that failed to copy). */
  archive?: string;
  ok: boolean;
  error?: string;
  durationMs?: number;
}

export interface PendingCopy {
  destination: string;
  archive: string;
  /** When this copy first failed. */
  since: string;
}

/**
 * What one `nightly` run did: the status record that `status`, the notification and the HTML
 * report read. Destinations are shown redacted; no field ever holds a password.
 */
export interface NightlyRunRecord {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  host: string;
  /** warning: the backup verified, but an off-site copy or retention had a problem. */
  outcome: NightlyOutcome;
  exitCode: number;
  archive: { path: string; name: string; size: number; dumpBytes: number; createdAt: string; cupmVersion: string | null } | null;
  backupDurationMs: number | null;
  /** How long the backup kept the services stopped, and how long pg_dumpall ran (ms; absent in older records). */
  servicesDownMs?: number | null;
  dumpMs?: number | null;
  verified: boolean;
  offsite: OffsiteCopyRecord[];
  /** Copies still owed to a destination; the next run retries them. */
  pendingOffsite: PendingCopy[];
  /** Archives deleted by retention: the name for the backup dir, `<destination>: <name>` off-site. */
  pruned: string[];
  steps: NightlyStepRecord[];
  error: { message: string; hint?: string } | null;
  /** What made a verified run a warning, or needs a person anyway (an unreadable archive kept). */
  warnings?: string[];
}

/** Every record, oldest first. A torn or foreign line (a crash mid-write) is skipped. */
export async function readHistory(backupDir: string): Promise<NightlyRunRecord[]> {
  let text: string;
  try {
    text = await fs.readFile(path.join(backupDir, HISTORY_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records: NightlyRunRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line) as NightlyRunRecord;
      if (typeof record.startedAt === 'string' && typeof record.outcome === 'string') records.push(record);
    } catch {
      // a line cut short by a crash or a full disk: the others still count
    }
  }
  return records;
}

/**
 * Appends one record. O_APPEND of one line: a run refused by the lock may append while the
 * running one does, and neither line is mixed with the other.
 */
export async function appendHistory(backupDir: string, record: NightlyRunRecord, options: { locked?: boolean } = {}): Promise<void> {
  const file = path.join(backupDir, HISTORY_FILE);
  await fs.appendFile(file, JSON.stringify(record) + '\n', { mode: 0o600 });
  if (options.locked) await trimHistory(file);
}

/**
 * Keeps the newest records once the file is large (writeFileAtomic: a reader sees one or the
 * other). Runs under the folder lock, the only one that trims: a temp file of a trim that was
 * killed is removed first.
 */
async function trimHistory(file: string): Promise<void> {
  await removeTempFiles(file, 'any');
  const { size } = await fs.stat(file);
  if (size <= HISTORY_MAX_BYTES) return;
  const lines = (await fs.readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  await writeFileAtomic(file, lines.slice(-HISTORY_KEEP_RECORDS).join('\n') + '\n', { mode: 0o600 });
}

/** The newest record, or undefined before the first run. */
export async function lastRun(backupDir: string): Promise<NightlyRunRecord | undefined> {
  return (await readHistory(backupDir)).at(-1);
}
