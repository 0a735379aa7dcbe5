import fsp from 'node:fs/promises';
import { JobFailedError, messageOf } from '../errors.js';
import { runPlan, undoSteps, type PlanResult, type StepReport } from '../jobs/plan.js';
import type { Reporter } from '../jobs/reporter.js';
import { serverVersion, withClient } from '../pg/connection.js';
import { withServicesStopped } from '../services/scope.js';
import { databaseExists, endSessions, ident, renameDatabase } from './databases.js';
import { heldRolesFile, removeJournal, type RestoreJournal } from './journal.js';
import { completeRestore, keepServicesStopped, restoreFailure } from './outcome.js';
import {
  filesStep,
  finishingSteps,
  loadHow,
  loadStep,
  postgresStep,
  purgeStep,
  snapshotStep,
  type RestoreRuntime,
  type RestoreStep,
} from './steps.js';

/**
 * A live restore (docs/design.md, "Restore onto a live server"): the steps that run while CUPM is
 * up (snapshot, the dump loaded into the incoming databases and hashed as it loads, the purge
 * there), and the ones of the outage (sessions ended, held-back role statements, the swap, files,
 * PostgreSQL). Undo is the swap's renames back, the incoming databases dropped, roles and files
 * put back from the snapshot.
 */
export function livePhases(journal: RestoreJournal): { whileUp: RestoreStep[]; outage: RestoreStep[] } {
  const live = liveOf(journal);
  const incoming = live.incoming.map((d) => d.incoming).join(', ');
  const load = loadStep(journal);
  const whileUp: RestoreStep[] = [
    snapshotStep(journal),
    { ...load, title: `Load the dump into ${incoming} while CUPM runs (${loadHow(journal)}; the dump hashed as it loads)` },
  ];
  const app = live.incoming.find((d) => d.name === journal.database);
  if (journal.purge && app)
    whileUp.push({
      ...purgeStep(journal, app.incoming),
      title: `Delete the rows of the old NICE host ${journal.purge.host} from nicesyseng (in ${app.incoming})`,
    });
  const outage: RestoreStep[] = [sessionsStep(journal), heldRolesStep(), swapStep(journal)];
  if (journal.files.length > 0) outage.push(filesStep(journal));
  outage.push(postgresStep(journal));
  return { whileUp, outage };
}

/** Every step of a live restore, in order (for the journal and a recovery). */
export function liveSteps(journal: RestoreJournal): RestoreStep[] {
  const { whileUp, outage } = livePhases(journal);
  return [...whileUp, ...outage];
}

export interface LiveApplied {
  steps: StepReport[];
  nicesysengDeleted: number | null;
  previousDatabases: string[];
  notes: string[];
  /** From the first service asked to stop to the last one started again; 0 when none was stopped. */
  servicesDownMs: number;
}

/**
 * Runs a prepared live restore under the lock: the first phase with CUPM up (a failure there is
 * undone and the services are never touched), then the outage in `withServicesStopped`; a failure
 * in the outage undoes it and then the first phase. The journal holds both phases' steps in order.
 */
