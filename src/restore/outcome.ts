import { CupmError, DirtyStateError, EXIT, messageOf } from '../errors.js';
import type { PlanResult, StepReport } from '../jobs/plan.js';
import type { Reporter } from '../jobs/reporter.js';
import type { ServiceScopeRecord } from '../services/scope.js';
import { journalPath, removeJournal, type RestoreJournal } from './journal.js';
import { finishingSteps, type RestoreRuntime, type RestoreStep } from './steps.js';

/**
 * The error a failed restore ends with. Everything undone: exit 1 (3 when the archive turned out
 * bad while loading), state "as before". An undo failed: exit 5, with the state of the database,
 * roles, files and services one by one, and the commands to finish by hand.
 */
export function restoreFailure(
  job: string,
  result: PlanResult,
  steps: RestoreStep[],
  rt: RestoreRuntime,
  servicesError: unknown,
): CupmError {
  const kept = rt.journal.servicesKeptStopped;
  const services = kept
    ? `services: LEFT STOPPED: ${kept.services.join(', ')} (${kept.reason}); the run that finishes the undo starts them`
    : rt.journal.live?.outage === false
      ? 'services: never stopped (CUPM ran on its database throughout)'
      : servicesError === undefined
        ? 'services: the ones stopped for the restore are running again'
        : `services: NOT all running again: ${describe(servicesError)}`;
  const cause = result.error instanceof CupmError ? result.error.describe() : messageOf(result.error);
  const failed = result.steps.find((s) => s.error);
  const reports = stepLines(result.steps, steps);
  if (!result.undoFailed) {
    const state = `every change was undone: the database, roles and files are as before; ${services}`;
    // No step failed: the services could not be stopped, or it was cancelled before they were.
    const message = `${job} failed${failed ? ` at "${failed.title}"` : ''}: ${cause}`;
    if (servicesError === undefined) {
      // A bad archive found while loading keeps its exit code (3); anything else is 1.
      const exitCode = result.error instanceof CupmError && result.error.exitCode !== EXIT.dirty ? result.error.exitCode : EXIT.failed;
      return new CupmError(exitCode, message, { problems: reports, state, cause: result.error });
    }
    return new DirtyStateError(message, {
      problems: [...reports, ...(servicesError instanceof CupmError ? servicesError.problems : [])],
      state,
      hint: servicesError instanceof CupmError ? servicesError.hint : undefined,
      cause: result.error,
    });
  }
  const status = (id: string) => result.steps.find((s) => s.id === id);
  const first = (text: string | undefined) => (text ?? '').split('\n')[0];
  const lines: string[] = [];
  const load = status('load');
  const aside = status('move-aside');
  const files = status('files');
  for (const { from, to } of rt.journal.renames) {
    if (aside?.status === 'undo-failed')
      lines.push(
        `database: the original "${from}" is still named "${to}"${load?.status === 'undo-failed' ? `, and a half-restored "${from}" may exist` : ''}`,
      );
    else if (aside?.status === 'undone') lines.push(`database: the original "${from}" is back under its name`);
  }
  if (load?.status === 'undo-failed') {
    if (rt.journal.renames.length === 0) lines.push('database: the half-restored databases may still exist');
    lines.push(`roles: may still be as the dump set them (their snapshot: ${rt.journal.roles?.snapshot ?? 'none'})`);
  } else if (load?.status === 'undone' || load?.status === 'failed') {
    lines.push('roles: as before');
  }
  if (files?.status === 'undo-failed')
    lines.push(`CUPM files: NOT all put back (${first(files.undoError)}); the copies are in ${rt.journal.snapshotDir}`);
  else if (files?.status === 'undone' || files?.status === 'failed') lines.push('CUPM files: as before');
  else lines.push('CUPM files: untouched');
  lines.push(services);
  const undoErrors = [...new Set(result.steps.filter((r) => r.undoError).map((r) => first(r.undoError)))];
  lines.push(`the undo stopped on: ${undoErrors.join('; ')}`);
  // By hand, in the order the undo runs: last step first.
  const manual = [...steps]
    .reverse()
    .filter((s) => result.steps.find((r) => r.id === s.id)?.status === 'undo-failed')
    .flatMap((s) => s.manualUndo?.(rt) ?? []);
  return new DirtyStateError(`${job} failed at "${failed?.title ?? '?'}" and could NOT undo everything: ${cause}`, {
    problems: reports,
    state: `\n  ${lines.join('\n  ')}`,
    hint: [
      `fix what stopped the undo (is PostgreSQL running and reachable?), then run the restore again: it finds the journal ${journalPath(rt.config.backupDir)} and finishes the undo first${kept ? ', then starts the services' : ''}`,
      ...(manual.length > 0
        ? [
            `or finish by hand (PGHOST/PGPORT/PGUSER as configured):\n      ${manual.join('\n      ')}\n    then delete ${journalPath(rt.config.backupDir)} and ${rt.journal.snapshotDir}`,
          ]
        : []),
    ].join('; '),
    cause: result.error,
  });
}

