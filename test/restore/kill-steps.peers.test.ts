import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { pausingPgBin, waitFor } from '../support/faults.js';
import { killAt, type Interruption, type Moment } from '../support/kill-at.js';
import { createRestoreStage, journalOf, type RestoreStage } from '../support/restore-stage.js';
import { serverState, setAutovacuum, type ServerState } from '../support/servers.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { processesNaming } from '../../src/sandbox/proc.js';

/** The databases a restore makes beside cupm: never left once a run has ended or been finished. */
const ASIDE = /^cupm__(?:incoming|previous)_\d{14}$/;

/**
 * A step of a restore: the progress line it prints as it reaches it (or 'mid-load': psql paused
 * half way through the dump, the databases it loads into half full). Killed there with kill -9,
 * the next run finishes the restore (the dump had been loaded in full) or undoes it (README,
 * restore step 1); which one follows from the journal the killed run left, not from timing.
 * `whileUp`: a live restore's step before its outage (CUPM runs; undone, it never stops).
 */
interface KillStep {
  step: string;
  at: RegExp | 'mid-load';
  afterLoad?: true;
  whileUp?: true;
}

const STEPS: KillStep[] = [
  { step: 'stopping the services', at: /Stopping cupm JBossService/ },
  { step: 'the snapshot', at: /Snapshot the roles/ },
  { step: 'moving the database aside', at: /Move the current database aside/ },
  { step: 'the load', at: /Load the dump into PostgreSQL/ },
  { step: 'half way through the load', at: 'mid-load' },
  { step: 'writing the files', at: /Write the CUPM files/, afterLoad: true },
  { step: 'the nicesyseng purge', at: /Delete the rows of the old NICE host/, afterLoad: true },
  { step: 'ending the sessions', at: /End the remaining sessions of role/, afterLoad: true },
  { step: 'starting the services', at: /Starting cupm NiceService/, afterLoad: true },
  { step: 'dropping the previous database', at: /Drop the previous database/, afterLoad: true },
  { step: 'gathering the planner statistics', at: /Gather the planner statistics/, afterLoad: true },
];

/**
 * The same for `restore --live`: the dump loads into an incoming database while CUPM runs, and
 * the services stop only for the swap. Killed before the load is done, the next run drops the
 * incoming database without stopping CUPM; from then on, it completes the swap (issue 18's faults:
 * kill -9 while loading the incoming database, and between the two renames).
 */
const LIVE_STEPS: KillStep[] = [
  { step: 'the snapshot', at: /Snapshot the roles/, whileUp: true },
  { step: 'the load into the incoming database', at: /Load the dump into \S+ while CUPM runs/, whileUp: true },
  { step: 'half way through loading the incoming database', at: 'mid-load', whileUp: true },
  { step: 'the nicesyseng purge in the incoming database', at: /Delete the rows of the old NICE host/, afterLoad: true, whileUp: true },
  { step: 'stopping the services for the swap', at: /Stopping cupm JBossService/, afterLoad: true },
  { step: 'ending the sessions', at: /End the remaining sessions on/, afterLoad: true },
  { step: 'applying the held-back role statements', at: /Apply the role statements held back/, afterLoad: true },
  { step: 'the swap', at: /Swap the databases/, afterLoad: true },
  { step: 'between the two renames', at: /^Renamed cupm to cupm__previous_\d{14}$/, afterLoad: true },
  { step: 'writing the files', at: /Write the CUPM files/, afterLoad: true },
  { step: 'starting the services', at: /Starting cupm NiceService/, afterLoad: true },
  { step: 'dropping the previous database', at: /Drop the previous database/, afterLoad: true },
  { step: 'gathering the planner statistics', at: /Gather the planner statistics/, afterLoad: true },
];

/**
 * The two restores: each one's command-line arguments (here only), its steps, and the
 * interruptions it is tested with at every step besides kill -9.
 */
const MODES: Array<{ mode: string; args: string[]; steps: KillStep[]; signals: Interruption[]; live: boolean }> = [
  { mode: 'restore --no-live', args: ['--no-live'], steps: STEPS, signals: ['SIGTERM', 'SIGINT-group'], live: false },
  { mode: 'restore --live', args: ['--live'], steps: LIVE_STEPS, signals: ['SIGINT-group'], live: true },
  // The parallel load (--jobs): killed at its start and half way, the paused psql the main one or a helper.
  {
    mode: 'restore --no-live --jobs 2',
    args: ['--no-live', '--jobs', '2'],
    steps: loadSteps(STEPS),
    signals: ['SIGINT-group'],
    live: false,
  },
  { mode: 'restore --live --jobs 2', args: ['--live', '--jobs', '2'], steps: loadSteps(LIVE_STEPS), signals: ['SIGINT-group'], live: true },
];

