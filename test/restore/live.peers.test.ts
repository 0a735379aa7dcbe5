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
import { mountTmpfs } from '../support/mounts.js';
import { backupOf, createBareServer, normalizedDump, serverState, STOPPED_AND_STARTED_ONCE, withoutNiceRows } from '../support/servers.js';
import { createRestoreStage, journalOf, type RestoreStage } from '../support/restore-stage.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

const OLD_NICE = '192.0.2.10';

/**
 * restore onto a server whose CUPM runs (the default; --live is its explicit form): the dump loads into cupm__incoming_<stamp> while
 * the stand-in services run (their own timeline says when they stopped), and the services stop
 * only for the swap. Faults: a dump that fails its hash, kill -9 during the load, kill -9 between
 * the two renames.
 */
describe('restore onto a live server: load while CUPM runs, swap during the outage', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let old: SandboxServer;
  let target: SandboxServer;
  let archive: string;
  let sourceDump: string;
  let work: string;

  before(async () => {
    stage = await createRestoreStage('cupm-live');
    ({ old, target, archive, sourceDump, work } = stage);
  });
  after(async () => {
    await stage?.destroy();
  });
  beforeEach(async () => {
    await target.services.timeline({ clear: true });
  });

  const restoreCli = (args: string[], env: Record<string, string> = {}) =>
    runCli(['restore', ...args], { env: { ...target.env(), ...env } });
  const startRestore = (env: Record<string, string>, args: string[]) =>
    execa(BIN, ['restore', archive, '--yes', ...args], {
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
    // --dry-run loads nothing, so it verifies the dump too: it refuses what the load would.
    const dry = await restoreCli([tampered, '--dry-run']);
    expect(dry.exitCode, dry.stderr).to.equal(3);
    expect(dry.stderr).to.match(/database\/pg_dumpall\.sql: SHA-256 differs from the manifest/);
    const result = await restoreCli([tampered, '--yes']);
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
    expect((await journalOf(target)).steps.find((s) => s.id === 'load')?.status).to.equal('running');
    run.kill('SIGKILL');
    expect((await run).signal).to.equal('SIGKILL');
    await waitFor('psql to end', async () => ((await alive(wrapper)) ? undefined : true));
    // psql committed what it had into the incoming database; cupm is untouched, CUPM still runs.
    expect(await incoming()).to.be.a('string');
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(before.dumps.cupm);
    await allRunning();
    expect((await journalOf(target)).live?.outage).to.equal(false);

    const next = await restoreCli([archive, '--yes', '--dry-run']);
    expect(next.exitCode, next.stderr).to.equal(0);
    expect(next.stdout)
      .to.match(/First, an interrupted restore is finished:[\s\S]*CUPM was never stopped: it still runs on cupm, untouched/)
      .and.match(/it is undone without stopping CUPM: the incoming database cupm__incoming_\d{14} is dropped/);
    const status = await runCli(['status', '--json'], { env: target.env() });
    const body = status.json<{ interruptedRestore: { servicesStopped: string[]; outcome: string[] }; problems: string[] }>();
    expect(body.interruptedRestore.servicesStopped).to.deep.equal([]);
    expect(body.problems.join('\n')).to.match(
      /restore interrupted at step "Load the dump into cupm__incoming_\d{14}[^"]*".*CUPM was never stopped/,
    );
    expect(body.interruptedRestore.outcome.join('\n')).to.match(/the incoming database cupm__incoming_\d{14} is dropped/);
    const finish = await restoreCli([path.join(work, 'missing.zip'), '--yes']);
    expect(finish.stderr).to.match(/A restore was interrupted/);
    expect(finish.stderr).to.match(/The interrupted restore of .* was undone\./);
    expect(await serverState(target)).to.deep.equal(before);
    expect(await target.services.timeline()).to.deep.equal([]);
  });

  it('--dry-run shows which steps run while CUPM is up and which during the outage', async () => {
    const before = await serverState(target);
    // The default shows it, and so does --live, its explicit form.
    const dry = await restoreCli([archive, '--dry-run', '--old-nice-host', OLD_NICE]);
    expect(dry.exitCode, dry.stderr).to.equal(0);
    const explicit = await restoreCli([archive, '--dry-run', '--live', '--old-nice-host', OLD_NICE]);
    expect(explicit.exitCode, explicit.stderr).to.equal(0);
    expect(explicit.stdout).to.include('While CUPM keeps running:').and.include('During the outage (services stopped):');
    const text = dry.stdout;
    expect(text).to.not.match(/the plain restore/);
    const up = text.indexOf('While CUPM keeps running:');
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
    expect(timeline.map((e) => `${e.verb} ${e.service}`)).to.deep.equal(STOPPED_AND_STARTED_ONCE);
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
    const run = killAt(['restore', archive, '--yes'], /^Renamed cupm to cupm__previous_\d{14}$/, 'SIGKILL', {
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
    expect((await journalOf(target)).steps.find((s) => s.id === 'swap')?.status).to.equal('running');
    for (const service of target.services.services) expect(await target.services.status(service), service).to.equal('stopped');

    // status and --dry-run say which name holds what, and that the next run completes the swap.
    const status = await runCli(['status', '--json'], { env: target.env() });
    const outcome = status.json<{ interruptedRestore: { servicesStopped: string[]; outcome: string[] } }>().interruptedRestore;
    expect(outcome.servicesStopped).to.have.length(3);
    expect(outcome.outcome.join('\n'))
      .to.match(/CUPM was stopped for the swap/)
      .and.match(
        /it was killed during the swap \(cupm \(the database CUPM ran on\) becomes cupm__previous_\d{14}, cupm__incoming_\d{14} \(the restored one\) becomes cupm\): one rename may be done and the other not; the next run looks at which names exist and completes the swap/,
      );
    const dry = await restoreCli([archive, '--dry-run']);
    expect(dry.exitCode, dry.stderr).to.equal(0);
    expect(dry.stdout).to.match(/First, an interrupted restore is finished:[\s\S]*it was killed during the swap[\s\S]*it is completed: /);
    const next = await restoreCli([path.join(work, 'missing.zip'), '--yes']);
    expect(next.stderr).to.match(/the next run looks at which names exist and completes the swap/);
    expect(next.stderr).to.match(/The interrupted restore of .* was completed\./);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
    expect(await databases()).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);
    await allRunning();
    expect((await serverState(target)).backupDirLeftovers).to.deep.equal([]);
  });

  it('--no-live: the plain restore, the services stopped for the whole of it, and it says so', async () => {
    const result = await restoreCli([archive, '--yes', '--no-live', '--json']);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stderr).to.match(/The services stop for the whole restore \(the plain restore\): --no-live was given/);
    const json = result.json<{ steps: Array<{ id: string }> }>();
    expect(json.steps.map((s) => s.id))
      .to.include('move-aside')
      .and.not.include('swap');
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
    expect(await databases()).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);
    await allRunning();
  });

  it('the disk fills while the incoming database loads: it is dropped, CUPM never stopped, the hint names the way out', async () => {
    // An archive with 16 MB more rows than the disk under the incoming database has room for: a
    // real full disk, a tablespace on a tmpfs holding template0 (which CREATE DATABASE copies, so
    // the load's databases go there) with room for one more copy of it and 4 MB.
    await old.cluster.query("CREATE TABLE bulk AS SELECT i, repeat('x', 1000) AS pad FROM generate_series(1, 16000) AS i", [], 'cupm');
    let big: string;
    try {
      big = await backupOf(old);
    } finally {
      await old.cluster.query('DROP TABLE bulk', [], 'cupm');
    }
    const [size] = await target.cluster.query<{ n: string }>("SELECT pg_database_size('template0') AS n");
    const room = 2 * Number(size!.n) + 4 * 1024 * 1024;
    const disk = await mountTmpfs({ sizeBytes: Math.ceil(room / 4096) * 4096, prefix: 'cupm-full-' });
    const space = path.join(disk.dir, 'ts');
    await fs.mkdir(space);
    const { stdout: uid } = await execa('id', ['-u', 'postgres']);
    const { stdout: gid } = await execa('id', ['-g', 'postgres']);
    await fs.chown(space, Number(uid), Number(gid));
    try {
      await target.cluster.query(`CREATE TABLESPACE full_disk LOCATION '${space}'`);
      await target.cluster.query('ALTER DATABASE template0 SET TABLESPACE full_disk');
      const before = await serverState(target);
      const result = await restoreCli([big, '--yes']);
      expect(result.exitCode, result.stderr).to.equal(1);
      expect(result.stderr)
        .to.match(/\[failed, undone\] Load the dump into cupm__incoming_\d{14} while CUPM runs/)
        .and.match(/PostgreSQL ran out of disk space while loading the dump/)
        .and.match(/could not extend file .*pg_tblspc/)
        .and.match(/services: never stopped/)

        .and.match(/Next: free space on the disk .*--no-live does not need less/);
      expect(await incoming()).to.equal(undefined);
      expect(await serverState(target)).to.deep.equal(before);
      expect(await target.services.timeline()).to.deep.equal([]);
      await allRunning();
    } finally {
      await target.cluster.query('ALTER DATABASE template0 SET TABLESPACE pg_default').catch(() => undefined);
      await target.cluster.query('DROP TABLESPACE IF EXISTS full_disk').catch(() => undefined);
      await disk.unmount();
    }
  });

  it('with no cupm database yet (a fresh install), the restore is the plain one, and says why', async () => {
    const bare = await createBareServer();
    try {
      const dry = await runCli(['restore', archive, '--dry-run'], { env: bare.env() });
      expect(dry.exitCode, dry.stderr).to.equal(0);
      expect(dry.stdout)
        .to.match(
          /Services stopped for the whole restore \(the plain restore\), because:\n {2}- this server has no database cupm to keep CUPM running on/,
        )
        .and.not.match(/While CUPM keeps running/);
      const result = await runCli(['restore', archive, '--yes', '--json'], { env: bare.env() });
      expect(result.exitCode, result.stderr).to.equal(0);
      expect(result.stderr).to.match(/The services stop for the whole restore \(the plain restore\): this server has no database cupm/);
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
