import fsp from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { JobFailedError } from '../errors.js';
import { runPlan, type PlanResult, type StepReport } from '../jobs/plan.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { withJobGuard } from '../pg/job-guard.js';
import { withServicesStopped } from '../services/scope.js';
import { journalPath, readJournal, removeJournal, writeJournal } from './journal.js';
import { describeJournal, restoreFailure, runFinishing } from './outcome.js';
import { formatPlan, type RestorePlan } from './plan.js';
import { checkHostOptions, prepareRestore, type PreparedRestore, type RestoreOptions } from './prepare.js';
import { recoverRestore, refuseForeignOrRunning, type RecoveryResult } from './recover.js';
import { finishingSteps, restoreSteps, type RestoreRuntime } from './steps.js';

export type { RestoreOptions } from './prepare.js';

export interface RestoreResult {
  dryRun: boolean;
  plan: RestorePlan;
  /** Every step with its status, the finishing ones included (empty for --dry-run). */
  steps: StepReport[];
  /** The interrupted restore finished first, if there was one. */
  recovery: RecoveryResult | null;
  nicesysengDeleted: number | null;
  /** Previous databases still there at the end (--keep-previous, or a drop that failed). */
  previousDatabases: string[];
  /** What the reader should know (skipped built-in database contents, a drop that failed...). */
  notes: string[];
  durationMs: number;
}

/**
 * Restores an archive onto this server (docs/design.md, "Restore, done safely"): a restore killed
 * earlier is noticed first and finished; then preflight (nothing touched), the plan (--dry-run
 * stops here), confirmation, and under the lock: services stopped, roles and files snapshotted,
 * the database moved aside, the dump streamed into psql, files written and rewritten, nicesyseng
 * purged, PostgreSQL restarted or its stale sessions ended, services started, previous dropped.
 */
export async function restore(config: Config, archive: string, options: RestoreOptions = {}, reporter: Reporter = silentReporter): Promise<RestoreResult> {
  const started = Date.now();
  checkHostOptions(options);
  const dir = config.backupDir;
  const pending = await readJournal(dir);
  let recovery: RecoveryResult | null = null;
  if (pending) {
    await refuseForeignOrRunning(pending, dir);
    const lines = describeJournal(pending, journalPath(dir));
    reporter.warn(`A restore was interrupted:\n  ${lines.join('\n  ')}`);
    if (!options.dryRun) {
      if (options.confirm && !(await options.confirm('Finish the interrupted restore now?', lines))) throw cancelled();
      recovery = await withJobGuard(config, 'restore (finishing an interrupted restore)', { reporter, serviceManager: options.serviceManager }, async () => {
        // Read again under the lock: another run may have finished it meanwhile.
        const current = await readJournal(dir);
        return current ? recoverRestore(config, current, { serviceManager: options.serviceManager }, reporter) : null;
      });
    }
  }

  const prepared = await prepareRestore(config, archive, options, reporter);
  try {
    const { plan } = prepared;
    if (pending && options.dryRun) plan.pendingRecovery = describeJournal(pending, journalPath(dir));
    const base = { plan, recovery, durationMs: 0 };
    if (options.dryRun) {
      return { ...base, dryRun: true, steps: [], nicesysengDeleted: null, previousDatabases: [], notes: [], durationMs: Date.now() - started };
    }
    const question = plan.command === 'migrate' ? 'Migrate this archive onto this server now?' : 'Restore this archive onto this server now?';
    if (options.confirm && !(await options.confirm(question, formatPlan(plan)))) throw cancelled();
    if (options.signal?.aborted) throw cancelled();
    const applied = await withJobGuard(config, plan.command, { reporter, serviceManager: prepared.manager }, () => applyRestore(prepared, reporter, options.signal));
    return { ...base, ...applied, dryRun: false, durationMs: Date.now() - started };
  } finally {
    await prepared.reader.close();
  }
}

function cancelled(): JobFailedError {
  return new JobFailedError('Cancelled: nothing was done.', { state: 'nothing was changed' });
}

/** Applies a prepared restore under the lock, journaling every step. */
async function applyRestore(prepared: PreparedRestore, reporter: Reporter, signal: AbortSignal | undefined) {
  const { config, journal } = prepared;
  const dir = config.backupDir;
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const rt: RestoreRuntime = {
    config,
    journal,
    save: () => writeJournal(dir, journal),
    psql: prepared.psql,
    dumpall: prepared.dumpall,
    manager: prepared.manager,
    load: { archive: prepared.archive, reader: prepared.reader, entry: prepared.dumpEntry, dropRestrict: prepared.dropRestrict },
    staged: prepared.staged,
    notes: [],
    signal,
  };
  for (const warning of prepared.plan.warnings) reporter.warn(warning);
  // A Ctrl-C stops before the next step (the load stops at once); what was done is undone.
  const steps = restoreSteps(journal).map((step) => ({
    ...step,
    run: async (ctx: RestoreRuntime, r: Reporter) => {
      if (signal?.aborted) throw new JobFailedError('The restore was cancelled (Ctrl-C or SIGTERM).');
      return step.run(ctx, r);
    },
  }));
  journal.steps = steps.map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  journal.finishing = finishingSteps(journal).map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  // The journal exists before anything changes: a run killed from here on is noticed by the next.
  await rt.save();

  let result: PlanResult | undefined;
  let servicesError: unknown;
  try {
    await withServicesStopped(prepared.manager, config.services, reporter, async () => {
      result = await runPlan(steps, rt, reporter, async (reports) => {
        journal.steps = reports.map((r) => ({ ...r }));
        await rt.save();
      });
    });
  } catch (error) {
    servicesError = error;
  }
  const job = prepared.plan.command === 'migrate' ? 'Migration' : 'Restore';
  if (!result) {
    // The services could not be stopped (and were started again): nothing else happened.
    await removeJournal(dir, journal);
    throw servicesError;
  }
  if (!result.ok) {
    const error = restoreFailure(job, result, steps, rt, servicesError);
    if (!result.undoFailed) await removeJournal(dir, journal);
    throw error;
  }
  if (servicesError !== undefined) {
    // Restored, but a service did not start: keep the previous database, say how to finish.
    await removeJournal(dir, journal);
    const previous = journal.renames.map((r) => r.to);
    if (servicesError instanceof Error && 'state' in servicesError) {
      (servicesError as { state?: string }).state = `the ${job.toLowerCase()} itself completed; services named above are stopped` +
        (previous.length > 0 ? `; the previous database is kept as ${previous.join(', ')} (drop it once CUPM runs)` : '');
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what withServicesStopped threw
    throw servicesError;
  }
  const finishing = await runFinishing(finishingSteps(journal), rt, reporter);
  await removeJournal(dir, journal);
  const dropped = finishing.find((r) => r.id === 'drop-previous')?.status === 'done';
  for (const note of rt.notes) reporter.warn(note);
  return {
    steps: [...result.steps, ...finishing],
    nicesysengDeleted: journal.purge?.deleted ?? null,
    previousDatabases: dropped ? [] : journal.renames.map((r) => r.to),
    notes: rt.notes,
  };
}
