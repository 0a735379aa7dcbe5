import type { NightlyRunRecord } from '../../src/schedule/history.js';

const MIB = 1024 * 1024;

/** A UTC archive stamp: 2026-11-25T02:00:00.000Z -> 20261125T020000Z */
function stamp(iso: string): string {
  return iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The record of a nightly run that went well, as nightly writes it; `overrides` changes any part. */
export function okRun(startedAt: string, overrides: Partial<NightlyRunRecord> = {}): NightlyRunRecord {
  const start = Date.parse(startedAt);
  const backupMs = 95_000;
  const name = `cupm-backup_CUPM01_${stamp(new Date(start + 2_000).toISOString())}.zip`;
  const record: NightlyRunRecord = {
    startedAt: new Date(start).toISOString(),
    finishedAt: new Date(start + 131_000).toISOString(),
    durationMs: 131_000,
    host: 'CUPM01',
    outcome: 'ok',
    exitCode: 0,
    archive: {
      path: `/var/backups/cupm/${name}`,
      name,
      size: 42 * MIB,
      dumpBytes: 160 * MIB,
      createdAt: new Date(start + 2_000).toISOString(),
      cupmVersion: '8.5',
    },
    backupDurationMs: backupMs,
    verified: true,
    offsite: [{ destination: '\\\\nas01\\backups\\cupm', ok: true, durationMs: 21_000 }],
    pendingOffsite: [],
    pruned: [],
    steps: [
      { name: 'backup', status: 'done', detail: `${name} (42.0 MiB)`, durationMs: backupMs },
      { name: 'verify', status: 'done', detail: 'every entry checked', durationMs: 9_000 },
      { name: 'offsite', status: 'done', detail: 'copied to 1 destination', durationMs: 21_000 },
      { name: 'prune', status: 'done', detail: 'nothing to remove', durationMs: 400 },
    ],
    error: null,
  };
  return { ...record, ...overrides };
}

/** A run whose backup failed: no archive, retention skipped, the error and what to do. */
export function failedRun(startedAt: string, overrides: Partial<NightlyRunRecord> = {}): NightlyRunRecord {
  const base = okRun(startedAt);
  return {
    ...base,
    finishedAt: new Date(Date.parse(base.startedAt) + 48_000).toISOString(),
    durationMs: 48_000,
    outcome: 'failed',
    exitCode: 1,
    archive: null,
    backupDurationMs: null,
    verified: false,
    offsite: [],
    steps: [
      { name: 'backup', status: 'failed', error: 'No space left on device while writing the archive', durationMs: 47_000 },
      { name: 'verify', status: 'skipped', detail: 'no archive', durationMs: 0 },
      { name: 'offsite', status: 'skipped', detail: 'no archive', durationMs: 0 },
      { name: 'prune', status: 'skipped', detail: 'retention runs only after a verified backup', durationMs: 0 },
    ],
    error: {
      message: 'The backup failed: No space left on device while writing the archive.',
      hint: 'free space in /var/backups/cupm (or prune old archives), then run cupm-backup nightly again',
    },
    ...overrides,
  };
}

/** A verified backup whose off-site copy failed: a warning, the copy pending for the next run. */
export function offsiteFailedRun(startedAt: string, overrides: Partial<NightlyRunRecord> = {}): NightlyRunRecord {
  const base = okRun(startedAt);
  const destination = 'sftp://backup@nas02:22/srv/cupm';
  return {
    ...base,
    outcome: 'warning',
    exitCode: 1,
    offsite: [
      { destination: '\\\\nas01\\backups\\cupm', ok: true, durationMs: 21_000 },
      { destination, ok: false, error: 'connect ECONNREFUSED 10.0.0.12:22', durationMs: 30 },
    ],
    pendingOffsite: [{ destination, archive: base.archive!.name, since: base.finishedAt }],
    steps: base.steps.map((step) =>
      step.name === 'offsite' ? { ...step, status: 'failed' as const, error: `${destination}: connect ECONNREFUSED 10.0.0.12:22` } : step,
    ),
    ...overrides,
  };
}