export async function applyLive(rt: RestoreRuntime, job: string, reporter: Reporter): Promise<LiveApplied> {
  const { journal } = rt;
  const live = liveOf(journal);
  const dir = rt.config.backupDir;
  const cancellable = (step: RestoreStep): RestoreStep => ({
    ...step,
    run: async (ctx, r) => {
      if (rt.signal?.aborted) throw new JobFailedError('The restore was cancelled (Ctrl-C or SIGTERM).');
      return step.run(ctx, r);
    },
  });
  const { whileUp, outage } = livePhases(journal);
  const all = [...whileUp, ...outage];
  journal.steps = all.map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  journal.finishing = finishingSteps(journal).map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  await rt.save();
  const observe = (offset: number) => async (reports: readonly StepReport[]) => {
    for (const [i, report] of reports.entries()) journal.steps[offset + i] = { ...report };
    await rt.save();
  };

  reporter.info(
    `CUPM keeps running while the dump loads into ${live.incoming.map((d) => d.incoming).join(', ')}; the services stop only for the swap`,
  );
  const first = await runPlan(whileUp.map(cancellable), rt, reporter, observe(0));
  const notRun = (steps: RestoreStep[]): StepReport[] => steps.map((s) => ({ id: s.id, title: s.title, status: 'not-run' }));
  if (!first.ok) {
    // CUPM never stopped: what the load made (the incoming databases, new roles) is undone already.
    const error = restoreFailure(job, { ...first, steps: [...first.steps, ...notRun(outage)] }, all, rt, undefined);
    if (!first.undoFailed) await removeJournal(dir, journal);
    throw error;
  }

  let second: PlanResult | undefined;
  let servicesError: unknown;
  let downFrom: number | undefined;
  try {
    await withServicesStopped(
      rt.manager,
      rt.config.services,
      reporter,
      async (record) => {
        second = await runPlan(outage.map(cancellable), rt, reporter, observe(whileUp.length));
        // The swap could not be put back (PostgreSQL down): CUPM must not start on what is there.
        if (second.undoFailed) await keepServicesStopped(record, rt);
      },
      {
        // Told to stop while CUPM was up: no service is stopped, and the first phase is undone below.
        signal: rt.signal,
        onStopped: async () => {
          if (live.outage) return;
          downFrom = Date.now();
          // Before the first service goes down: a run killed from here on stopped CUPM.
          live.outage = true;
          await rt.save();
        },
      },
    );
  } catch (error) {
    servicesError = error;
  }
  const servicesDownMs = downFrom === undefined ? 0 : Date.now() - downFrom;
  if (!second || !second.ok) {
    // The outage failed and was undone (or the services could not be stopped): undo the first phase too.
    const upReports = first.steps.map((r) => ({ ...r }));
    const undoFailed = await undoSteps(whileUp, upReports, rt, reporter, observe(0));
    const result: PlanResult = second
      ? { ok: false, steps: [...upReports, ...second.steps], error: second.error, undoFailed: second.undoFailed || undoFailed }
      : { ok: false, steps: [...upReports, ...notRun(outage)], error: servicesError, undoFailed };
    const error = restoreFailure(job, result, all, rt, second ? servicesError : undefined);
    if (!result.undoFailed) await removeJournal(dir, journal);
    throw error;
  }
  const { finishing, previousDatabases } = await completeRestore(rt, job, servicesError, reporter);
  return {
    steps: [...first.steps, ...second.steps, ...finishing],
    nicesysengDeleted: journal.purge?.deleted ?? null,
    previousDatabases,
    notes: rt.notes,
    servicesDownMs,
  };
}

/** The outage's first step: the sessions left on the application databases (the services are down). */
function sessionsStep(journal: RestoreJournal): RestoreStep {
  const names = liveOf(journal).incoming.map((d) => d.name);
  return {
    id: 'end-sessions',
    title: `End the remaining sessions on ${names.join(', ')}`,
    async run(rt) {
      const ended = await withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        let count = 0;
        for (const name of names) if (await databaseExists(client, name)) count += await endSessions(client, version, name);
        return count;
      });
      return `${ended} session${ended === 1 ? '' : 's'} ended`;
    },
  };
}

/**
 * The role statements the load held back (ALTER ROLE ... WITH ... PASSWORD of roles that exist):
 * applied once no session of CUPM is left. Their undo is the load's (roles put back from the
 * snapshot), which runs after this one's turn in reverse order.
 */
function heldRolesStep(): RestoreStep {
  return {
    id: 'held-roles',
    title: 'Apply the role statements held back during the load (passwords and attributes of existing roles)',
    async run(rt) {
      const text = await fsp.readFile(heldRolesFile(rt.journal), 'latin1');
      const statements = text.split('\n').filter((line) => line !== '');
      await withClient(rt.config, 'postgres', async (client) => {
        // The lines are latin1 strings of the dump's UTF-8 bytes: sent as those bytes.
        for (const statement of statements) await client.query(Buffer.from(statement, 'latin1').toString('utf8'));
      });
      return `${statements.length} statement${statements.length === 1 ? '' : 's'}`;
    },
  };
}

