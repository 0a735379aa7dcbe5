import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { verifyArchive } from '../archive/verify.js';
import { backupLocked, type BackupResult } from '../backup/backup.js';
import type { Config } from '../config/config.js';
import { ConfigError, CupmError, EXIT, JobFailedError, RefusedError, messageOf } from '../errors.js';
import { currentRecorder } from '../jobs/job-record.js';
import type { Reporter } from '../jobs/reporter.js';
import { copyArchive, type CopyOptions } from '../offsite/copy.js';
import { withConnection, type Destination } from '../offsite/destination.js';
import { configuredDestinations } from '../offsite/index.js';
import { withJobGuard } from '../pg/job-guard.js';
import type { ServiceManager } from '../services/service-manager.js';
import { appendHistory, readHistory, type NightlyRunRecord, type OffsiteCopyRecord, type PendingCopy } from './history.js';
import { sendNotification } from './notify.js';
import { pruneLocked } from './prune.js';
import { describePolicy, hasRules } from './retention.js';
import { openRunLog, rotateLog, secretsOf } from './run-log.js';

export interface NightlyOptions {
  noStop?: boolean;
  allowLive?: boolean;
  signal?: AbortSignal;
  /** For tests: a service manager other than the configured one. */
  serviceManager?: ServiceManager;
  /** For tests: passed to every off-site copy. */
  copy?: CopyOptions;
  /** The notification step (default: email through CUPM_SMTP_URL). */
  notify?: typeof sendNotification;
}

/** Exit codes of `nightly`: 0 ok, 6 verified but an off-site copy or retention failed, else the failing step's. */
export const NIGHTLY_EXIT = { ok: EXIT.done, warning: EXIT.partial } as const;

/**
 * The run a scheduler starts every night, under one lock: backup, full verify of the new archive,
 * off-site copies (with the ones a previous run still owes), retention (only after a verified
 * backup), notification, and a status record in the history. Never throws for a step's failure:
 * the record says what ran, what failed and the exit code.
 */
export async function nightly(config: Config, options: NightlyOptions, terminal: Reporter): Promise<NightlyRunRecord> {
  const started = new Date();
  const dir = config.backupDir;
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw new JobFailedError(`Cannot create the backup folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}.`, {
      state: 'nothing was changed',
      hint: 'check CUPM_BACKUP_DIR',
    });
  });
  const log = openRunLog(dir, { command: 'nightly', secrets: secretsOf(config), tee: terminal });
  const reporter = log.reporter;
  const previous = (await readHistory(dir).catch(() => [])).at(-1);
  const record: NightlyRunRecord = {
    startedAt: started.toISOString(),
    finishedAt: '',
    durationMs: 0,
    host: os.hostname(),
    outcome: 'failed',
    exitCode: EXIT.failed,
    archive: null,
    backupDurationMs: null,
    verified: false,
    offsite: [],
    pendingOffsite: previous?.pendingOffsite ?? [],
    pruned: [],
    steps: [],
    error: null,
    warnings: [],
  };

  let locked = false;
  try {
    await withJobGuard(config, 'nightly', { reporter, serviceManager: options.serviceManager }, async () => {
      locked = true;
      try {
        rotateLog(dir, config.nightly.logMaxBytes);
      } catch (error) {
        terminal.warn(`cannot rotate the log: ${messageOf(error)}`);
      }
      reporter.info(`Nightly run on ${record.host} started (backup dir ${dir})`);
      await runSteps(config, options, reporter, record);
      await finish(config, options, reporter, record, started, { locked: true });
    });
  } catch (error) {
    if (locked) throw error; // a bug in finishing: the lock was released, let it surface
    // Refused by the lock: the running job is not touched; this attempt is recorded and notified.
    const failure = error instanceof CupmError ? error : new RefusedError(messageOf(error));
    record.steps.push({ name: 'lock', status: 'failed', error: failure.message, durationMs: Date.now() - started.getTime() });
    fail(record, failure);
    reporter.warn(failure.describe());
    await finish(config, options, reporter, record, started, { locked: false });
  }
  return record;
}

