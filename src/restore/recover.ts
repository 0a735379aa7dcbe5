import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { CupmError, DirtyStateError, JobFailedError, RefusedError, messageOf } from '../errors.js';
import { LOCK_FILE, readHolder } from '../jobs/lock.js';
import { runPlan, undoSteps, type StepReport } from '../jobs/plan.js';
import type { Reporter } from '../jobs/reporter.js';
import { findPgTool } from '../pg/tools.js';
import { createServiceManager } from '../services/index.js';
import { withServicesStopped, type ServiceScopeRecord } from '../services/scope.js';
import type { ServiceManager } from '../services/service-manager.js';
import { removeTempFiles } from '../file-system.js';
import { journalPath, removeJournal, writeJournal, type RestoreJournal } from './journal.js';
import { describeJournal, keepServicesStopped, reportsFor, restoreFailure, runFinishing, willComplete } from './outcome.js';
import { finishingSteps, killOrphanPsqls, restoreSteps, type RestoreRuntime } from './steps.js';
import { liveSteps } from './live.js';

export interface RecoveryResult {
  outcome: 'completed' | 'undone';
  archive: string;
  startedAt: string;
  steps: StepReport[];
  notes: string[];
}

/**
 * Refuses (exit 4) a journal this run must not act on: one written on another host (a shared
 * backup folder: its databases and files are that host's), or one whose restore is running now.
 */