/**
 * name -> previous, then incoming -> name, for each database. Each rename is journaled by the
 * server's state itself: the step looks at which names exist and goes on from there, so a run
 * killed between the two renames is completed by running it again, or undone by `undo`.
 */
function swapStep(journal: RestoreJournal): RestoreStep {
  const live = liveOf(journal);
  const aside = (name: string) => journal.renames.find((r) => r.from === name);
  const what = live.incoming.map((d) => {
    const previous = aside(d.name);
    return previous ? `${d.name} -> ${previous.to}, ${d.incoming} -> ${d.name}` : `${d.incoming} -> ${d.name}`;
  });
  return {
    id: 'swap',
    title: `Swap the databases (${what.join('; ')})`,
    async run(rt, reporter) {
      return withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        const exists = (name: string) => databaseExists(client, name);
        const done: string[] = [];
        for (const { name, incoming } of live.incoming) {
          const previous = aside(name);
          if (previous && (await exists(name)) && (await exists(incoming)) && !(await exists(previous.to))) {
            await renameDatabase(client, version, name, previous.to);
            reporter.info(`Renamed ${name} to ${previous.to}`);
            done.push(`${name} is now ${previous.to}`);
          }
          if (await exists(incoming)) {
            if (await exists(name)) {
              throw new JobFailedError(
                `"${incoming}" cannot become "${name}": a database "${name}" exists${previous ? ` next to "${previous.to}"` : ''}.`,
              );
            }
            await renameDatabase(client, version, incoming, name);
            reporter.info(`Renamed ${incoming} to ${name}`);
            done.push(`${incoming} is now ${name}`);
          } else if (!(await exists(name))) {
            throw new JobFailedError(`Neither "${incoming}" nor "${name}" exists: the loaded database is gone.`);
          }
        }
        return done.length > 0 ? done.join(', ') : 'already swapped';
      });
    },
    async undo(rt) {
      const problems: string[] = [];
      await withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        const exists = (name: string) => databaseExists(client, name);
        const rename = (from: string, to: string) =>
          renameDatabase(client, version, from, to).catch((e) =>
            problems.push(`"${from}" could not be renamed back to "${to}": ${messageOf(e)}`),
          );
        for (const { name, incoming } of [...live.incoming].reverse()) {
          const previous = aside(name);
          // `name` is the restored database when the original is aside, or there was none.
          const restored =
            (await exists(name)) &&
            !(await exists(incoming)) &&
            (previous ? await exists(previous.to) : !(rt.journal.databasesBefore ?? []).includes(name));
          if (restored) await rename(name, incoming);
          if (previous && (await exists(previous.to)) && !(await exists(name))) await rename(previous.to, name);
        }
      });
      if (problems.length > 0) throw new JobFailedError('The swap could not be put back:', { problems });
    },
    manualUndo(rt) {
      return liveOf(rt.journal).incoming.flatMap(({ name, incoming }) => {
        const previous = aside(name);
        const back = `psql -d postgres -c 'ALTER DATABASE ${ident(name)} RENAME TO ${ident(incoming)}'   (the restored "${name}"${previous ? `, only while "${previous.to}" exists` : ''})`;
        return previous ? [back, `psql -d postgres -c 'ALTER DATABASE ${ident(previous.to)} RENAME TO ${ident(name)}'`] : [back];
      });
    },
  };
}

function liveOf(journal: RestoreJournal): NonNullable<RestoreJournal['live']> {
  if (!journal.live) throw new Error('not a live restore');
  return journal.live;
}

/** The two phases as the plan shows them (--dry-run, the prompt). */
export function describeLive(journal: RestoreJournal): { whileUp: string[]; outage: string[] } {
  const { whileUp, outage } = livePhases(journal);
  return { whileUp: whileUp.map((s) => s.title), outage: outage.map((s) => s.title) };
}