/**
 * After an undo that could not finish: the services this run stopped stay stopped (CUPM must not
 * run on a database that is not whole, where it could write what the later undo drops), and the
 * journal says which and why, for the exit-5 report and the run that finishes the undo.
 */
export async function keepServicesStopped(record: ServiceScopeRecord, rt: RestoreRuntime): Promise<void> {
  const reason = 'the undo could not finish: the database is not whole, and CUPM must not run on it';
  record.keepStopped = reason;
  const services = [...new Set([...record.stopped, ...rt.journal.services.wereRunning])];
  rt.journal.servicesKeptStopped = { services, reason };
  await rt.save();
}

/**
 * One line per step, errors cut to their first line (the whole error is the message above). A
 * failed step whose own undo worked says so: "[failed, undone]".
 */
export function stepLines(reports: readonly StepReport[], steps: readonly RestoreStep[] = []): string[] {
  return reports.map((r) => {
    const first = (text: string) => text.split('\n')[0]!;
    const undone = r.status === 'failed' && !r.undoError && steps.some((s) => s.id === r.id && s.undo !== undefined);
    const status = undone ? 'failed, undone' : r.status;
    const extra = r.undoError
      ? ` (undo failed: ${first(r.undoError)})`
      : r.error
        ? ` (${first(r.error)})`
        : r.detail
          ? ` (${r.detail})`
          : '';
    return `[${status}] ${r.title}${extra}`;
  });
}

/**
 * Runs the steps that come once the services are back (drop the previous database, ANALYZE, the admin
 * password). The restore is complete by then: a failure is a warning that says what to do.
 */
export async function runFinishing(steps: RestoreStep[], rt: RestoreRuntime, reporter: Reporter): Promise<StepReport[]> {
  const reports: StepReport[] = steps.map((s) => {
    const known = rt.journal.finishing.find((r) => r.id === s.id);
    return known?.status === 'done' ? { ...known } : { id: s.id, title: s.title, status: 'not-run' };
  });
  for (const [i, step] of steps.entries()) {
    const report = reports[i]!;
    if (report.status === 'done') continue;
    reporter.info(step.title);
    report.status = 'running';
    rt.journal.finishing = reports.map((r) => ({ ...r }));
    await rt.save();
    try {
      const detail = await step.run(rt, reporter);
      report.status = 'done';
      if (detail) report.detail = detail;
    } catch (error) {
      report.status = 'failed';
      report.error = messageOf(error);
      const manual = step.manualUndo?.(rt) ?? [];
      rt.notes.push(
        `"${step.title}" failed: ${report.error}. The restore itself is complete.${manual.length > 0 ? ` To do it by hand: ${manual.join('; ')}` : ''}`,
      );
    }
    rt.journal.finishing = reports.map((r) => ({ ...r }));
    await rt.save();
  }
  return reports;
}

/** The step reports of a journal, lined up with the steps (missing ones: not-run). */
export function reportsFor(steps: RestoreStep[], known: StepReport[]): StepReport[] {
  return steps.map((s) => ({ ...(known.find((r) => r.id === s.id) ?? { id: s.id, title: s.title, status: 'not-run' as const }) }));
}

/** How far the journal says the interrupted restore got, for the warning and the plan. */
export function describeJournal(journal: RestoreJournal, file: string): string[] {
  const reached = [...journal.steps].reverse().find((s) => s.status !== 'not-run');
  return [
    `an interrupted ${journal.command} of ${journal.archive} (started ${journal.startedAt} by pid ${journal.pid} on ${journal.host}; journal ${file})`,
    `it got to: ${reached ? `"${reached.title}" (${reached.status})` : 'before its first step'}`,
    ...(journal.live
      ? describeLiveJournal(journal, journal.live)
      : [
          willComplete(journal)
            ? 'it is completed: the dump had been loaded in full (files, purge, PostgreSQL, services, then the previous database is dropped)'
            : 'it is undone: the half-restored database is dropped, the previous one renamed back, roles and files put back, services started as they were',
        ]),
    ...(journal.servicesKeptStopped
      ? [
          `the CUPM services ${journal.servicesKeptStopped.services.join(', ')} were left stopped (${journal.servicesKeptStopped.reason}); they are started once the undo is finished`,
        ]
      : []),
  ];
}

/**
 * What is true of an interrupted live restore: whether CUPM was stopped at all, where the loaded
 * database is (incoming, or already swapped in), and what the next run does with it.
 */
