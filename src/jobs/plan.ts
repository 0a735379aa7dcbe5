import { CupmError, DirtyStateError, EXIT, messageOf, type ExitCode } from '../errors.js';
import type { Reporter } from './reporter.js';

/**
 * A step of a job: what it is, what it will change (shown by --dry-run), how to do it and how to
 * undo it. Steps are declarative so that a plan can be printed, journaled and tested before it runs.
 */
export interface Step<C> {
  id: string;
  title: string;
  /** What this step will change, one line each, for --dry-run and confirmation prompts. */
  changes?: string[];
  /** Does the work; may return a short result ("deleted 3 rows"). */
  run(ctx: C, reporter: Reporter): Promise<string | void>;
  /** Puts back what run changed. Steps without undo change nothing that needs putting back. */
  undo?(ctx: C, reporter: Reporter): Promise<void>;
  /**
   * Set when the step was done already (by a run that was interrupted): it is not run nor
   * announced, it counts as done with this detail, and a later failure still undoes it.
   */
  doneBefore?: string;
}

export type StepStatus = 'not-run' | 'running' | 'done' | 'failed' | 'undone' | 'undo-failed';

/** How far a step got: every step starts as not-run and is updated as the plan runs. */
export interface StepReport {
  id: string;
  title: string;
  status: StepStatus;
  detail?: string;
  error?: string;
  undoError?: string;
}

export interface PlanResult {
  ok: boolean;
  steps: StepReport[];
  /** The error that stopped the plan. */
  error?: unknown;
  /** True when some undo failed: the system is not as it was (exit 5). */
  undoFailed: boolean;
}

/** Called as the plan advances, e.g. to keep an on-disk journal a later run can recover from. */
export interface PlanObserver {
  (reports: readonly StepReport[]): Promise<void> | void;
}

/**
 * Runs the steps in order. On a failure, undoes the completed steps in reverse (the failed one
 * too, if it has an undo: it may have changed something before failing) and reports every step as
 * done / undone / failed / undo-failed / not-run. Never throws for a step's failure.
 */
export async function runPlan<C>(
  steps: readonly Step<C>[],
  ctx: C,
  reporter: Reporter,
  observe: PlanObserver = () => {},
): Promise<PlanResult> {
  const reports: StepReport[] = steps.map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  let failedAt = -1;
  let error: unknown;
  for (const [i, step] of steps.entries()) {
    const report = reports[i]!;
    if (step.doneBefore !== undefined) {
      report.status = 'done';
      report.detail = step.doneBefore;
      continue;
    }
    report.status = 'running';
    await observe(reports);
    reporter.info(step.title);
    try {
      const detail = await step.run(ctx, reporter);
      if (detail) report.detail = detail;
      report.status = 'done';
      await observe(reports);
    } catch (e) {
      report.status = 'failed';
      report.error = messageOf(e);
      error = e;
      failedAt = i;
      await observe(reports);
      break;
    }
  }
  if (failedAt < 0) return { ok: true, steps: reports, undoFailed: false };

  const undoFailed = await undoSteps(steps, reports, ctx, reporter, observe);
  return { ok: false, steps: reports, error, undoFailed };
}

/**
 * The one undo loop: undoes, in reverse, every step whose report says it did something (running,
 * done, failed, undo-failed; not not-run nor undone) and that has an undo, updating its report
 * (done and running become undone; a failed step stays failed, its error kept, unless `earlierRun`;
 * an undo that throws makes it undo-failed) and calling `observe` after each. Used by runPlan on a
 * failure, by a restore whose first phase must go when a later phase failed, and by the recovery of
 * an interrupted run (`earlierRun`: the reports are that run's, so a step it failed and this run
 * undid is undone). Returns true when an undo failed: the system is not as it was.
 */
export async function undoSteps<C>(
  steps: readonly Step<C>[],
  reports: StepReport[],
  ctx: C,
  reporter: Reporter,
  observe: PlanObserver = () => {},
  { earlierRun = false }: { earlierRun?: boolean } = {},
): Promise<boolean> {
  let undoFailed = false;
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i]!;
    const report = reports[i]!;
    if (!step.undo || report.status === 'not-run' || report.status === 'undone') continue;
    reporter.info(`Undoing: ${step.title}`);
    try {
      await step.undo(ctx, reporter);
      if (report.status !== 'failed' || earlierRun) report.status = 'undone';
      delete report.undoError;
    } catch (e) {
      report.status = 'undo-failed';
      report.undoError = messageOf(e);
      undoFailed = true;
    }
    await observe(reports);
  }
  return undoFailed;
}

/** One line per step: "[done] Stop services", for messages and --dry-run. */
export function formatStepReports(reports: readonly StepReport[]): string[] {
  return reports.map((r) => {
    const extra = r.undoError ? ` (undo failed: ${r.undoError})` : r.error ? ` (${r.error})` : r.detail ? ` (${r.detail})` : '';
    return `[${r.status}] ${r.title}${extra}`;
  });
}

/** The error a failed plan ends with: exit 1 when everything was undone, 5 when not. */
export function planFailure(jobName: string, result: PlanResult, dirtyHint: string): CupmError {
  const failed = result.steps.find((s) => s.status === 'failed' || (s.status === 'undo-failed' && s.error));
  const cause = result.error instanceof CupmError ? result.error.describe() : messageOf(result.error);
  const problems = formatStepReports(result.steps);
  if (result.undoFailed) {
    return new DirtyStateError(`${jobName} failed at "${failed?.title ?? '?'}" and could not undo everything: ${cause}`, {
      problems,
      state: 'some changes were NOT put back (see the steps marked undo-failed above)',
      hint: dirtyHint,
      cause: result.error,
    });
  }
  // A refusal or invalid archive found inside a step keeps its own exit code; anything else is 1.
  const exitCode: ExitCode =
    result.error instanceof CupmError && result.error.exitCode !== EXIT.dirty ? result.error.exitCode : EXIT.failed;
  return new CupmError(exitCode, `${jobName} failed at "${failed?.title ?? '?'}": ${cause}`, {
    problems,
    state: 'every change was undone',
    cause: result.error,
  });
}
