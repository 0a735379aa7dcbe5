import type { Config } from '../config/config.js';
import { interruptedJobs } from '../schedule/interrupted.js';
import { fail, pass, type CheckResult } from './check.js';

/** A job killed with services stopped, or a restore killed half way: CUPM is not whole until it is healed. */
export async function jobChecks(config: Config): Promise<CheckResult[]> {
  const found = await interruptedJobs(config.backupDir);
  const results: CheckResult[] = [];
  const job = found.job;
  if (job && job.servicesStopped.length > 0) {
    results.push({
      ...fail(
        'jobs.services',
        'Services left down by an interrupted job',
        `${job.servicesStopped.join(', ')} stopped since ${job.servicesStoppedAt ?? job.startedAt} by a ${job.job} (pid ${job.pid} on ${job.host}) that ended at step "${job.step}"`,
        'run cupm-backup backup (or nightly): it starts them first; or start them by hand',
      ),
      record: job,
    });
  } else {
    results.push(pass('jobs.services', 'Services left down by an interrupted job', 'none'));
  }
  const restore = found.restore;
  if (restore) {
    results.push({
      ...fail(
        'jobs.restore',
        'Interrupted restore',
        `${restore.job} of ${restore.archive} interrupted at step "${restore.step ?? 'before its first step'}" (pid ${restore.pid} on ${restore.host}, started ${restore.startedAt})`,
        `run cupm-backup ${restore.job} ${restore.archive} again to finish or undo it`,
      ),
      record: restore,
    });
  } else if (found.problems.some((p) => p.includes('journal'))) {
    results.push(
      fail(
        'jobs.restore',
        'Interrupted restore',
        found.problems.find((p) => p.includes('journal'))!,
        'look at the journal and the server before anything else',
      ),
    );
  } else {
    results.push(pass('jobs.restore', 'Interrupted restore', 'none'));
  }
  return results;
}
