import { CupmError, messageOf } from '../errors.js';
import type { Step } from '../jobs/plan.js';
import type { Reporter } from '../jobs/reporter.js';

/** What a clean-up step found: it removed something, or there was nothing left to remove. */
export interface CleanupOutcome {
  status: 'done' | 'absent';
  detail?: string;
}

/**
 * A clean-up step: the shape of a plan Step (id, title, what it changes) without undo, and a run
 * that says whether it removed something or found it gone already. Each run looks first, so a
 * step is idempotent and a second run of the whole plan continues where the first one stopped.
 */
export interface CleanupStep<C> extends Omit<Step<C>, 'run' | 'undo'> {
  run(ctx: C, reporter: Reporter): Promise<CleanupOutcome>;
}

export type CleanupStatus = 'not-run' | 'done' | 'absent' | 'failed';

/** How a step ended, for the summary and --json. */
export interface CleanupReport {
  id: string;
  title: string;
  status: CleanupStatus;
  detail?: string;
  error?: string;
  hint?: string;
}

/** Words for the statuses, as the summary shows them. */
export const STATUS_WORDS: Record<CleanupStatus, string> = {
  'not-run': 'not run',
  done: 'done',
  absent: 'already absent',
  failed: 'FAILED',
};

/**
 * Runs every step in order and goes on after a failure. Not runPlan: runPlan undoes the finished
 * steps when one fails, and a clean-up has nothing to put back — undoing it would mean restoring
 * the broken install it removes. What a clean-up needs instead is that one stuck service or one
 * busy folder does not hide the state of everything else, and that a second run finishes the job.
 *
 * Ctrl-C / SIGTERM (`signal`): the step in flight finishes (its sc.exe and net.exe runs are
 * shielded from the terminal's signal), then no further step starts; those keep `not-run`.
 */
export async function runCleanupSteps<C>(
  steps: readonly CleanupStep<C>[],
  ctx: C,
  reporter: Reporter,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<CleanupReport[]> {
  const reports: CleanupReport[] = steps.map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  for (const [i, step] of steps.entries()) {
    const report = reports[i]!;
    if (options.signal?.aborted) {
      reporter.warn(`cancelled (Ctrl-C or SIGTERM) after step ${i} of ${steps.length}: no further step is run`);
      break;
    }
    reporter.info(`[${i + 1}/${steps.length}] ${step.title}`);
    try {
      const outcome = await step.run(ctx, reporter);
      report.status = outcome.status;
      if (outcome.detail) report.detail = outcome.detail;
      reporter.info(`      ${STATUS_WORDS[outcome.status]}${outcome.detail ? `: ${outcome.detail}` : ''}`);
    } catch (error) {
      report.status = 'failed';
      report.error = error instanceof CupmError ? [error.message, error.state].filter(Boolean).join(' ') : messageOf(error);
      if (error instanceof CupmError && error.hint) report.hint = error.hint;
      reporter.warn(`step ${i + 1} failed: ${report.error}${report.hint ? `\n      what to do: ${report.hint}` : ''}`);
    }
  }
  return reports;
}

/** One line per step: "[already absent] Delete the service Apache2", for summaries. */
export function formatCleanupReports(reports: readonly CleanupReport[]): string[] {
  return reports.map((r) => {
    const extra = r.error ? `: ${r.error}` : r.detail ? `: ${r.detail}` : '';
    return `[${STATUS_WORDS[r.status]}] ${r.title}${extra}`;
  });
}