/** The steps of a mode that load the dump (the start of the load, half way through it), and the one after. */
function loadSteps(steps: KillStep[]): KillStep[] {
  const first = steps.findIndex((s) => s.at === 'mid-load') - 1;
  return steps.slice(first, first + 3);
}

describe('restore killed (kill -9) or told to stop (SIGTERM, Ctrl-C) at every step: it ends whole, or the next run finishes or undoes it', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let target: SandboxServer;
  let archive: string;
  let corrupt: string;
  let work: string;
  /** The server after an uninterrupted restore of `archive` with ARGS: what "completed" must give. */
  let restored: ServerState;
  /** Options every run takes; a mode's own are in MODES. */
  const ARGS = ['--yes', '--old-nice-host', '192.0.2.10'];

  before(async () => {
    stage = await createRestoreStage('cupm-kill-steps');
    ({ target, archive, corrupt, work } = stage);
    // As on CUPM's 8.2: the restore then ends with ANALYZE, one more step to be killed at.
    await setAutovacuum(target, false);
    const clean = await runCli(['restore', archive, ...ARGS], { env: target.env() });
    expect(clean.exitCode, clean.stderr).to.equal(0);
    restored = await serverState(target);
    expect(Object.values(restored.services)).to.deep.equal(target.services.services.map(() => 'running'));
    expect(restored.databases.filter((d) => ASIDE.test(d))).to.deep.equal([]);
  });
  after(async () => {
    await stage?.destroy();
  });

  /** Waits until no service command or psql of an ended run is still at work (they run on when it dies). */
  const childrenDone = () =>
    waitFor('the service commands and the psql of the ended run to end', async () => {
      if (processesNaming(target.services.dir).some(({ args }) => args.includes('stop') || args.includes('start'))) return undefined;
      if (processesNaming(work, { under: true }).some(({ args }) => args.some((a) => a.endsWith('pausing-psql.mjs')))) return undefined;
      return true;
    });

  const databases = async () =>
    (await target.cluster.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
  const leftovers = async () =>
    (await fs.readdir(target.backupDir)).filter((n) => !n.endsWith('.zip') && !restored.backupDirLeftovers.includes(n));

  /** What is wrong with the pair as a row starts (none: the state a clean restore left); cheap, unlike serverState. */
  async function departures(): Promise<string[]> {
    const wrong: string[] = [];
    for (const service of target.services.services) {
      const state = await target.services.status(service);
      if (state !== 'running') wrong.push(`${service} is ${state}`);
    }
    const names = await databases();
    const aside = names.filter((d) => ASIDE.test(d));
    if (aside.length > 0) wrong.push(`databases left: ${aside.join(', ')}`);
    if (!names.includes('cupm')) wrong.push('no cupm database');
    const extra = await leftovers();
    if (extra.length > 0) wrong.push(`in the backup folder: ${extra.join(', ')}`);
    return wrong;
  }

  /**
   * Each row starts from a known state: the pair as a clean restore left it. When a row before
   * failed and left something (a journal, a service down, a database aside), the pair is put back
   * (a restore, which finishes any journal first; the stand-ins started; what is aside dropped),
   * so one failure does not fail the rows after it.
   */
  async function fromKnownState(): Promise<void> {
    await childrenDone();
    if ((await departures()).length > 0) {
      await runCli(['restore', archive, ...ARGS], { env: target.env() });
      await childrenDone();
      for (const service of target.services.services)
        if ((await target.services.status(service)) !== 'running') await target.services.start(service);
      for (const name of (await databases()).filter((d) => ASIDE.test(d)))
        await target.cluster.query(`DROP DATABASE "${name}" WITH (FORCE)`);
      for (const name of await leftovers()) await fs.rm(path.join(target.backupDir, name), { recursive: true, force: true });
    }
    expect(await departures(), 'the pair could not be put back to a known state').to.deep.equal([]);
    await target.services.timeline({ clear: true });
  }

  /** Runs the restore of `mode` and interrupts it at `at`: a progress line, or psql paused half way through the dump. */
  async function interrupted(args: string[], at: KillStep['at'], how: Interruption) {
    if (at !== 'mid-load') return killAt(['restore', archive, ...ARGS, ...args], at, how, { env: target.env() });
    const psql = await pausingPgBin(target.cluster.binDir, await fs.mkdtemp(path.join(work, 'psql-')));
    await psql.arm('COPY public.order_history ');
    const moment: Moment = { when: async () => `psql paused half way through the dump (pid ${await psql.paused()})` };
    return killAt(['restore', archive, ...ARGS, ...args], moment, how, { env: { ...target.env(), CUPM_PG_BIN: psql.bin } });
  }

  /** `status --json` as the operator sees it: the interrupted restore it reports, and its problems. */
  async function status() {
    const result = await runCli(['status', '--json'], { env: target.env() });
    return result.json<{ interruptedRestore: { step: string | null } | null; interruptedJob: unknown; problems: string[] }>();
  }

  /** Once a run ended or was finished: status reports nothing half done, nothing is aside. */
  async function expectWhole() {
    const after = await status();
    expect(after.interruptedRestore).to.equal(null);
    expect(after.interruptedJob).to.equal(null);
    expect(after.problems.join('\n')).to.not.match(/down since|interrupted|journal/);
    expect((await databases()).filter((d) => ASIDE.test(d))).to.deep.equal([]);
  }

  /** The stops the stand-in services saw since the row began (their own record, not the tool's word). */
  const stops = async () => (await target.services.timeline()).filter((e) => e.verb === 'stop').map((e) => e.service);

  // SIGTERM from a service manager, and Ctrl-C in a terminal, which reaches the whole process group.
  for (const { mode, args, steps, signals, live } of MODES)
    for (const how of signals)
      for (const { step, at, whileUp } of steps) {
        it(`${mode}, ${how} at ${step}: the run itself undoes (exit 1) or, too late for that, completes (exit 0); nothing is left for the next`, async () => {
          await fromKnownState();
          await target.cluster.query('UPDATE subscriber SET display_name = $1 WHERE id = 1', [`before ${mode}, ${how} at ${step}`], 'cupm');
          const before = await serverState(target);
          const stopped = await interrupted(args, at, how);
          expect(stopped.matched, stopped.stderr).to.be.a('string');
          await childrenDone();
          expect(stopped.exitCode, stopped.stderr).to.be.oneOf([0, 1]);
          if (stopped.exitCode === 1) expect(stopped.stderr).to.match(/State: every change was undone/);
          // Told to stop while CUPM runs (it said so before its first "Stopping"), a live restore ends without ever stopping it.
          const told = stopped.stderr.search(/^Received SIG/m);
          const stopping = stopped.stderr.search(/^Stopping /m);
          if (live && whileUp && told >= 0 && (stopping < 0 || told < stopping)) {
            expect(stopped.exitCode, stopped.stderr).to.equal(1);
            expect(await stops(), stopped.stderr).to.deep.equal([]);
          }
          await expectWhole();
          expect(await serverState(target)).to.deep.equal(stopped.exitCode === 1 ? before : restored);
        });
      }

  for (const { mode, args, steps, live } of MODES)
    for (const { step, at, afterLoad } of steps) {
      it(`${mode}, kill -9 at ${step}: status reports it, the next run finishes or undoes it and says which`, async () => {
        await fromKnownState();
        // This server's own data differs from the archive's: an undo must bring this back, not the archive's.
        await target.cluster.query('UPDATE subscriber SET display_name = $1 WHERE id = 1', [`before ${mode}, ${step}`], 'cupm');
        const before = await serverState(target);

        const killed = await interrupted(args, at, 'SIGKILL');
        expect(killed.matched, killed.stderr).to.be.a('string');
        await childrenDone();
        const journal = await journalOf(target).catch(() => undefined);
        // What the journal says the next run does: complete (the load was done) or undo; none: the run had ended.
        const outcome = journal ? (journal.steps.find((s) => s.id === 'load')?.status === 'done' ? 'completed' : 'undone') : null;
        // Once the load is done nothing is undone any more, however late the signal came.
        if (afterLoad) expect(outcome).to.not.equal('undone');
        // Without a journal the run had got past its end (the signal came late): the restore is whole.
        if (outcome !== null) expect(killed.signal, killed.stderr).to.equal('SIGKILL');
        // A live restore killed before its outage never stopped CUPM.
        if (live && journal?.live?.outage === false) expect(await stops()).to.deep.equal([]);

        // Until the next run, status tells of the interrupted restore.
        const meanwhile = await status();
        if (outcome === null) expect(meanwhile.interruptedRestore).to.equal(null);
        else {
          expect(meanwhile.interruptedRestore, JSON.stringify(meanwhile)).to.not.equal(null);
          expect(meanwhile.problems.join('\n')).to.match(/interrupted/);
        }

        // --no-live: the whole archive is verified before anything runs, so the corrupt one is refused up front.
        const next = await runCli(['restore', corrupt, '--no-live', '--yes', '--json'], { env: target.env() });
        expect(next.exitCode, next.stderr).to.equal(3);
        const recovery = next.json<{ recovery?: { outcome: string } }>().recovery;
        expect(recovery?.outcome ?? null, next.stderr).to.equal(outcome);
        if (outcome !== null) expect(next.stderr).to.include(`The interrupted restore of ${archive} was ${outcome}.`);
        // Undoing a live restore killed while CUPM ran does not stop CUPM either.
        if (live && journal?.live?.outage === false && outcome === 'undone') expect(await stops(), next.stderr).to.deep.equal([]);

        // What the next run said is what happened: the old server whole, or the archive's; services running, nothing left.
        await expectWhole();
        expect(await serverState(target)).to.deep.equal(outcome === 'undone' ? before : restored);
      });
    }
});