async function runSteps(config: Config, options: NightlyOptions, reporter: Reporter, record: NightlyRunRecord): Promise<void> {
  if (!(await preflightDestinations(config, reporter, record))) return;
  let result: BackupResult | undefined;
  await step(record, reporter, 'backup', async () => {
    result = await backupLocked(
      config,
      { noStop: options.noStop, allowLive: options.allowLive, signal: options.signal, serviceManager: options.serviceManager },
      reporter,
    );
    record.backupDurationMs = result.durationMs;
    record.servicesDownMs = result.servicesDownMs;
    record.dumpMs = result.dumpMs;
    record.archive = {
      path: result.archive,
      name: path.basename(result.archive),
      size: result.size,
      dumpBytes: result.dumpBytes,
      createdAt: result.manifest.createdAt,
      cupmVersion: result.manifest.cupm.version,
    };
    return `${record.archive.name}, ${result.size} bytes`;
  });

  if (result) {
    const archive = result.archive;
    // An encrypted archive is read back with the file key this run made: the host that writes
    // the backups holds no identity, and needs none to check them.
    const keys = result.keys;
    await step(record, reporter, 'verify', async () => {
      const report = await verifyArchive(archive, { keys, onProgress: (done, total) => reporter.progress('verify', done, total) });
      if (!report.ok) {
        throw new CupmError(
          EXIT.archiveInvalid,
          `The new archive ${archive} did not verify: it is kept for inspection, but not copied off-site and not counted as a backup.`,
          {
            problems: report.problems,
            hint: 'check the disk of the backup folder (a fresh archive that does not read back points at failing storage), then run nightly again',
          },
        );
      }
      record.verified = true;
      return `${report.bytesChecked} bytes re-read, sizes and SHA-256 match`;
    });
  } else {
    skip(record, 'verify', 'no archive was written');
  }

  const destinations = configuredDestinations(config.offsite);
  const failedDestinations = new Set<string>();
  if (options.signal?.aborted) {
    skip(record, 'offsite', 'the run was cancelled');
    skip(record, 'prune', 'the run was cancelled');
    return;
  }
  if (destinations.length === 0) {
    record.pendingOffsite = []; // nothing is owed to destinations that are no longer configured
    skip(record, 'offsite', 'CUPM_OFFSITE is not set');
  } else {
    owedCopies(record, destinations, config.backupDir, reporter);
    if (record.pendingOffsite.length === 0) skip(record, 'offsite', 'nothing to copy (no verified archive)');
    else
      await step(record, reporter, 'offsite', () =>
        copyOffsite(record, destinations, config.backupDir, options, reporter, failedDestinations),
      );
  }

  if (!record.verified) {
    skip(record, 'prune', 'retention runs only after a verified backup');
  } else if (!hasRules(config.nightly.retention)) {
    skip(record, 'prune', 'no CUPM_KEEP_* rule is set: nothing is deleted');
  } else {
    await step(record, reporter, 'prune', async () => {
      const hold = new Map<string, string[]>();
      for (const p of record.pendingOffsite) hold.set(p.archive, [...(hold.get(p.archive) ?? []), `not yet copied to ${p.destination}`]);
      const result = await pruneLocked(
        config,
        {
          policy: config.nightly.retention,
          verified: [record.archive!.name],
          hold,
          destinations: destinations.filter((d) => !failedDestinations.has(d.display)),
        },
        reporter,
      );
      const errors: string[] = [];
      for (const location of result.locations) {
        const prefix = location.kind === 'local' ? '' : `${location.location}: `;
        record.pruned.push(...location.deleted.map((name) => prefix + name));
        for (const bad of location.unreadable) {
          record.warnings!.push(`${prefix}${bad.name} cannot be read or did not verify (${bad.problem}); it is kept: remove it by name`);
        }
        if (location.error) errors.push(`${location.location}: ${location.error}`);
      }
      if (errors.length > 0) throw new JobFailedError(`Retention failed in ${errors.length} place(s):`, { problems: errors });
      const kept = result.locations.reduce((n, l) => n + l.decisions.filter((d) => d.keep).length, 0);
      return `${describePolicy(config.nightly.retention)}: deleted ${record.pruned.length}, kept ${kept}`;
    });
  }
}

/**
 * Destinations that can be checked up front (S3: the bucket exists, the keys work). What only the
 * configuration can fix stops the run before anything is done (exit 2); a destination that does
 * not answer does not: the backup goes on and its copy stays pending.
 */
