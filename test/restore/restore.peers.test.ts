import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { expect } from '../support/expect.js';
import { quote } from 'shell-quote';
import { BIN, runCli } from '../support/cli.js';
import { javaReadProperties, javaReadXml } from '../support/java.js';
import { editArchive, fileText, readArchive } from '../support/archive-edit.js';
import { createRestoreStage, type RestoreStage } from '../support/restore-stage.js';
import { backupOf, installFile, normalizedDump, serverState, setAutovacuum, tablesOf, withoutNiceRows } from '../support/servers.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

const DS = 'EnterprisePlatform-4.2.0.GA_CP09/server/cupm/deploy/dfc-ds.xml';

describe('restore: bringing a CUPM server back from an archive', function () {
  this.timeout(300_000);
  let stage: RestoreStage;
  let old: SandboxServer;
  let target: SandboxServer;
  let archive: string;
  let sourceDump: string;
  let work: string;

  before(async () => {
    stage = await createRestoreStage('cupm-restore-test', {
      // Something only the old server has outside its cupm database: it must not travel.
      beforeBackup: async (server) => {
        await server.cluster.query('CREATE TABLE admin_notes (note text)', [], 'postgres');
      },
    });
    ({ old, target, archive, sourceDump, work } = stage);
  });
  after(async () => {
    await stage?.destroy();
  });

  const restoreCli = (...args: string[]) => runCli(['restore', ...args], { env: target.env() });

  it("restores last night's backup onto a new server: the same database, files and keystore, services running", async () => {
    const result = await restoreCli(archive, '--yes', '--json');
    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<{ ok: boolean; steps: Array<{ id: string; status: string }>; previousDatabases: string[] }>();
    expect(json.ok).to.equal(true);
    expect(
      json.steps.every((s) => s.status === 'done'),
      JSON.stringify(json.steps),
    ).to.equal(true);
    expect(json.previousDatabases).to.deep.equal([]);

    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
    const databases = (await target.cluster.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
    expect(databases).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);

    // Files: byte for byte, read back by their real readers.
    for (const file of ['install.log', 'sep/dfc.properties', 'sep/dfc.keystore', DS]) {
      expect(await installFile(target, file), file).to.equal(await installFile(old, file));
    }
    const keytool = async (server: SandboxServer) =>
      (
        await execa('keytool', ['-list', '-keystore', path.join(server.installDir, 'sep', 'dfc.keystore'), '-storepass:env', 'KS'], {
          env: { KS: 'changeit' },
        })
      ).stdout;
    expect(await keytool(target)).to.equal(await keytool(old));
    const [props] = await javaReadProperties([await installFile(target, 'sep/dfc.properties')]);
    expect(props!.ok && props!.properties.get('dfc.postgres.host')).to.equal(old.cluster.host);
    const [xml] = await javaReadXml([await installFile(target, DS)]);
    expect(xml!.ok && xml!.connectionUrls).to.deep.equal([`jdbc:postgresql://${old.cluster.host}:${old.cluster.port}/cupm`]);

    // Services are back; no journal or snapshot is left behind.
    const state = await serverState(target);
    expect(Object.values(state.services)).to.deep.equal(['running', 'running', 'running']);
    expect(state.backupDirLeftovers).to.deep.equal([]);

    // The admin login of this server still works (the dump's own admin password was not applied);
    // the application role now has the old server's password, the one the restored dfc-ds.xml holds.
    await target.cluster.query('SELECT 1');
    await login(target, 'cupm', 'old-app-pw');
    await expect(login(target, 'cupm', 'new-app-pw')).to.be.rejectedWith(/password authentication failed/);

    // What the old server kept in its postgres database is not loaded into this one's, and is named.
    expect(await target.cluster.query("SELECT 1 FROM pg_tables WHERE tablename = 'admin_notes'")).to.deep.equal([]);
    expect(result.stderr).to.match(
      /built-in database "postgres" \(lines \d+-\d+ of database\/pg_dumpall\.sql, first: CREATE TABLE public\.admin_notes/,
    );
  });

  it("--jobs 2, live or plain: the tables' data in two sessions gives the same database, each table's rows in the old server's order", async () => {
    const tables = (
      await old.cluster.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", [], 'cupm')
    ).map((r) => r.t);
    // A sequential scan gives a table's rows in their physical order: the order the load wrote them in.
    const inOrder = async (server: SandboxServer, table: string) =>
      (await server.cluster.query(`SELECT * FROM public."${table}"`, [], 'cupm')).map((row) => JSON.stringify(row));
    for (const mode of ['--live', '--no-live']) {
      const result = await restoreCli(archive, '--yes', '--json', '--jobs', '2', mode);
      expect(result.exitCode, result.stderr).to.equal(0);
      const load = result.json<{ steps: Array<{ id: string; title: string; detail?: string }> }>().steps.find((s) => s.id === 'load')!;
      expect(load.title, mode).to.match(/the tables' data in 2 sessions/);
      expect(load.detail, mode).to.match(new RegExp(`; \\d+ of ${tables.length} tables' data loaded by a helper session$`));
      expect(await normalizedDump(target.cluster, 'cupm'), mode).to.equal(sourceDump);
      for (const table of tables) expect(await inOrder(target, table), `${mode}: ${table}`).to.deep.equal(await inOrder(old, table));
    }
    // The plan says so; one session unless asked.
    const planned = async (...args: string[]) =>
      JSON.stringify((await restoreCli(archive, '--yes', '--json', '--dry-run', ...args)).json());
    expect(await planned('--jobs', '2')).to.match(/the tables' data in 2 sessions/);
    expect(await planned()).to.not.match(/data in \d+ sessions/);
  });

  it('on a terminal, shows the plan and asks; only "yes" goes on', async () => {
    const onTerminal = (answer: string) =>
      execa('script', ['-qec', quote([BIN, 'restore', archive]), '/dev/null'], {
        env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...target.env() },
        extendEnv: false,
        input: `${answer}\n`,
        reject: false,
        cwd: os.tmpdir(),
      });
    const before = await serverState(target);
    const declined = await onTerminal('no');
    expect(declined.exitCode, declined.stdout).to.equal(1);
    expect(declined.stdout).to.include('Databases replaced from the archive:');
    expect(declined.stdout).to.include('Restore this archive onto this server now? Type "yes" to go on:');
    expect(declined.stdout).to.match(/Cancelled: nothing was done\./);
    expect(await serverState(target)).to.deep.equal(before);

    const accepted = await onTerminal('yes');
    expect(accepted.exitCode, accepted.stdout).to.equal(0);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
  });

  it('--dry-run prints every change it would make, and changes nothing', async () => {
    const before = await serverState(target);
    const result = await restoreCli(archive, '--dry-run', '--db-host', 'db2.example.com', '--old-nice-host', '192.0.2.10');
    expect(result.exitCode, result.stderr).to.equal(0);
    const plan = result.stdout;
    for (const service of ['Apache', 'cupm JBossService', 'cupm NiceService']) expect(plan).to.include(`  - ${service}\n`);
    expect(plan).to.match(/cupm \(the current one is renamed cupm__previous_\d{14}, then dropped once the services run\)/);
    expect(plan).to.include('planner statistics: gathered by autovacuum (on here) within its next rounds');
    expect(plan).to.include('set as in the backup: cupm, postgres');
    expect(plan).to.include('the password of postgres (the admin this tool uses) stays as it is');
    expect(plan).to.include(`${path.join(target.installDir, 'sep', 'dfc.keystore')} (replaced, from archive)`);
    expect(plan).to.include(`sep/dfc.properties: dfc.postgres.host: ${old.cluster.host} -> db2.example.com`);
    expect(plan).to.include(
      `${DS}: <connection-url>: jdbc:postgresql://${old.cluster.host}:${old.cluster.port}/cupm -> jdbc:postgresql://db2.example.com:${old.cluster.port}/cupm`,
    );
    expect(plan).to.include('delete the rows of the old NICE host 192.0.2.10: 2 rows (counted in the dump)');
    expect(plan).to.include('(--dry-run: nothing was changed)');
    expect(await serverState(target)).to.deep.equal(before);
  });

  it("warns in the plan when PostgreSQL here listens on another port than the archive's dfc.postgres.port; --db-port rewrites it", async () => {
    expect(old.cluster.port).not.to.equal(target.cluster.port);
    const warned = await restoreCli(archive, '--dry-run');
    expect(warned.exitCode, warned.stderr).to.equal(0);
    expect(warned.stdout + warned.stderr).to.include(
      `dfc.postgres.port is ${old.cluster.port} in the restored dfc.properties, but PostgreSQL here listens on ${target.cluster.port} (PGPORT): CUPM would connect to the wrong port. Pass --db-port ${target.cluster.port}`,
    );
    const rewritten = await restoreCli(archive, '--dry-run', '--db-port', String(target.cluster.port));
    expect(rewritten.exitCode, rewritten.stderr).to.equal(0);
    expect(rewritten.stdout).to.include(`sep/dfc.properties: dfc.postgres.port: ${old.cluster.port} -> ${target.cluster.port}`);
    expect(rewritten.stdout + rewritten.stderr).not.to.include('CUPM would connect to the wrong port');
  });

  it('--db-host rewrites the database host in dfc.properties and dfc-ds.xml, and nothing else', async () => {
    // This server keeps its dfc.properties owner-only: a replaced file keeps the mode it had.
    await fs.chmod(path.join(target.installDir, 'sep', 'dfc.properties'), 0o640);
    const result = await restoreCli(archive, '--yes', '--db-host', 'db2.example.com');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect((await fs.stat(path.join(target.installDir, 'sep', 'dfc.properties'))).mode & 0o777).to.equal(0o640);
    const [restored, original] = await javaReadProperties([
      await installFile(target, 'sep/dfc.properties'),
      await installFile(old, 'sep/dfc.properties'),
    ]);
    expect(restored!.ok && original!.ok).to.equal(true);
    if (!restored!.ok || !original!.ok) return;
    const expected = new Map(original!.properties);
    expected.set('dfc.postgres.host', 'db2.example.com');
    expect(restored!.properties).to.deep.equal(expected);
    // Only the value changed: comments, CRLF, escapes and the continuation line are the old bytes.
    expect(await installFile(target, 'sep/dfc.properties')).to.equal(
      (await installFile(old, 'sep/dfc.properties')).replace(`dfc.postgres.host=${old.cluster.host}`, 'dfc.postgres.host=db2.example.com'),
    );
    const [xml, oldXml] = await javaReadXml([await installFile(target, DS), await installFile(old, DS)]);
    expect(xml!.ok && xml!.connectionUrls).to.deep.equal([`jdbc:postgresql://db2.example.com:${old.cluster.port}/cupm`]);
    if (xml!.ok && oldXml!.ok) {
      expect(xml!.nodes.filter((n) => !n.includes('connection-url'))).to.deep.equal(
        oldXml!.nodes.filter((n) => !n.includes('connection-url')),
      );
    }
  });

  it('--old-nice-host deletes the rows of the old NICE host from nicesyseng and says how many', async () => {
    const result = await restoreCli(archive, '--yes', '--json', '--old-nice-host', '192.0.2.10');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.json<{ nicesysengDeleted: number }>().nicesysengDeleted).to.equal(2);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(withoutNiceRows(sourceDump, '192.0.2.10'));
    expect(sourceDump).to.not.equal(withoutNiceRows(sourceDump, '192.0.2.10'));
  });

  it('with autovacuum off (8.2, as installed), it gathers the planner statistics (ANALYZE) once the services run, live or plain; with it on, it leaves them to autovacuum', async () => {
    const steps = (result: { json<T>(): T }) =>
      result.json<{ steps: Array<{ id: string; status: string }> }>().steps.map((s) => `${s.id} ${s.status}`);
    await setAutovacuum(target, false);
    try {
      const dry = await restoreCli(archive, '--dry-run');
      expect(dry.stdout).to.include(
        'then ANALYZE in each, once the services run (a dump carries no planner statistics, and autovacuum is off here)',
      );
      for (const mode of ['--live', '--no-live']) {
        const result = await restoreCli(archive, '--yes', '--json', mode);
        expect(result.exitCode, result.stderr).to.equal(0);
        // After the services started again (its last step), and before nothing else.
        expect(steps(result).slice(-2), mode).to.deep.equal(['drop-previous done', 'analyze done']);
        expect(result.stderr).to.match(/Gather the planner statistics of cupm \(ANALYZE\)/);
        expect(await tablesOf(target, 'cupm', { neverAnalyzed: true }), mode).to.deep.equal([]);
      }
    } finally {
      await setAutovacuum(target, true);
    }
    const result = await restoreCli(archive, '--yes', '--json');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(steps(result)).to.not.include('analyze done');
    // Not one table analyzed by the restore (autovacuum's own runs are counted apart).
    expect(await tablesOf(target, 'cupm', { neverAnalyzed: true })).to.deep.equal(await tablesOf(target));
  });

  it('--no-files restores the database only', async () => {
    // The server's own dfc.properties differs from the archive's: it must stay as it is.
    const props = path.join(target.installDir, 'sep', 'dfc.properties');
    await fs.appendFile(props, '# this server\r\n');
    const files = (await serverState(target)).files;
    await target.cluster.query("UPDATE subscriber SET display_name = 'changed here'", [], 'cupm');
    const result = await restoreCli(archive, '--yes', '--no-files');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect((await serverState(target)).files).to.deep.equal(files);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
  });

  it('--keep-previous keeps the database that was replaced, under a name that says so', async () => {
    await target.cluster.query("INSERT INTO subscriber (user_id, display_name) VALUES ('only-here', 'Only Here')", [], 'cupm');
    const replaced = await normalizedDump(target.cluster, 'cupm');
    const result = await restoreCli(archive, '--yes', '--json', '--keep-previous');
    expect(result.exitCode, result.stderr).to.equal(0);
    const [previous] = result.json<{ previousDatabases: string[] }>().previousDatabases;
    expect(previous).to.match(/^cupm__previous_\d{14}$/);
    expect(await normalizedDump(target.cluster, previous!)).to.equal(replaced);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
    await target.cluster.query(`DROP DATABASE ${previous}`);
  });

  it("--admin-password-from-backup gives the admin role the old server's password, at the very end", async () => {
    const result = await restoreCli(archive, '--yes', '--admin-password-from-backup');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stderr).to.match(/the password of postgres is now the backup's/);
    await login(target, 'postgres', 'old-admin-pw');
    await expect(target.cluster.query('SELECT 1')).to.be.rejectedWith(/password authentication failed/);
    await login(target, 'postgres', 'old-admin-pw', "ALTER ROLE postgres PASSWORD 'new-admin-pw'");
  });

  it('replaces the other databases the archive holds, and keeps those only this server has', async () => {
    const other = path.join(work, 'with-reports.zip');
    // The old server had a reports database too, backed up as one CUPM_EXTRA_DATABASES names; so
    // does this one (with other contents).
    await old.cluster.query('CREATE DATABASE reports');
    await old.cluster.query("CREATE TABLE r (x text); INSERT INTO r VALUES ('from the old server')", [], 'reports');
    try {
      await fs.copyFile(await backupOf(old, { CUPM_EXTRA_DATABASES: 'reports' }), other);
    } finally {
      await old.cluster.query('DROP DATABASE reports');
    }
    await target.cluster.query('CREATE DATABASE reports');
    await target.cluster.query("CREATE TABLE r (x text); INSERT INTO r VALUES ('from this server')", [], 'reports');
    await target.cluster.query('CREATE DATABASE local_only');
    const result = await restoreCli(other, '--yes');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(await target.cluster.query('SELECT x FROM r', [], 'reports')).to.deep.equal([{ x: 'from the old server' }]);
    const databases = (await target.cluster.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
    expect(databases).to.deep.equal(['cupm', 'local_only', 'postgres', 'reports', 'template0', 'template1']);
    await target.cluster.query('DROP DATABASE reports');
    await target.cluster.query('DROP DATABASE local_only');
  });

  it('restores an archive whose dump was written with CRLF line ends (a copy made on Windows)', async () => {
    const crlf = await editArchive(archive, path.join(work, 'crlf.zip'), (contents) => {
      const dump = contents.entries.get('database/pg_dumpall.sql')!.toString('latin1');
      contents.entries.set('database/pg_dumpall.sql', Buffer.from(dump.replace(/\r?\n/g, '\r\n'), 'latin1'));
    });
    const result = await restoreCli(crlf, '--yes');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
    expect(fileText(await readArchive(crlf), 'sep/dfc.properties')).to.include('\r\n');
  });
});

/** Logs in as `user` with `password` and runs `sql`; rejects when the login is refused. */
async function login(server: SandboxServer, user: string, password: string, sql = 'SELECT 1'): Promise<void> {
  const client = new pg.Client({ host: server.cluster.host, port: server.cluster.port, user, password, database: 'postgres' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
