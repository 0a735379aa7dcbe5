import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { corruptCopyOf } from '../support/archive-edit.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/faults.js';
import { killAt } from '../support/kill-at.js';
import { backupOf, createOldAndNewServers, serverState, type ServerState } from '../support/servers.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

const JOURNAL = 'cupm-backup.restore-journal.json';

/**
 * Every line a restore prints as it reaches a step, in order. Killed there with kill -9, the
 * next run finishes the restore (the dump had been loaded in full) or undoes it (README, restore
 * step 1); which one follows from the journal the killed run left, not from timing.
 */
const STEPS: Array<{ step: string; at: RegExp; afterLoad?: true }> = [
  { step: 'stopping the services', at: /Stopping cupm JBossService/ },
  { step: 'the snapshot', at: /Snapshot the roles/ },
  { step: 'moving the database aside', at: /Move the current database aside/ },
  { step: 'the load', at: /Load the dump into PostgreSQL/ },
  { step: 'writing the files', at: /Write the CUPM files/, afterLoad: true },
  { step: 'the nicesyseng purge', at: /Delete the rows of the old NICE host/, afterLoad: true },
  { step: 'ending the sessions', at: /End the remaining sessions of role/, afterLoad: true },
  { step: 'starting the services', at: /Starting cupm NiceService/, afterLoad: true },
  { step: 'dropping the previous database', at: /Drop the previous database/, afterLoad: true },
];

/**
 * The same for `restore --live`: the dump loads into an incoming database while CUPM runs, and
 * the services stop only for the swap. Killed before the load is done, the next run drops the
 * incoming database; from then on, it completes the swap.
 */
const LIVE_STEPS: Array<{ step: string; at: RegExp; afterLoad?: true }> = [
  { step: 'the snapshot', at: /Snapshot the roles/ },
  { step: 'the load into the incoming database', at: /Load the dump into \S+ while CUPM runs/ },
  { step: 'the nicesyseng purge in the incoming database', at: /Delete the rows of the old NICE host/, afterLoad: true },
  { step: 'stopping the services for the swap', at: /Stopping cupm JBossService/, afterLoad: true },
  { step: 'ending the sessions', at: /End the remaining sessions on/, afterLoad: true },
  { step: 'applying the held-back role statements', at: /Apply the role statements held back/, afterLoad: true },
  { step: 'the swap', at: /Swap the databases/, afterLoad: true },
  { step: 'writing the files', at: /Write the CUPM files/, afterLoad: true },
  { step: 'starting the services', at: /Starting cupm NiceService/, afterLoad: true },
  { step: 'dropping the previous database', at: /Drop the previous database/, afterLoad: true },
];

/** The two restores, and the interruptions each is tested with at every step. */
const MODES = [
  { mode: 'restore', flags: [] as string[], steps: STEPS, signals: ['SIGTERM', 'SIGINT-group'] as const },
  { mode: 'restore --live', flags: ['--live'], steps: LIVE_STEPS, signals: ['SIGINT-group'] as const },
];

describe('restore killed (kill -9) or told to stop (SIGTERM, Ctrl-C) at every step: it ends whole, or the next run finishes or undoes it', function () {
  this.timeout(600_000);
  let old: SandboxServer;
  let target: SandboxServer;
  let archive: string;
  let corrupt: string;
  let work: string;
  /** The server after an uninterrupted restore of `archive` with ARGS: what "completed" must give. */
  let restored: ServerState;
  const ARGS = ['--yes', '--old-nice-host', '192.0.2.10'];

  before(async () => {
    ({ old, new: target } = await createOldAndNewServers());
    archive = await backupOf(old);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-kill-steps-'));
    corrupt = await corruptCopyOf(archive, path.join(work, 'corrupt.zip'));
    const clean = await runCli(['restore', archive, ...ARGS], { env: target.env() });
    expect(clean.exitCode, clean.stderr).to.equal(0);
    restored = await serverState(target);
  });
  after(async () => {
    await old?.destroy();
    await target?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** Waits until no service command of the killed run is still at work (they run on when it dies). */
  const serviceCommandsDone = () =>
    waitFor('the service commands of the killed run to end', async () => {
      for (const pid of (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
        const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (argv.includes(target.services.dir) && (argv.includes('stop') || argv.includes('start'))) return undefined;
      }
      return true;
    });

  /** What the journal says the next run does: 'completed' (load done, nothing failed), 'undone', or null (no journal: the run had ended). */
  async function expectedOutcome(): Promise<'completed' | 'undone' | null> {
    const text = await fs.readFile(path.join(target.backupDir, JOURNAL), 'utf8').catch(() => undefined);
    if (text === undefined) return null;
    const { steps } = JSON.parse(text) as { steps: Array<{ id: string; status: string }> };
    return steps.find((s) => s.id === 'load')?.status === 'done' ? 'completed' : 'undone';
  }

  // SIGTERM from a service manager, and Ctrl-C in a terminal, which reaches the whole process group.
  for (const { mode, flags, steps, signals } of MODES)
    for (const how of signals)
      for (const { step, at } of steps) {
        it(`${mode}, ${how} at ${step}: the run itself undoes (exit 1) or, too late for that, completes (exit 0); nothing is left for the next`, async () => {
          await target.cluster.query('UPDATE subscriber SET display_name = $1 WHERE id = 1', [`before ${mode}, ${how} at ${step}`], 'cupm');
          const before = await serverState(target);
          const stopped = await killAt(['restore', archive, ...ARGS, ...flags], at, how, { env: target.env() });
          expect(stopped.matched, stopped.stderr).to.be.a('string');
          await serviceCommandsDone();
          expect(stopped.exitCode, stopped.stderr).to.be.oneOf([0, 1]);
          if (stopped.exitCode === 1) expect(stopped.stderr).to.match(/State: every change was undone/);
          expect(
            await fs.stat(path.join(target.backupDir, JOURNAL)).then(
              () => true,
              () => false,
            ),
          ).to.equal(false);
          expect(await serverState(target)).to.deep.equal(stopped.exitCode === 1 ? before : restored);
        });
      }

  for (const { mode, flags, steps } of MODES)
    for (const { step, at, afterLoad } of steps) {
      it(`${mode}, kill -9 at ${step}: the next run finishes or undoes it`, async () => {
        // This server's own data differs from the archive's: an undo must bring this back, not the archive's.
        await target.cluster.query('UPDATE subscriber SET display_name = $1 WHERE id = 1', [`before ${mode}, ${step}`], 'cupm');
        const before = await serverState(target);

        const killed = await killAt(['restore', archive, ...ARGS, ...flags], at, 'SIGKILL', { env: target.env() });
        expect(killed.matched, killed.stderr).to.be.a('string');
        await serviceCommandsDone();
        const outcome = await expectedOutcome();
        // Once the load is done nothing is undone any more, however late the signal came.
        if (afterLoad) expect(outcome).to.not.equal('undone');
        // Without a journal the run had got past its end (the signal came late): the restore is whole.
        if (outcome !== null) expect(killed.signal, killed.stderr).to.equal('SIGKILL');

        const next = await runCli(['restore', corrupt, '--yes', '--json'], { env: target.env() });
        expect(next.exitCode, next.stderr).to.equal(3);
        const recovery = next.json<{ recovery?: { outcome: string } }>().recovery;
        expect(recovery?.outcome ?? null, next.stderr).to.equal(outcome);
        if (outcome !== null) expect(next.stderr).to.include(`The interrupted restore of ${archive} was ${outcome}.`);

        expect(await serverState(target)).to.deep.equal(outcome === 'undone' ? before : restored);
      });
    }
});