async function preflightDestinations(config: Config, reporter: Reporter, record: NightlyRunRecord): Promise<boolean> {
  for (const destination of configuredDestinations(config.offsite)) {
    if (!destination.preflight) continue;
    const began = Date.now();
    try {
      await destination.preflight();
    } catch (error) {
      if (error instanceof ConfigError) {
        record.steps.push({ name: 'preflight', status: 'failed', error: error.message, durationMs: Date.now() - began });
        reporter.warn(`preflight failed: ${error.describe()}`);
        fail(
          record,
          new ConfigError(error.message, {
            state: 'nothing was done: no backup was made',
            hint: error.hint ?? 'fix CUPM_OFFSITE or the store, then run nightly again',
          }),
        );
        return false;
      }
      reporter.warn(`${destination.display} cannot be checked now (${messageOf(error)}); the backup goes on and its copy stays pending`);
    }
  }
  return true;
}

/** Adds the new verified archive to what each destination is owed, and drops what is gone. */
function owedCopies(record: NightlyRunRecord, destinations: Destination[], dir: string, reporter: Reporter): void {
  const configured = new Set(destinations.map((d) => d.display));
  const owed: PendingCopy[] = [];
  for (const pending of record.pendingOffsite) {
    if (!configured.has(pending.destination)) continue; // no longer a destination
    if (!fs.existsSync(path.join(dir, pending.archive))) {
      reporter.warn(`${pending.archive} was still owed to ${pending.destination} but is no longer in ${dir}; it cannot be copied any more`);
      continue;
    }
    owed.push(pending);
  }
  if (record.verified && record.archive) {
    for (const destination of destinations)
      owed.push({ destination: destination.display, archive: record.archive.name, since: record.startedAt });
  }
  record.pendingOffsite = owed;
}

/** Copies every owed archive, oldest first; what fails stays owed for the next run. */
async function copyOffsite(
  record: NightlyRunRecord,
  destinations: Destination[],
  dir: string,
  options: NightlyOptions,
  reporter: Reporter,
  failedDestinations: Set<string>,
): Promise<string> {
  const stillOwed: PendingCopy[] = [];
  for (const destination of destinations) {
    const owed = record.pendingOffsite
      .filter((p) => p.destination === destination.display)
      .sort((a, b) => a.archive.localeCompare(b.archive));
    if (owed.length === 0) continue;
    const failed = (pending: PendingCopy, error: unknown, durationMs?: number) => {
      const message = error instanceof CupmError ? error.message : messageOf(error);
      record.offsite.push({
        destination: destination.display,
        archive: pending.archive,
        ok: false,
        error: message,
        ...(durationMs === undefined ? {} : { durationMs }),
      });
      stillOwed.push(pending);
      failedDestinations.add(destination.display);
    };
    try {
      await withConnection(destination, async (connection) => {
        for (const pending of owed) {
          const began = Date.now();
          reporter.info(`Copying ${pending.archive} to ${destination.display}`);
          try {
            const copy = await copyArchive(connection, destination.display, path.join(dir, pending.archive), {
              ...options.copy,
              onBytes: (done, total) => reporter.progress(`copy to ${destination.display}`, done, total),
            });
            const entry: OffsiteCopyRecord = {
              destination: destination.display,
              archive: pending.archive,
              ok: true,
              durationMs: Date.now() - began,
            };
            record.offsite.push(entry);
            reporter.info(
              copy.alreadyThere
                ? `${pending.archive} was already on ${destination.display} (${destination.kind === 's3' ? 'same size and ETag' : 'same SHA-256'})`
                : `Copied ${pending.archive} to ${destination.display}: ${copy.size} bytes, ${copy.check}`,
            );
          } catch (error) {
            reporter.warn(
              `Copy of ${pending.archive} to ${destination.display} failed: ${error instanceof CupmError ? error.describe() : messageOf(error)}`,
            );
            failed(pending, error, Date.now() - began);
          }
        }
      });
    } catch (error) {
      // Could not connect (or the connection failed outside a copy): everything owed stays owed.
      reporter.warn(
        `Off-site destination ${destination.display} failed: ${error instanceof CupmError ? error.describe() : messageOf(error)}`,
      );
      for (const pending of owed) {
        if (
          !stillOwed.includes(pending) &&
          !record.offsite.some((c) => c.ok && c.destination === destination.display && c.archive === pending.archive)
        )
          failed(pending, error);
      }
    }
  }
  record.pendingOffsite = stillOwed;
  const copied = record.offsite.filter((c) => c.ok).length;
  if (stillOwed.length > 0) {
    const where = [...new Set(stillOwed.map((p) => p.destination))].join(', ');
    throw new JobFailedError(
      `${stillOwed.length} off-site cop${stillOwed.length === 1 ? 'y' : 'ies'} did not complete (${where}); the next run retries them. ${copied} succeeded.`,
      {
        problems: record.offsite.filter((c) => !c.ok).map((c) => `${c.destination}: ${c.archive}: ${c.error}`),
      },
    );
  }
  return `${copied} cop${copied === 1 ? 'y' : 'ies'} to ${destinations.length} destination(s), each read back and matched`;
}

