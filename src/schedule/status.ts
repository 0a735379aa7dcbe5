import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { EXIT } from '../errors.js';
import { readHistory, type NightlyOutcome, type PendingCopy } from './history.js';
import { interruptedJobs, type InterruptedJob, type InterruptedRestore } from './interrupted.js';

/** What `status` reports: is there a fresh verified backup, and does anything need a person? */
export interface BackupStatus {
  backupDir: string;
  checkedAt: string;
  maxAgeHours: number;
  lastRun: { startedAt: string; finishedAt: string; outcome: NightlyOutcome; exitCode: number; error: string | null } | null;
  newestVerified: { name: string; path: string; createdAt: string; size: number; ageHours: number } | null;
  /** No verified backup, or the newest is older than maxAgeHours. */
  stale: boolean;
  pendingOffsite: PendingCopy[];
  /** A job killed with services stopped (its crash record), or null. */
  interruptedJob: InterruptedJob | null;
  /** A restore killed half way (its journal), or null. */
  interruptedRestore: InterruptedRestore | null;
  /** Why the exit code is not 0, one line each. */
  problems: string[];
  /** 0 all well; 1 no verified backup within maxAgeHours, services left down or a restore interrupted; 6 fresh, but the last run or an off-site copy needs attention. */
  exitCode: number;
}

/**
 * Reads the nightly history: the last run, the newest archive a nightly run verified that is still
 * in the backup dir unchanged (same size), its age, and the copies still owed off-site. Cheap
 * enough for a monitoring system to call every few minutes: no archive is read.
 */
export async function backupStatus(config: Config, now: Date = new Date()): Promise<BackupStatus> {
  const history = await readHistory(config.backupDir);
  const last = history.at(-1);
  const status: BackupStatus = {
    backupDir: config.backupDir,
    checkedAt: now.toISOString(),
    maxAgeHours: config.nightly.maxAgeHours,
    lastRun: last
      ? {
          startedAt: last.startedAt,
          finishedAt: last.finishedAt,
          outcome: last.outcome,
          exitCode: last.exitCode,
          error: last.error?.message ?? null,
        }
      : null,
    newestVerified: null,
    stale: true,
    pendingOffsite: last?.pendingOffsite ?? [],
    interruptedJob: null,
    interruptedRestore: null,
    problems: [],
    exitCode: EXIT.done,
  };

  const verified = history.filter((r) => r.verified && r.archive).map((r) => r.archive!);
  verified.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  for (const archive of verified) {
    const file = path.join(config.backupDir, archive.name);
    const size = await fs.stat(file).then(
      (s) => s.size,
      () => undefined,
    );
    if (size !== archive.size) continue; // deleted, or changed since it was verified
    const ageHours = (now.getTime() - Date.parse(archive.createdAt)) / 3_600_000;
    status.newestVerified = {
      name: archive.name,
      path: file,
      createdAt: archive.createdAt,
      size,
      ageHours: Math.round(ageHours * 100) / 100,
    };
    break;
  }

  if (!status.newestVerified) {
    status.problems.push(
      last ? `no verified nightly backup is in ${config.backupDir}` : `no nightly run has been recorded in ${config.backupDir}`,
    );
  } else if (status.newestVerified.ageHours > status.maxAgeHours) {
    status.problems.push(
      `the newest verified backup is ${formatHours(status.newestVerified.ageHours)} old, more than CUPM_MAX_AGE_HOURS (${status.maxAgeHours})`,
    );
  } else {
    status.stale = false;
  }
  if (last && last.outcome !== 'ok')
    status.problems.push(
      `the last nightly run (${last.startedAt}) ended ${last.outcome.toUpperCase()}: ${firstLine(last.error?.message ?? 'see the log')}`,
    );
  if (status.pendingOffsite.length > 0) {
    status.problems.push(
      `${status.pendingOffsite.length} off-site cop${status.pendingOffsite.length === 1 ? 'y is' : 'ies are'} pending since ${status.pendingOffsite.map((p) => p.since).sort()[0]}`,
    );
  }
  // A killed job that left services down, or a half-done restore: CUPM is not whole, whatever the backups say.
  const interrupted = await interruptedJobs(config.backupDir);
  status.interruptedJob = interrupted.job;
  status.interruptedRestore = interrupted.restore;
  const down = interrupted.problems.length > 0;
  status.problems.unshift(...interrupted.problems);
  status.exitCode = status.stale || down ? EXIT.failed : status.problems.length > 0 ? EXIT.partial : EXIT.done;
  return status;
}

/** 30.5 -> "30h30m", 50 -> "2d2h" */
export function formatHours(hours: number): string {
  const minutes = Math.round(hours * 60);
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(minutes / 1440)}d${Math.floor((minutes % 1440) / 60)}h`;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
