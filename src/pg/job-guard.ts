import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';
import { DirtyStateError, messageOf } from '../errors.js';
import { removeTempFiles } from '../file-system.js';
import {
  JOB_RECORD_FILE,
  JobRecorder,
  describeJobRecord,
  jobIsRunning,
  jobRecordPath,
  readJobRecord,
  removeJobRecord,
  runWithRecorder,
  type JobRecord,
} from '../jobs/job-record.js';
import { withLock } from '../jobs/lock.js';
import type { Reporter } from '../jobs/reporter.js';
import { createServiceManager, type ServiceSettings } from '../services/index.js';
import type { ServiceManager } from '../services/service-manager.js';
import type { PgSettings } from './connection.js';
import { takeServerLock, type ServerLock } from './server-lock.js';

/** What the guard needs of the configuration: the backup folder, the server, the services. */
export type JobGuardSettings = PgSettings & ServiceSettings & { backupDir: string };

export interface JobGuardOptions {
  reporter: Reporter;
  /** For tests: a service manager other than the configured one. */
  serviceManager?: ServiceManager | undefined;
}

/**
 * Runs a job that stops services or changes the database: the backup folder's lock, the server
 * lock (one job per CUPM server, src/pg/server-lock.ts), the crash record of an earlier job that
 * was killed acted on first (the services it left stopped are started again), and a recorder for
 * this job's own record (src/jobs/job-record.ts). Released in reverse, whatever happens.
 */
export async function withJobGuard<T>(
  config: JobGuardSettings,
  command: string,
  options: JobGuardOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const dir = config.backupDir;
  return withLock(dir, command, async () => {
    const server: ServerLock = await takeServerLock(config, command, options.reporter);
    try {
      await recoverInterruptedJob(config, options);
      const recorder = new JobRecorder(dir, command);
      try {
        return await heldLock.run(server, () => runWithRecorder(recorder, fn));
      } finally {
        // The record stays when services of ours are left down: status reports them, the next run starts them.
        await recorder.finish();
      }
    } finally {
      await server.release();
    }
  });
}

const heldLock = new AsyncLocalStorage<ServerLock>();

/**
 * For a job that restarted PostgreSQL (restore): waits until the guard's server lock is held again
 * (it is re-taken as soon as the server answers). False when it could not be (the message said why).
 */
export async function serverLockHeldAgain(timeoutMs = 60_000): Promise<boolean> {
  const lock = heldLock.getStore();
  return lock ? lock.ensureHeld(timeoutMs) : true;
}

/**
 * A job killed while it had services stopped left its record: start those services (the ones
 * still stopped), say so, and remove the record. Runs under the folder lock, so the record's job
 * is over. A record of another host is that host's to act on.
 */
export async function recoverInterruptedJob(config: JobGuardSettings, options: JobGuardOptions): Promise<JobRecord | undefined> {
  const dir = config.backupDir;
  // Temp files of a record write that was killed: garbage, as we hold the folder lock.
  await removeTempFiles(jobRecordPath(dir), 'any');
  const record = await readJobRecord(dir);
  if (!record) return undefined;
  if (jobIsRunning(record)) {
    options.reporter.warn(
      `${path.join(dir, JOB_RECORD_FILE)} names a job of host ${record.host} (${describeJobRecord(record)}); left for that host`,
    );
    return undefined;
  }
  if (record.servicesStopped.length === 0) {
    options.reporter.info(
      `An earlier ${record.job} was interrupted at step "${record.step}" (pid ${record.pid}, started ${record.startedAt}); it left no service stopped`,
    );
    await removeJobRecord(dir);
    return record;
  }
  options.reporter.warn(`An earlier ${record.job} was interrupted: ${describeJobRecord(record)}. Starting the services it stopped`);
  const manager = options.serviceManager ?? createServiceManager(config);
  const notStarted: string[] = [];
  for (const service of [...record.servicesStopped].reverse()) {
    try {
      if ((await manager.status(service)) === 'running') {
        options.reporter.info(`${service} is running already`);
        continue;
      }
      options.reporter.info(`Starting ${service} (stopped by the interrupted ${record.job})`);
      await manager.start(service);
    } catch (error) {
      notStarted.push(`${service}: ${messageOf(error)}`);
    }
  }
  if (notStarted.length > 0) {
    throw new DirtyStateError(`The services an interrupted ${record.job} left stopped could not all be started:`, {
      problems: notStarted,
      state: `these services are stopped now: ${notStarted.map((s) => s.split(':')[0]).join(', ')}; the record ${path.join(dir, JOB_RECORD_FILE)} still names them; nothing else was done`,
      hint: 'start them by hand (or fix what stops them), then run again',
    });
  }
  await removeJobRecord(dir);
  return record;
}