/** Outcome, exit code, notification, history; the log gets the summary. */
async function finish(
  config: Config,
  options: NightlyOptions,
  reporter: Reporter,
  record: NightlyRunRecord,
  started: Date,
  how: { locked: boolean },
): Promise<void> {
  const failedSteps = record.steps.filter((s) => s.status === 'failed');
  if (record.verified) {
    const warn = failedSteps.length > 0 || (record.warnings?.length ?? 0) > 0;
    record.outcome = warn ? 'warning' : 'ok';
    record.exitCode = warn ? NIGHTLY_EXIT.warning : NIGHTLY_EXIT.ok;
    if (warn && !record.error) {
      const what = failedSteps.map((s) => s.name).join(' and ');
      record.error =
        failedSteps.length > 0
          ? {
              message: `The backup is verified and kept in ${config.backupDir}, but ${what} failed: ${failedSteps.map((s) => s.error).join('; ')}`,
              hint: offsiteHint(record),
            }
          : { message: `The backup is verified, but: ${record.warnings!.join('; ')}` };
    }
  } else {
    record.outcome = 'failed';
  }
  record.finishedAt = new Date().toISOString();
  record.durationMs = Date.now() - started.getTime();

  const notify = options.notify ?? sendNotification;
  const began = Date.now();
  let sent: Awaited<ReturnType<typeof sendNotification>>;
  try {
    sent = await notify(config, record, reporter);
  } catch (error) {
    reporter.warn(`The notification failed: ${messageOf(error)} (the run's outcome is unchanged)`);
    sent = 'failed';
  }
  record.steps.push({
    name: 'notify',
    status: sent === 'sent' ? 'done' : sent === 'skipped' ? 'skipped' : 'failed',
    durationMs: Date.now() - began,
    ...(sent === 'skipped' ? { detail: 'not configured, or not wanted for this outcome (CUPM_NOTIFY_ON)' } : {}),
  });

  const summary = `Nightly run ${record.outcome.toUpperCase()} (exit ${record.exitCode}): ${record.steps.map((s) => `${s.name} ${s.status}`).join(', ')}`;
  if (record.outcome === 'ok') reporter.info(summary);
  else reporter.warn(`${summary}${record.error ? `\n${record.error.message}` : ''}`);
  try {
    await appendHistory(config.backupDir, record, how);
  } catch (error) {
    reporter.warn(`cannot write the run history in ${config.backupDir}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`);
  }
}

function offsiteHint(record: NightlyRunRecord): string | undefined {
  if (record.pendingOffsite.length === 0) return undefined;
  return 'the next nightly run copies what is pending; check the destination (mounted? server up? credentials? host key?) before then';
}

/** Runs one step, timing it and recording done/failed; a failure is recorded, never thrown. */
async function step(record: NightlyRunRecord, reporter: Reporter, name: string, run: () => Promise<string | void>): Promise<void> {
  const began = Date.now();
  try {
    await currentRecorder()?.step(name);
    const detail = await run();
    record.steps.push({ name, status: 'done', durationMs: Date.now() - began, ...(detail ? { detail } : {}) });
    reporter.info(`[done] ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    const failure = error instanceof CupmError ? error : new JobFailedError(messageOf(error), { cause: error });
    record.steps.push({ name, status: 'failed', error: failure.message, durationMs: Date.now() - began });
    reporter.warn(`${name} failed: ${failure.describe()}`);
    if (name === 'backup' || name === 'verify') fail(record, failure);
  }
}

function skip(record: NightlyRunRecord, name: string, detail: string): void {
  record.steps.push({ name, status: 'skipped', detail, durationMs: 0 });
}

/** Records the error that makes the run fail and its exit code. */
function fail(record: NightlyRunRecord, error: CupmError): void {
  const lines = [error.message, ...error.problems.map((p) => `  - ${p}`), ...(error.state ? [`State: ${error.state}`] : [])];
  record.error = { message: lines.join('\n'), ...(error.hint ? { hint: error.hint } : {}) };
  record.exitCode = error.exitCode;
}
