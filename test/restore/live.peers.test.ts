import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { buildZip } from '../support/archives.js';
import { dumpText, readArchive } from '../support/archive-edit.js';
import { alive, pausingPgBin, waitFor } from '../support/faults.js';
import { killAt } from '../support/kill-at.js';
import { backupOf, createBareServer, createOldAndNewServers, normalizedDump, serverState, withoutNiceRows } from '../support/servers.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

const JOURNAL = 'cupm-backup.restore-journal.json';
const OLD_NICE = '192.0.2.10';

/**
 * restore --live onto a server whose CUPM runs: the dump loads into cupm__incoming_<stamp> while
 * the stand-in services run (their own timeline says when they stopped), and the services stop
 * only for the swap. Faults: a dump that fails its hash, kill -9 during the load, kill -9 between
 * the two renames.
 */
describe('restore --live: load while CUPM runs, swap during the outage', function () {
  this.timeout(600_000);
  let old: SandboxServer;
  let target: SandboxServer;
  let archive: string;
  let sourceDump: string;
  let work: string;

  before(async () => {
    ({ old, new: target } = await createOldAndNewServers());
    archive = await backupOf(old);
    sourceDump = await normalizedDump(old.cluster, 'cupm');
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-live-'));
  });
  after(async () => {
    await old?.destroy();
    await target?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await target.services.timeline({ clear: true });
  });

  const restoreCli = (args: string[], env: Record<string, string> = {}) =>
    runCli(['restore', ...args], { env: { ...target.env(), ...env } });
  const startRestore = (env: Record<string, string>, args: string[]) =>
    execa(BIN, ['restore', archive, '--yes', '--live', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...target.env(), ...env },
      extendEnv: false,
      reject: false,
      cwd: os.tmpdir(),
    });
  const databases = async () =>
    (await target.cluster.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
  const incoming = async () => (await databases()).find((d) => /^cupm__incoming_\d{14}$/.test(d));
  const allRunning = async () => {
    for (const service of target.services.services) expect(await target.services.status(service), service).to.equal('running');
  };
  /** The sessions JBoss's stand-in holds on the application database (its pool). */
  const appSessions = async () =>
    Number(
      (
        await target.cluster.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'cupm' AND usename = 'cupm'")
      )[0]!.n,
    );
  const journalOf = async () =>
    JSON.parse(await fs.readFile(path.join(target.backupDir, JOURNAL), 'utf8')) as {
      steps: Array<{ id: string; status: string }>;
      live: { outage: boolean };
    };

  it('a dump that fails verification while it loads: the incoming database is dropped, nothing else changed, CUPM never stopped (exit 3)', async () => {
    const contents = await readArchive(archive);
    const tampered = path.join(work, 'tampered.zip');
    // Same length, other bytes, the manifest unchanged: only the hash taken during the load tells.
    const dump = dumpText(contents).replace('Subscriber 1 ', 'Subscriber X ');
    await buildZip(
      tampered,
      { ...Object.fromEntries(contents.entries), 'database/pg_dumpall.sql': Buffer.from(dump, 'latin1') },
      contents.manifest,
    );
    const before = await serverState(target);
    const result = await restoreCli([tampered, '--yes', '--live']);
    expect(result.exitCode, result.stderr).to.equal(3);
    expect(result.stderr).to.match(/Verifying .* \(all but the dump, which is hashed while it loads\)/);
    expect(result.stderr).to.match(/database\/pg_dumpall\.sql is NOT the dump the manifest describes/);
    expect(result.stderr).to.match(/\[failed, undone\] Load the dump into cupm__incoming_\d{14} while CUPM runs/);
    expect(result.stderr).to.match(/\[not-run\] Swap the databases/);
    expect(result.stderr).to.match(/State: every change was undone/);
    expect(await serverState(target)).to.deep.equal(before);
    expect(await target.services.timeline()).to.deep.equal([]);
  });

  it('kill -9 while loading the incoming database: CUPM never stopped, and the next run drops it without stopping CUPM', async () => {
    const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'kill-load'));
    const before = await serverState(target);
    await psql.arm('COPY public.order_history ');
    const run = startRestore({ CUPM_PG_BIN: psql.bin }, []);
    const wrapper = await psql.paused();
    expect((await journalOf()).steps.find((s) => s.id === 'load')?.status).to.equal('running');
    run.kill('SIGKILL');
    expect((await run).signal).to.equal('SIGKILL');
    await waitFor('psql to end', async () => ((await alive(wrapper)) ? undefined : true));
    // psql committed what it had into the incoming database; cupm is untouched, CUPM still runs.
    expect(await incoming()).to.be.a('string');
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(before.dumps.cupm);
    await allRunning();
    expect((await journalOf()).live.outage).to.equal(false);

    const next = await restoreCli([archive, '--yes', '--dry-run']);
    expect(next.exitCode, next.stderr).to.equal(0);
    expect(next.stdout).to.match(/First, an interrupted restore is finished:[\s\S]*it is undone/);
    const finish = await restoreCli([path.join(work, 'missing.zip'), '--yes']);
    expect(finish.stderr).to.match(/A restore was interrupted/);
    expect(finish.stderr).to.match(/The interrupted restore of .* was undone\./);
    expect(await serverState(target)).to.deep.equal(before);
    expect(await target.services.timeline()).to.deep.equal([]);
  });

  it('--dry-run shows which steps run while CUPM is up and which during the outage', async () => {
    const before = await serverState(target);
    const dry = await restoreCli([archive, '--dry-run', '--live', '--old-nice-host', OLD_NICE]);
    expect(dry.exitCode, dry.stderr).to.equal(0);
    const text = dry.stdout;
    const up = text.indexOf('While CUPM keeps running (--live):');
    const down = text.indexOf('During the outage (services stopped):');
    expect(up).to.be.greaterThan(-1);
    expect(down).to.be.greaterThan(up);
    const whileUp = text.slice(up, down);
    const outage = text.slice(down);
    expect(whileUp)
      .to.match(/Snapshot the roles/)
      .and.match(/Load the dump into cupm__incoming_\d{14} while CUPM runs/)
      .and.match(/nicesyseng \(in cupm__incoming_\d{14}\)/);
    expect(outage)
      .to.match(/End the remaining sessions on cupm/)
      .and.match(/Apply the role statements held back/)
      .and.match(/Swap the databases \(cupm -> cupm__previous_\d{14}, cupm__incoming_\d{14} -> cupm\)/)
      .and.match(/Write the CUPM files/);
    expect(await serverState(target)).to.deep.equal(before);
  });

  it('loads while CUPM runs (its sessions stay), stops the services once, for the swap, and records the downtime', async () => {
    const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'live'));
    await psql.arm('COPY public.order_history ');
    const run = startRestore({ CUPM_PG_BIN: psql.bin }, ['--json', '--old-nice-host', OLD_NICE]);
    await psql.paused();
    // Half way through the load: every service runs, JBoss still works on cupm, the load goes to the incoming database.
    await allRunning();
    expect(await appSessions()).to.be.greaterThan(0);
    expect(await incoming()).to.be.a('string');
    expect(await target.services.timeline()).to.deep.equal([]);
    await psql.release();
    const result = await run;
    expect(result.exitCode, result.stderr).to.equal(0);
    const json = JSON.parse(result.stdout) as {
      steps: Array<{ id: string; status: string }>;
      servicesDownMs: number;
      nicesysengDeleted: number;
      previousDatabases: string[];
    };
    expect(json.steps.map((s) => `${s.id} ${s.status}`)).to.deep.equal([
      'snapshot done',
      'load done',
      'purge done',
      'end-sessions done',
      'held-roles done',
      'swap done',
      'files done',
      'postgres done',
      'drop-previous done',
    ]);
    expect(json.servicesDownMs).to.be.greaterThan(0);
    expect(json.nicesysengDeleted).to.be.greaterThan(0);
    expect(json.previousDatabases).to.deep.equal([]);
    expect(result.stderr).to.match(/services down /);

    // One outage: three stops, then three starts, by the services' own clocks.
    const timeline = await target.services.timeline();
    expect(timeline.map((e) => `${e.verb} ${e.service}`)).to.deep.equal([
      'stop Apache',
      'stop cupm JBossService',
      'stop cupm NiceService',
      'start cupm NiceService',
      'start cupm JBossService',
      'start Apache',
    ]);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(withoutNiceRows(sourceDump, OLD_NICE));
    expect(await databases()).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);
    // The held-back ALTER ROLE was applied in the outage: the app role has the old server's password;
    // the admin login of this server still works.
    await login(target, 'cupm', 'old-app-pw');
    await target.cluster.query('SELECT 1');
    await allRunning();
    expect((await serverState(target)).backupDirLeftovers).to.deep.equal([]);
  });

  it('kill -9 between the two renames: the services stay down, and the next run completes the swap', async () => {
    await target.cluster.query("UPDATE subscriber SET display_name = 'before the swap' WHERE id = 1", [], 'cupm');
    const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'kill-swap'));
    await psql.arm('COPY public.order_history ');
    const run = killAt(['restore', archive, '--yes', '--live'], /^Renamed cupm to cupm__previous_\d{14}$/, 'SIGKILL', {
      env: { ...target.env(), CUPM_PG_BIN: psql.bin },
    });
    await psql.paused();
    const name = (await incoming())!;
    // A transaction that holds a lock on the incoming database: its rename to cupm waits on it.
    const blocker = new pg.Client({
      host: target.cluster.host,
      port: target.cluster.port,
      user: target.cluster.adminUser,
      password: target.cluster.password,
      database: 'postgres',
    });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`COMMENT ON DATABASE "${name}" IS 'held by the test'`);
      await psql.release();
      const killed = await run;
      expect(killed.matched, killed.stderr).to.be.a('string');
      expect(killed.signal).to.equal('SIGKILL');
      // The killed run's sessions may still hold its second rename (waiting on the lock, or sent and
      // not yet read): end every one of them, and see them gone, before letting go of the lock.
      await waitFor("the killed run's sessions to end", async () => {
        // Inside a transaction pg_stat_activity is read once and kept: a fresh look at each poll.
        await blocker.query('SELECT pg_stat_clear_snapshot()');
        const [row] = await blocker
          .query<{ n: string }>(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND application_name LIKE 'cupm-backup%'",
          )
          .then((r) => r.rows);
        return Number(row!.n) === 0 ? true : undefined;
      });
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    // Between the renames: no cupm, the original aside, the loaded one still incoming; CUPM is down.
    const names = await databases();
    expect(names).to.not.include('cupm');
    expect(names.filter((n) => /^cupm__(?:previous|incoming)_\d{14}$/.test(n))).to.have.length(2);
    expect((await journalOf()).steps.find((s) => s.id === 'swap')?.status).to.equal('running');
    for (const service of target.services.services) expect(await target.services.status(service), service).to.equal('stopped');

    const next = await restoreCli([path.join(work, 'missing.zip'), '--yes']);
    expect(next.stderr).to.match(/it is completed: the dump had been loaded in full/);
    expect(next.stderr).to.match(/The interrupted restore of .* was completed\./);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
    expect(await databases()).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);
    await allRunning();
    expect((await serverState(target)).backupDirLeftovers).to.deep.equal([]);
  });

  it('with no cupm database yet (a fresh install), --live restores as a plain restore does', async () => {
    const bare = await createBareServer();
    try {
      const result = await runCli(['restore', archive, '--yes', '--live', '--json'], { env: bare.env() });
      expect(result.exitCode, result.stderr).to.equal(0);
      const json = result.json<{ steps: Array<{ id: string }>; servicesDownMs: number }>();
      expect(json.steps.map((s) => s.id))
        .to.include('move-aside')
        .and.not.include('swap');
      // The plain restore's outage covers the load; its downtime is recorded all the same.
      expect(json.servicesDownMs).to.be.greaterThan(0);
      expect(await normalizedDump(bare.cluster, 'cupm')).to.equal(sourceDump);
    } finally {
      await bare.destroy();
    }
  });
});

async function login(server: SandboxServer, user: string, password: string): Promise<void> {
  const client = new pg.Client({ host: server.cluster.host, port: server.cluster.port, user, password, database: 'postgres' });
  await client.connect();
  try {
    await client.query('SELECT 1');
  } finally {
    await client.end();
  }
}
