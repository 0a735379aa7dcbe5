import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { buildZip } from '../support/archives.js';
import { javaReadProperties } from '../support/java.js';
import { dumpText, editArchive, fileText, readArchive, setDump, setFile } from '../support/archive-edit.js';
import { alive, pausingPgBin, postgresAsService, waitFor } from '../support/faults.js';
import { createBareServer, installFile, normalizedDump, serverState, withoutNiceRows } from '../support/servers.js';
import { createRestoreStage, journalOf, JOURNAL, serviceCommandEnded, type RestoreStage } from '../support/restore-stage.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

describe('restore: bad input and faults leave the server as it was', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let old: SandboxServer;
  let target: SandboxServer;
  let archive: string;
  let corrupt: string;
  let sourceDump: string;
  let work: string;

  before(async () => {
    stage = await createRestoreStage('cupm-faults');
    ({ old, target, archive, sourceDump, corrupt, work } = stage);
  });
  after(async () => {
    await stage?.destroy();
  });

  const restoreCli = (args: string[], env: Record<string, string> = {}) =>
    runCli(['restore', ...args], { env: { ...target.env(), ...env } });
  const variant = (name: string, edit: Parameters<typeof editArchive>[2]) => editArchive(archive, path.join(work, name), edit);

  /** Runs the command and checks it changed nothing at all: databases, roles, files, services. */
  async function expectUntouched<R extends { exitCode: number; stderr: string }>(run: () => Promise<R>, exitCode: number): Promise<R> {
    const before = await serverState(target);
    const result = await run();
    expect(result.exitCode, result.stderr).to.equal(exitCode);
    expect(await serverState(target)).to.deep.equal(before);
    return result;
  }

  // The plain restore's promise (--no-live): the whole archive verified before anything is touched.
  // A live restore hashes the dump as it loads (test/restore/live.peers.test.ts).
  describe('an archive that cannot be trusted is refused before anything is touched (exit 3)', () => {
    it('corrupt', async () => {
      const { stderr } = await expectUntouched(() => restoreCli([corrupt, '--yes', '--no-live']), 3);
      expect(stderr).to.match(/is NOT valid/);
      expect(stderr).to.match(/State: nothing was changed/);
    });

    it('truncated', async () => {
      const truncated = path.join(work, 'truncated.zip');
      await fs.copyFile(archive, truncated);
      await fs.truncate(truncated, Math.floor((await fs.stat(truncated)).size * 0.6));
      const { stderr } = await expectUntouched(() => restoreCli([truncated, '--yes']), 3);
      expect(stderr).to.match(/corrupt or truncated|is NOT valid/);
    });

    it('tampered (the dump changed, the manifest did not)', async () => {
      const contents = await readArchive(archive);
      const tampered = path.join(work, 'tampered.zip');
      const dump = dumpText(contents).replace('Subscriber 1 ', 'Subscriber X ');
      await buildZip(
        tampered,
        { ...Object.fromEntries(contents.entries), 'database/pg_dumpall.sql': Buffer.from(dump, 'latin1') },
        contents.manifest,
      );
      const { stderr } = await expectUntouched(() => restoreCli([tampered, '--yes', '--no-live']), 3);
      expect(stderr).to.match(/database\/pg_dumpall\.sql: SHA-256 differs from the manifest/);
    });

    it('of a newer format version', async () => {
      const newer = await variant('newer.zip', (c) => {
        c.manifest.formatVersion = 2 as 1;
      });
      const { stderr } = await expectUntouched(() => restoreCli([newer, '--yes']), 3);
      expect(stderr).to.match(/format version 2; this cupm-backup reads versions up to 1/);
    });
  });

  it('refuses an archive of another CUPM version than the installed one, saying which is which, unless told', async () => {
    const v80 = await variant('cupm-8.0.zip', (c) => {
      c.manifest.cupm.version = '8.0';
    });
    const { stderr } = await expectUntouched(() => restoreCli([v80, '--yes']), 4);
    expect(stderr).to.include('The archive holds CUPM 8.0; this server has CUPM 8.5 installed.');
    expect(stderr).to.include('--allow-version-mismatch');
    const allowed = await expectUntouched(() => restoreCli([v80, '--dry-run', '--allow-version-mismatch']), 0);
    expect(allowed.stdout).to.match(/Going on \(--allow-version-mismatch\)/);
  });

  it('needs --yes when there is no terminal to confirm on (exit 2)', async () => {
    const { stderr } = await expectUntouched(() => restoreCli([archive]), 2);
    expect(stderr).to.match(/there is no terminal to ask on/);
    expect(stderr).to.match(/pass --yes/);
  });

  it('refuses while another job holds the lock (exit 4)', async () => {
    await fs.mkdir(target.backupDir, { recursive: true });
    const lock = path.join(target.backupDir, 'cupm-backup.lock');
    await fs.writeFile(
      lock,
      JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), command: 'backup' }),
    );
    try {
      const before = await serverState(target);
      const result = await restoreCli([archive, '--yes']);
      expect(result.exitCode, result.stderr).to.equal(4);
      expect(result.stderr).to.match(/Another cupm-backup job is running: "backup"/);
      expect(await serverState(target)).to.deep.equal(before);
    } finally {
      await fs.rm(lock, { force: true });
    }
  });

  it("will not act on another host's journal, nor on a restore that is running right now (exit 4)", async () => {
    await fs.mkdir(target.backupDir, { recursive: true });
    const journal = path.join(target.backupDir, JOURNAL);
    const lock = path.join(target.backupDir, 'cupm-backup.lock');
    const fake = {
      kind: 'cupm-backup restore journal',
      version: 1,
      command: 'restore',
      archive,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      steps: [],
    };
    try {
      await fs.writeFile(journal, JSON.stringify({ ...fake, host: 'cupm-other' }));
      const foreign = await restoreCli([archive, '--yes']);
      expect(foreign.exitCode, foreign.stderr).to.equal(4);
      expect(foreign.stderr).to.include('A restore interrupted on host cupm-other left its journal');

      await fs.writeFile(journal, JSON.stringify({ ...fake, host: os.hostname() }));
      await fs.writeFile(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: fake.startedAt, command: 'restore' }));
      const running = await restoreCli([archive, '--dry-run']);
      expect(running.exitCode, running.stderr).to.equal(4);
      expect(running.stderr).to.include(`A restore is running right now: pid ${process.pid}`);
    } finally {
      await fs.rm(journal, { force: true });
      await fs.rm(lock, { force: true });
    }
  });

  it('refuses a --db-host or --old-nice-host that is not a host name or address: quotes never reach SQL or XML (exit 2)', async () => {
    const before = await serverState(target);
    for (const args of [
      ['--db-host', 'not a host!'],
      ['--db-host', "db'; DROP DATABASE cupm; --"],
      ['--db-host', 'db"/><connection-url>jdbc:evil'],
      ['--db-host', '999.1.2.3'],
      ['--old-nice-host', "x' OR '1'='1"],
    ]) {
      const { exitCode, stderr } = await restoreCli([archive, '--yes', ...args]);
      expect(exitCode, stderr).to.equal(2);
      expect(stderr, args.join(' ')).to.match(/Bad host or port on the command line/);
    }
    expect(await serverState(target)).to.deep.equal(before);
  });

  it('rewrites a dfc.properties with a BOM, a duplicated host key and a continuation line the way Java reads it', async () => {
    let odd = '';
    const messy = await variant('messy-properties.zip', (c) => {
      const props = fileText(c, 'sep/dfc.properties');
      odd =
        '\xef\xbb\xbf' +
        props.replace(
          `dfc.postgres.host=${old.cluster.host}\r\n`,
          'dfc.postgres.host=first.example.com\r\ndfc.log.level=INFO\r\ndfc.postgres.host = 192.0.\\\r\n    2.10\r\n',
        );
      setFile(c, 'sep/dfc.properties', odd);
    });
    const result = await restoreCli([messy, '--yes', '--db-host', 'db2.example.com']);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stderr).to.match(/sets dfc\.postgres\.host more than once \(Java uses the last\): every occurrence was rewritten/);
    const written = await installFile(target, 'sep/dfc.properties');
    expect(written.startsWith('\xef\xbb\xbf')).to.equal(true);
    const [after, before] = await javaReadProperties([written, odd]);
    if (!after!.ok || !before!.ok) throw new Error('Java could not read dfc.properties');
    const expected = new Map(before!.properties);
    expected.set('dfc.postgres.host', 'db2.example.com');
    expect(after!.properties).to.deep.equal(expected);
    expect(written).to.not.include('first.example.com');
  });

  it('says clearly that a dfc.properties without a host key cannot be rewritten, and touches nothing (exit 2)', async () => {
    const noHost = await variant('no-host-key.zip', (c) => {
      setFile(c, 'sep/dfc.properties', fileText(c, 'sep/dfc.properties').replace(/dfc\.postgres\.host=.*\r\n/, ''));
    });
    const { stderr } = await expectUntouched(() => restoreCli([noHost, '--yes', '--db-host', 'db2.example.com']), 2);
    expect(stderr).to.include(
      'sep/dfc.properties in the archive has neither dfc.postgres.host nor dfc.postgres.hostlist: the database host cannot be rewritten.',
    );
  });

  it('a dump that fails half way: the SQL error and its line are shown, and everything is as before, services running (exit 1)', async () => {
    let badLine = 0;
    const failing = await variant('fails-half-way.zip', (c) => {
      const lines = dumpText(c).split('\n');
      // A role the dump creates (with a privilege outside the database) before it fails: undo drops it.
      lines.splice(lines.indexOf('CREATE ROLE cupm;'), 0, 'CREATE ROLE intruder;', 'GRANT CONNECT ON DATABASE postgres TO intruder;');
      badLine = lines.findIndex((l) => l.startsWith('COPY public.nicesyseng ')) + 1;
      lines.splice(badLine - 1, 0, 'SELECT no_such_function();');
      setDump(c, lines.join('\n'));
    });
    await target.cluster.query("UPDATE subscriber SET display_name = 'this server' WHERE id = 1", [], 'cupm');
    const { stderr } = await expectUntouched(() => restoreCli([failing, '--yes', '--no-live', '--db-host', 'db2.example.com']), 1);
    expect(stderr).to.include(`The dump failed at line ${badLine} of database/pg_dumpall.sql:`);
    expect(stderr).to.match(/ERROR: {2}function no_such_function\(\) does not exist/);
    expect(stderr).to.match(
      /\[failed, undone\] Load the dump into PostgreSQL .*\(The dump failed at line \d+ of database\/pg_dumpall\.sql:\)/,
    );
    expect(stderr).to.match(/\[undone\] Move the current database aside/);
    expect(stderr).to.match(/State: every change was undone/);
  });

  it('--jobs 2: a bad row in any table, or an error after the data, names its line of the dump; everything as before (exit 1)', async () => {
    // A bad row in every COPY block of cupm: whichever session meets one first, the line named must be one of them.
    const badRows = new Set<number>();
    const badData = await variant('bad-rows-jobs.zip', (c) => {
      const lines = dumpText(c).split('\n');
      let database = '';
      for (let i = 0; i < lines.length; i++) {
        if (lines[i]!.startsWith('\\connect ')) database = lines[i]!.slice('\\connect '.length);
        if (database === 'cupm' && lines[i]!.startsWith('COPY public.') && lines[i + 1] !== '\\.') {
          lines.splice(i + 2, 0, 'this\tis\tnot\ta\trow');
          badRows.add(i + 3);
        }
      }
      setDump(c, lines.join('\n'));
    });
    expect(badRows.size).to.be.greaterThan(1);
    for (const mode of ['--live', '--no-live']) {
      const { stderr } = await expectUntouched(
        () => restoreCli([badData, '--yes', '--jobs', '2', mode, '--db-host', 'db2.example.com']),
        1,
      );
      const line = Number(/The dump failed at line (\d+) of database\/pg_dumpall\.sql:/.exec(stderr)?.[1]);
      expect(badRows.has(line), `${mode}: line ${line} is not a bad row\n${stderr}`).to.equal(true);
      expect(stderr).to.match(/State: every change was undone/);
    }

    // An error in the first statement after the data: run only once every helper's block is in.
    let badLine = 0;
    const badAfter = await variant('fails-after-data-jobs.zip', (c) => {
      const lines = dumpText(c).split('\n');
      badLine = lines.findIndex((l) => l.startsWith('ALTER TABLE ONLY public.')) + 1;
      lines.splice(badLine - 1, 0, 'SELECT no_such_function();');
      setDump(c, lines.join('\n'));
    });
    const { stderr } = await expectUntouched(() => restoreCli([badAfter, '--yes', '--jobs', '2', '--db-host', 'db2.example.com']), 1);
    expect(stderr).to.include(`The dump failed at line ${badLine} of database/pg_dumpall.sql:`);
    expect(stderr).to.match(/ERROR: {2}function no_such_function\(\) does not exist/);
  });

  it('restores onto a PostgreSQL that has never seen CUPM: no cupm database, no cupm role', async () => {
    const bare = await createBareServer();
    try {
      expect(await bare.cluster.query("SELECT 1 FROM pg_roles WHERE rolname = 'cupm'")).to.deep.equal([]);
      const result = await runCli(['restore', archive, '--yes'], { env: bare.env() });
      expect(result.exitCode, result.stderr).to.equal(0);
      expect(await normalizedDump(bare.cluster, 'cupm')).to.equal(sourceDump);
      expect(await bare.cluster.query("SELECT rolname FROM pg_roles WHERE rolname = 'cupm'")).to.deep.equal([{ rolname: 'cupm' }]);
      expect(await installFile(bare, 'sep/dfc.keystore')).to.equal(await installFile(old, 'sep/dfc.keystore'));
    } finally {
      await bare.destroy();
    }
  });

  // The plain restore's steps (--no-live): the services stopped for the load, the database moved aside.
  describe('killed half way', () => {
    const databases = async () =>
      (await target.cluster.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
    const startRestore = (env: Record<string, string>, args: string[] = []) =>
      execa(BIN, ['restore', archive, '--yes', '--no-live', ...args], {
        env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...target.env(), ...env },
        extendEnv: false,
        reject: false,
        cwd: os.tmpdir(),
      });

    it('Ctrl-C (SIGTERM) during the load stops psql and undoes everything (exit 1)', async () => {
      const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'sigterm'));
      const before = await serverState(target);
      await psql.arm('COPY public.order_history ');
      const run = startRestore({ CUPM_PG_BIN: psql.bin });
      await psql.paused();
      process.kill(run.pid!, 'SIGTERM');
      const result = await run;
      expect(result.exitCode, `${result.signal} ${result.stderr}`).to.equal(1);
      expect(result.stderr).to.match(/Received SIGTERM: stopping and putting things back/);
      expect(result.stderr).to.match(/The restore was cancelled \(Ctrl-C or SIGTERM\) while loading the dump/);
      expect(result.stderr).to.match(/State: every change was undone/);
      expect(await serverState(target)).to.deep.equal(before);
    });

    it('kill -9 during the load: the next run notices it before anything else and undoes it', async () => {
      const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'kill-load'));
      await target.cluster.query("UPDATE subscriber SET display_name = 'before the kill' WHERE id = 1", [], 'cupm');
      const before = await serverState(target);
      await psql.arm('COPY public.order_history ');
      const run = startRestore({ CUPM_PG_BIN: psql.bin });
      const wrapper = await psql.paused();
      expect((await journalOf(target)).steps.find((s) => s.id === 'load')?.status).to.equal('running');
      run.kill('SIGKILL');
      expect((await run).signal).to.equal('SIGKILL');
      // psql reads the end of its input and commits what it had: a half-restored database.
      await waitFor('psql to end', async () => ((await alive(wrapper)) ? undefined : true));
      expect(await databases()).to.satisfy((names: string[]) => names.some((n) => /^cupm__previous_\d{14}$/.test(n)));
      expect(Object.values((await serverState(target)).services)).to.deep.equal(['stopped', 'stopped', 'stopped']);

      // The next run -- here with an archive it refuses -- first puts the server back as it was.
      const next = await restoreCli([corrupt, '--yes']);
      expect(next.exitCode, next.stderr).to.equal(3);
      expect(next.stderr).to.match(/A restore was interrupted/);
      expect(next.stderr).to.match(/it is undone: the half-restored database is dropped/);
      expect(next.stderr).to.match(/The interrupted restore of .* was undone\./);
      expect(await serverState(target)).to.deep.equal(before);
    });

    it('PostgreSQL goes down during the load so the undo cannot finish: exit 5 says what state is left, the services stay stopped; the next run finishes the undo, then starts them', async () => {
      const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'pg-down'));
      const before = await serverState(target);
      const servicesNow = () => Promise.all(target.services.services.map((service) => target.services.status(service)));
      await psql.arm('COPY public.order_history ');
      const run = startRestore({ CUPM_PG_BIN: psql.bin });
      await psql.paused();
      await target.cluster.stop();
      try {
        await psql.release();
        const result = await run;
        expect(result.exitCode, result.stderr).to.equal(5);
        expect(result.stderr).to.match(/could NOT undo everything/);
        expect(result.stderr).to.match(/\[undo-failed\] Load the dump into PostgreSQL/);
        expect(result.stderr).to.match(/PostgreSQL ended the session while loading/);
        expect(result.stderr).to.match(
          /database: the original "cupm" is still named "cupm__previous_\d{14}", and a half-restored "cupm" may exist/,
        );
        expect(result.stderr).to.match(/roles: may still be as the dump set them/);
        expect(result.stderr).to.match(/CUPM files: untouched/);
        expect(result.stderr).to.match(
          /services: LEFT STOPPED: Apache, cupm JBossService, cupm NiceService \(the undo could not finish: the database is not whole, and CUPM must not run on it\)/,
        );
        expect(result.stderr).to.match(/ALTER DATABASE "cupm__previous_\d{14}" RENAME TO "cupm"/);
        expect(result.stderr).to.include(
          `finds the journal ${path.join(target.backupDir, JOURNAL)} and finishes the undo first, then starts the services`,
        );
        expect(await servicesNow()).to.deep.equal(['stopped', 'stopped', 'stopped']);
        const journal = await journalOf(target);
        expect(journal.servicesKeptStopped?.services).to.deep.equal(['Apache', 'cupm JBossService', 'cupm NiceService']);

        // A run while PostgreSQL is still down cannot finish the undo either: exit 5 again, services still stopped.
        const stillDown = await restoreCli([corrupt, '--yes']);
        expect(stillDown.exitCode, stillDown.stderr).to.equal(5);
        expect(stillDown.stderr).to.match(/were left stopped/);
        expect(stillDown.stderr).to.match(/services: LEFT STOPPED/);
        expect(await servicesNow()).to.deep.equal(['stopped', 'stopped', 'stopped']);
      } finally {
        await target.cluster.start();
      }
      expect(await databases()).to.satisfy((names: string[]) => names.some((n) => /^cupm__previous_\d{14}$/.test(n)));

      // PostgreSQL is back: the next run (a dry run only describes) finishes the undo from the journal, then starts the services.
      const dry = await restoreCli([archive, '--dry-run']);
      expect(dry.exitCode, dry.stderr).to.equal(0);
      expect(dry.stdout).to.match(/First, an interrupted restore is finished:[\s\S]*it is undone/);
      const next = await restoreCli([corrupt, '--yes']);
      expect(next.exitCode, next.stderr).to.equal(3);
      expect(next.stderr).to.match(/The interrupted restore of .* was undone\./);
      expect(next.stderr).to.match(/Starting Apache \(it ran before the interrupted restore\)/);
      expect(await serverState(target)).to.deep.equal(before);
    });

    it('restarts PostgreSQL through its service when it runs here; killed in that step, after the load, the next run completes the restore', async () => {
      const postgres = await postgresAsService(target);
      const started = async () => (await target.cluster.query<{ t: string }>('SELECT pg_postmaster_start_time()::text AS t'))[0]!.t;
      const firstStart = await started();
      const ok = await restoreCli([archive, '--yes', '--json'], postgres.env);
      expect(ok.exitCode, ok.stderr).to.equal(0);
      expect(ok.json<{ steps: Array<{ id: string; detail?: string }> }>().steps.find((s) => s.id === 'postgres')?.detail).to.equal(
        'pgsql-8.2 restarted',
      );
      expect(await started()).to.not.equal(firstStart);
      expect(await target.services.events()).to.include.members(['stop pgsql-8.2', 'start pgsql-8.2']);

      await target.cluster.query("UPDATE subscriber SET display_name = 'replaced' WHERE id = 1", [], 'cupm');
      await postgres.pauseNextStop();
      const run = startRestore(postgres.env, ['--old-nice-host', '192.0.2.10']);
      const stopping = await postgres.paused();
      expect((await journalOf(target)).steps.find((s) => s.id === 'load')?.status).to.equal('done');
      run.kill('SIGKILL');
      await run;
      await serviceCommandEnded(stopping);
      await postgres.reset();

      const next = await restoreCli([corrupt, '--yes'], postgres.env);
      expect(next.exitCode, next.stderr).to.equal(3);
      expect(next.stderr).to.match(/it is completed: the dump had been loaded in full/);
      expect(next.stderr).to.match(/The interrupted restore of .* was completed\./);
      expect(await normalizedDump(target.cluster, 'cupm')).to.equal(withoutNiceRows(sourceDump, '192.0.2.10'));
      const state = await serverState(target);
      expect(state.databases).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);
      expect(Object.values(state.services)).to.deep.equal(['running', 'running', 'running']);
      expect(state.backupDirLeftovers).to.deep.equal([]);
      expect(await installFile(target, 'sep/dfc.properties')).to.equal(await installFile(old, 'sep/dfc.properties'));
    });
  });
});