function describeLiveJournal(journal: RestoreJournal, live: NonNullable<RestoreJournal['live']>): string[] {
  const status = (id: string) => journal.steps.find((s) => s.id === id)?.status ?? 'not-run';
  const incoming = live.incoming.map((d) => d.incoming).join(', ');
  const aside = (name: string) => journal.renames.find((r) => r.from === name)?.to;
  const swapNames = live.incoming.map((d) => {
    const previous = aside(d.name);
    return previous
      ? `${d.name} (the database CUPM ran on) becomes ${previous}, ${d.incoming} (the restored one) becomes ${d.name}`
      : `${d.incoming} (the restored one) becomes ${d.name}`;
  });
  if (!willComplete(journal)) {
    if (!live.outage)
      return [
        `CUPM was never stopped: it still runs on ${live.incoming.map((d) => d.name).join(', ')}, untouched`,
        `it is undone without stopping CUPM: the incoming database ${incoming} is dropped, the roles put back from the snapshot`,
      ];
    const back = live.incoming.flatMap((d) => (aside(d.name) ? [`${aside(d.name)} back to ${d.name}`] : []));
    return [
      'CUPM was stopped for the swap',
      `it is undone: the swap renamed back as far as it got${back.length > 0 ? ` (${back.join('; ')})` : ''}, the loaded database dropped (${incoming}), roles and files put back, services started as they were`,
    ];
  }
  const swap = status('swap');
  const swapped = swap === 'done';
  const where = swapped
    ? `the swap was done: ${swapNames.join('; ')}`
    : swap === 'running'
      ? `it was killed during the swap (${swapNames.join('; ')}): one rename may be done and the other not; the next run looks at which names exist and completes the swap`
      : `the dump had been loaded in full into ${incoming}; the swap is still to do (${swapNames.join('; ')})`;
  return [
    live.outage ? 'CUPM was stopped for the swap' : 'CUPM was never stopped: it still runs on the database it had',
    where,
    `it is completed: ${swapped ? '' : 'CUPM stopped for the swap, '}${journal.files.length > 0 ? 'files, ' : ''}PostgreSQL, services started${journal.renames.length > 0 && !journal.keepPrevious ? ', then the previous database is dropped' : ''}`,
  ];
}

/**
 * A killed restore is completed when its load had finished (the database is whole: what is left
 * is idempotent: files, purge, restart, services); otherwise, or when it was already undoing after
 * a failure, it is undone, back to the database it had moved aside.
 */
export function willComplete(journal: RestoreJournal): boolean {
  const load = journal.steps.find((s) => s.id === 'load');
  const undoing = journal.steps.some((s) => s.status === 'failed' || s.status === 'undone' || s.status === 'undo-failed');
  return load?.status === 'done' && !undoing;
}

function describe(error: unknown): string {
  return error instanceof CupmError ? `${error.message} ${error.problems.join('; ')}` : messageOf(error);
}

/**
 * The end of a restore whose steps all ran. A service that did not start is rethrown (the
 * restore itself is complete: the previous database is kept, the message says so); otherwise the
 * finishing steps run. The journal goes either way. Returns the finishing reports and the
 * databases still aside.
 */
export async function completeRestore(
  rt: RestoreRuntime,
  job: string,
  servicesError: unknown,
  reporter: Reporter,
): Promise<{ finishing: StepReport[]; previousDatabases: string[] }> {
  const { journal } = rt;
  const dir = rt.config.backupDir;
  if (servicesError !== undefined) {
    // Restored, but a service did not start: keep the previous database, say how to finish.
    await removeJournal(dir, journal);
    const previous = journal.renames.map((r) => r.to);
    const state =
      `the ${job.toLowerCase()} itself completed; services named above are stopped` +
      (previous.length > 0 ? `; the previous database is kept as ${previous.join(', ')} (drop it once CUPM runs)` : '');
    // What withServicesStopped throws when the job went through and a service did not start: told
    // again with the restore's own state (a new error: the one thrown stays as it was made).
    if (servicesError instanceof DirtyStateError) {
      throw new DirtyStateError(servicesError.message, {
        problems: servicesError.problems,
        state,
        hint: servicesError.hint,
        cause: servicesError,
      });
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what withServicesStopped threw
    throw servicesError;
  }
  const finishing = await runFinishing(finishingSteps(journal), rt, reporter);
  await removeJournal(dir, journal);
  const dropped = finishing.find((r) => r.id === 'drop-previous')?.status === 'done';
  for (const note of rt.notes) reporter.warn(note);
  return { finishing, previousDatabases: dropped ? [] : journal.renames.map((r) => r.to) };
}
