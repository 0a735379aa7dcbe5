import fsp from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { JobFailedError, RefusedError } from '../errors.js';
import { runPlan, type PlanResult, type StepReport } from '../jobs/plan.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { withJobGuard } from '../pg/job-guard.js';
import { withServicesStopped } from '../services/scope.js';
import { writableProblem } from './atomic-file.js';
import { journalPath, readJournal, removeJournal, writeJournal, type RestoreJournal } from './journal.js';
import { completeRestore, describeJournal, keepServicesStopped, restoreFailure } from './outcome.js';
import { formatPlan, type RestorePlan } from './plan.js';
import { checkHostOptions, prepareRestore, type PreparedRestore, type RestoreOptions } from './prepare.js';
import { recoverRestore, refuseForeignOrRunning, type RecoveryResult } from './recover.js';
import { finishingSteps, restoreSteps, type RestoreRuntime } from './steps.js';
import { applyLive } from './live.js';

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
  /** From the first service asked to stop to the last one started again (0: none stopped; null: --dry-run). */
  servicesDownMs: number | null;
}

/**
 * Restores an archive onto this server (docs/design.md, "Restore, done safely"): a restore killed
 * earlier is noticed first and finished; then preflight (nothing touched), the plan (--dry-run
 * stops here), confirmation, and under the lock: services stopped, roles and files snapshotted,
 * the database moved aside, the dump streamed into psql, files written and rewritten, nicesyseng
 * purged, PostgreSQL restarted or its stale sessions ended, services started, previous dropped.
 */
export async function restore(
  config: Config,
  archive: string,
  options: RestoreOptions = {},
  reporter: Reporter = silentReporter,
): Promise<RestoreResult> {
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
      recovery = await withJobGuard(
        config,
        'restore (finishing an interrupted restore)',
        { reporter, serviceManager: options.serviceManager },
        async () => {
          // Read again under the lock: another run may have finished it meanwhile.
          const current = await readJournal(dir);
          return current ? recoverRestore(config, current, { serviceManager: options.serviceManager }, reporter) : null;
        },
      );
    }
  }

  try {
    return await restoreAfterRecovery(config, archive, options, reporter, { pending, recovery, started });
  } catch (error) {
    // The recovery happened whatever failed after it: the failure still tells of it (--json `recovery`).
    if (recovery && error instanceof Error) recoveries.set(error, recovery);
    throw error;
  }
}

/** The failures of a restore that had finished an interrupted one first, with that recovery. */
const recoveries = new WeakMap<Error, RecoveryResult>();

/** The interrupted restore a failed restore finished (or undid) before it failed, if it did. */
export function recoveryBefore(error: unknown): RecoveryResult | undefined {
  return error instanceof Error ? recoveries.get(error) : undefined;
}

/** The restore asked for, once an interrupted one is finished. */
async function restoreAfterRecovery(
  config: Config,
  archive: string,
  options: RestoreOptions,
  reporter: Reporter,
  { pending, recovery, started }: { pending: RestoreJournal | undefined; recovery: RecoveryResult | null; started: number },
): Promise<RestoreResult> {
  const dir = config.backupDir;
  const prepared = await prepareRestore(config, archive, options, reporter);
  try {
    const { plan } = prepared;
    if (pending && options.dryRun) plan.pendingRecovery = describeJournal(pending, journalPath(dir));
    const base = { plan, recovery, durationMs: 0 };
    if (options.dryRun) {
      return {
        ...base,
        dryRun: true,
        steps: [],
        nicesysengDeleted: null,
        previousDatabases: [],
        notes: [],
        durationMs: Date.now() - started,
        servicesDownMs: null,
      };
    }
    await refuseUnwritableFiles(prepared.journal);
    const question =
      plan.command === 'migrate' ? 'Migrate this archive onto this server now?' : 'Restore this archive onto this server now?';
    if (options.confirm && !(await options.confirm(question, formatPlan(plan)))) throw cancelled();
    if (options.signal?.aborted) throw cancelled();
    const applied = await withJobGuard(config, plan.command, { reporter, serviceManager: prepared.manager }, () => {
      for (const warning of plan.warnings) reporter.warn(warning);
      return prepared.journal.live
        ? applyLive(runtimeOf(prepared, options.signal), plan.command === 'migrate' ? 'Migration' : 'Restore', reporter)
        : applyRestore(prepared, reporter, options.signal);
    });
    return { ...base, ...applied, dryRun: false, durationMs: Date.now() - started };
  } finally {
    await prepared.reader.close();
  }
}

/**
 * Before any service stops: every file the restore will write can be written the way it is
 * written (a temp file created and removed beside it), or exit 4 naming those that cannot.
 */
async function refuseUnwritableFiles(journal: RestoreJournal): Promise<void> {
  const problems: string[] = [];
  for (const file of journal.files) {
    const problem = await writableProblem(file.target);
    if (problem) problems.push(problem);
  }
  if (problems.length === 0) return;
  throw new RefusedError(`The ${journal.command} cannot write ${problems.length} of the CUPM files it would put back:`, {
    problems,
    state: 'nothing was changed; no service was stopped',
    hint: 'make those folders writable for this user (a read-only mount, a file attribute, permissions), then run it again; or pass --no-files to restore only the database',
  });
}

function cancelled(): JobFailedError {
  return new JobFailedError('Cancelled: nothing was done.', { state: 'nothing was changed' });
}

/** What the steps of a prepared restore work with. */
function runtimeOf(prepared: PreparedRestore, signal: AbortSignal | undefined): RestoreRuntime {
  const { config, journal } = prepared;
  return {
    config,
    journal,
    save: async () => {
      await fsp.mkdir(config.backupDir, { recursive: true, mode: 0o700 });
      await writeJournal(config.backupDir, journal);
    },
    psql: prepared.psql,
    dumpall: prepared.dumpall,
    manager: prepared.manager,
    load: {
      archive: prepared.archive,
      reader: prepared.reader,
      entry: prepared.dumpEntry,
      dropRestrict: prepared.dropRestrict,
      dumpIncomplete: prepared.manifest.dumpComplete === false,
    },
    staged: prepared.staged,
    notes: [],
    signal,
  };
}

/** Applies a prepared restore under the lock, journaling every step. */
async function applyRestore(prepared: PreparedRestore, reporter: Reporter, signal: AbortSignal | undefined) {
  const { config, journal } = prepared;
  const dir = config.backupDir;
  const rt = runtimeOf(prepared, signal);
  if (prepared.plan.plain) reporter.info(`The services stop for the whole ${journal.command} (the plain restore): ${prepared.plan.plain}`);
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
  let downFrom: number | undefined;
  try {
    await withServicesStopped(
      prepared.manager,
      config.services,
      reporter,
      async (record) => {
        result = await runPlan(steps, rt, reporter, async (reports) => {
          journal.steps = reports.map((r) => ({ ...r }));
          await rt.save();
        });
        if (result.undoFailed) await keepServicesStopped(record, rt);
      },
      {
        onStopped: async () => {
          downFrom ??= Date.now();
        },
      },
    );
  } catch (error) {
    servicesError = error;
  }
  const servicesDownMs = downFrom === undefined ? 0 : Date.now() - downFrom;
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
  const { finishing, previousDatabases } = await completeRestore(rt, job, servicesError, reporter);
  return {
    steps: [...result.steps, ...finishing],
    nicesysengDeleted: journal.purge?.deleted ?? null,
    previousDatabases,
    notes: rt.notes,
    servicesDownMs,
  };
}