export async function refuseForeignOrRunning(journal: RestoreJournal, dir: string): Promise<void> {
  if (journal.host !== os.hostname()) {
    throw new RefusedError(`A ${journal.command} interrupted on host ${journal.host} left its journal in ${journalPath(dir)}.`, {
      state: 'nothing was changed here',
      hint: `run cupm-backup there to finish it (the journal names that host's database and files); or, if that host is gone, move the journal away`,
    });
  }
  // Running: it still holds the lock (the lock file names it) and its process exists.
  const holder = await readHolder(path.join(dir, LOCK_FILE));
  if (holder?.pid !== journal.pid || holder.host !== journal.host) return;
  try {
    process.kill(journal.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
  }
  throw new RefusedError(
    `A ${journal.command} is running right now: pid ${journal.pid}, started ${journal.startedAt} (journal ${journalPath(dir)}).`,
    {
      state: 'nothing was changed',
      hint: 'wait for it to finish',
    },
  );
}

/**
 * Finishes a restore that was killed (power cut, kill -9) from its journal: completes it when the
 * dump had been loaded in full, undoes it otherwise (see willComplete). Services are stopped while
 * it works (someone may have started them since) and end as they were before that restore. The
 * journal is removed when the server is clean again; on a failed undo it stays (exit 5).
 */
export async function recoverRestore(
  config: Config,
  journal: RestoreJournal,
  options: { serviceManager?: ServiceManager | undefined },
  reporter: Reporter,
): Promise<RecoveryResult> {
  const dir = config.backupDir;
  const complete = willComplete(journal);
  reporter.info(`Finishing the interrupted restore: ${describeJournal(journal, journalPath(dir)).join('; ')}`);
  const manager = options.serviceManager ?? createServiceManager(config);
  const rt: RestoreRuntime = {
    config,
    journal,
    save: () => writeJournal(dir, journal),
    psql: await findPgTool(config, 'psql'),
    dumpall: await findPgTool(config, 'pg_dumpall'),
    manager,
    notes: [],
  };
  // The killed run's psql reads on until its input ends: stop it before touching its database.
  await killOrphanPsqls(journal);
  // A write it was killed in left its temp file beside the file (or the journal): never the next run's.
  for (const file of [...journal.files.map((f) => f.target), journalPath(dir)]) {
    for (const temp of await removeTempFiles(file, journal.pid)) reporter.info(`Removed ${temp}, a temp file the interrupted restore left`);
  }
  const steps = journal.live ? liveSteps(journal) : restoreSteps(journal);
  const known = reportsFor(steps, journal.steps);
  // A live restore killed before its outage never stopped CUPM: its undo does not either.
  const keepRunning = !complete && journal.live?.outage === false;
  // Steps done before the interruption count as done, unannounced; the rest run (or, undoing, are undone).
  const resumed = steps.map((step, i) =>
    complete && known[i]!.status === 'done' ? { ...step, doneBefore: known[i]!.detail ?? 'done before the interruption' } : step,
  );
  const work = complete
    ? resumed.filter((s) => s.doneBefore === undefined)
    : steps.filter((s, i) => s.undo && known[i]!.status !== 'not-run' && known[i]!.status !== 'undone');
  let result: Awaited<ReturnType<typeof runPlan<RestoreRuntime>>> | undefined;
  let servicesError: unknown;
  const recover = async (record: ServiceScopeRecord) => {
    if (complete) {
      result = await runPlan(resumed, rt, reporter, async (reports) => {
        journal.steps = reports.map((r) => ({ ...r }));
        await rt.save();
      });
    } else {
      result = await undoStarted(steps, known, rt, reporter);
    }
    if (result.undoFailed) await keepServicesStopped(record, rt);
    else if (journal.servicesKeptStopped) {
      delete journal.servicesKeptStopped;
      await rt.save();
    }
  };
  try {
    // Only when there is something to run or undo are the services stopped (someone may have started them since).
    if (work.length > 0 && !keepRunning) await withServicesStopped(manager, config.services, reporter, recover);
    else await recover({ stopped: [], alreadyStopped: [] });
  } catch (error) {
    servicesError = error;
  }
  const notStarted = keepRunning || result?.undoFailed ? [] : await startAsBefore(manager, journal, reporter);

  if (!result) throw servicesError;
  if (result.undoFailed) {
    throw restoreFailure(
      'Finishing the interrupted restore',
      result,
      steps,
      rt,
      servicesError ?? (notStarted.length ? new Error(notStarted.join('; ')) : undefined),
    );
  }
  if (servicesError !== undefined || notStarted.length > 0) {
    await removeJournal(dir, journal);
    throw new DirtyStateError('The interrupted restore was finished, but services could not be started again:', {
      problems: [
        ...notStarted,
        ...(servicesError instanceof CupmError ? servicesError.problems : servicesError ? [messageOf(servicesError)] : []),
      ],
      state: `the database, roles and files are consistent (${result.ok ? 'restore completed' : 'restore undone'}); services listed above are stopped`,
      hint: 'start them by hand, then run your command again',
    });
  }
  let finishing: StepReport[] = [];
  if (result.ok && complete) {
    const doneBefore = new Set(journal.finishing.filter((r) => r.status === 'done').map((r) => r.id));
    finishing = (await runFinishing(finishingSteps(journal), rt, reporter)).filter((r) => !doneBefore.has(r.id));
  }
  await removeJournal(dir, journal);
  // What this run did: the steps it ran or undid, not those done or undone before it.
  const ran = result.steps.filter((r, i) =>
    complete ? (resumed[i]!.doneBefore === undefined ? r.status !== 'not-run' : r.status !== 'done') : work.includes(steps[i]!),
  );
  const outcome = result.ok && complete ? 'completed' : 'undone';
  for (const note of rt.notes) reporter.warn(note);
  reporter.info(`The interrupted restore of ${journal.archive} was ${outcome}.`);
  return { outcome, archive: journal.archive, startedAt: journal.startedAt, steps: [...ran, ...finishing], notes: rt.notes };
}

/** Undoes, in reverse, every step the interrupted run had started and not already undone. */
async function undoStarted(steps: ReturnType<typeof restoreSteps>, reports: StepReport[], rt: RestoreRuntime, reporter: Reporter) {
  const observe = async (known: readonly StepReport[]) => {
    rt.journal.steps = known.map((r) => ({ ...r }));
    await rt.save();
  };
  const undoFailed = await undoSteps(steps, reports, rt, reporter, observe, { earlierRun: true });
  // Shaped like a failed plan, so the failure message is the same as a live run's.
  const reached = reports.filter((r) => r.status !== 'not-run').pop();
  const error: unknown = new JobFailedError(`the restore had been interrupted${reached ? ` at "${reached.title}"` : ''}`);
  return { ok: false, steps: reports, undoFailed, error };
}

/** Starts, in reverse stop order, the services that ran before the interrupted restore and are stopped now. */
async function startAsBefore(manager: ServiceManager, journal: RestoreJournal, reporter: Reporter): Promise<string[]> {
  const failed: string[] = [];
  for (const service of [...journal.services.wereRunning].reverse()) {
    try {
      if ((await manager.status(service)) === 'running') continue;
      reporter.info(`Starting ${service} (it ran before the interrupted restore)`);
      await manager.start(service);
    } catch (error) {
      failed.push(`${service}: ${messageOf(error)}`);
    }
  }
  return failed;
}
