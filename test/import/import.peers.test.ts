import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { DUMP_ENTRY, MANIFEST_ENTRY, type Manifest } from '../../src/archive/format.js';
import { startCluster, type Cluster } from '../../src/sandbox/cluster.js';
import { createSampleCupmDatabase } from '../../src/sandbox/cupm-database.js';
import { createInstallTree, JBOSS_FOLDER_85 } from '../../src/sandbox/install-tree.js';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { javaReadProperties } from '../support/java.js';
import { createBareServer, normalizedDump } from '../support/servers.js';

const FIVE_FILES = [
  'install.log',
  'sep/dfc.properties',
  'sep/dfc.keystore',
  `${JBOSS_FOLDER_85}/server/cupm/conf/login-config.xml`,
  `${JBOSS_FOLDER_85}/server/cupm/deploy/dfc-ds.xml`,
];

/** The bytes of one archive entry, as Info-ZIP's unzip extracts it. */
async function entryBytes(archive: string, entry: string): Promise<Buffer> {
  const { stdout } = await execa('unzip', ['-p', archive, entry], { encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(stdout);
}

async function manifestOf(archive: string): Promise<Manifest & Record<string, unknown>> {
  return JSON.parse((await entryBytes(archive, MANIFEST_ENTRY)).toString('utf8')) as Manifest & Record<string, unknown>;
}

describe("import: a manual backup made the install guide's way becomes an archive", function () {
  this.timeout(300_000);
  let cluster: Cluster;
  let work: string;
  /** pg_dumpall of the sample CUPM cluster, made by hand as the install guide says. */
  let dump: string;
  /** The five files, copied in their install-dir layout. */
  let copied: string;
  let serverVersion: string;

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-import-'));
    cluster = await startCluster({ password: 'old-admin-secret' });
    await createSampleCupmDatabase(cluster, { rolePassword: 'cupm-app-secret', niceHost: '192.0.2.10', subscribers: 50 });
    dump = path.join(work, 'cupm-backup-20110315.sql');
    await execa(path.join(cluster.binDir, 'pg_dumpall'), ['-U', cluster.adminUser, '-f', dump], {
      env: cluster.env(),
      stdin: 'ignore',
    });
    // As backup records it: the version number without the distribution's suffix.
    serverVersion = (await cluster.query<{ server_version: string }>('SHOW server_version'))[0]!.server_version.split(' ')[0]!;
    copied = path.join(work, 'copied-files');
    await createInstallTree(copied, { dbHost: '192.0.2.10' });
  });

  after(async () => {
    await cluster?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  let out: string;
  beforeEach(async () => {
    out = await fs.mkdtemp(path.join(work, 'out-'));
  });

  it('wraps pg_dumpall output and the copied files into an archive that verify and unzip -t accept, bytes identical', async () => {
    const result = await runCli([
      'import',
      '--dump',
      dump,
      '--files',
      copied,
      '--output-dir',
      out,
      '--source-host',
      'cupm-old',
      '--source-address',
      '192.0.2.10',
      '--json',
    ]);
    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<{ archive: string; dumpComplete: boolean; files: string[]; databases: string[]; roles: string[] }>();
    expect(path.dirname(json.archive)).to.equal(out);
    expect(path.basename(json.archive)).to.match(/^cupm-backup_cupm-old_\d{8}T\d{6}Z_imported\.zip$/);
    expect(json.dumpComplete).to.equal(true);
    expect(json.files).to.deep.equal(FIVE_FILES);

    const verify = await runCli(['verify', json.archive, '--json']);
    expect(verify.exitCode, verify.stderr).to.equal(0);
    expect(verify.json<{ ok: boolean }>().ok).to.equal(true);
    await execa('unzip', ['-t', json.archive]);

    expect((await entryBytes(json.archive, DUMP_ENTRY)).equals(await fs.readFile(dump))).to.equal(true);
    for (const file of FIVE_FILES) {
      const original = await fs.readFile(path.join(copied, ...file.split('/')));
      expect((await entryBytes(json.archive, `files/${file}`)).equals(original), file).to.equal(true);
    }

    const manifest = await manifestOf(json.archive);
    expect(manifest.imported).to.equal(true);
    expect(manifest.dumpComplete).to.equal(true);
    expect(manifest.importedFrom).to.include({ dumpFile: 'cupm-backup-20110315.sql', dumpLineEnds: 'lf', dumpClientEncoding: 'UTF8' });
    expect(manifest.source).to.deep.equal({ hostname: 'cupm-old', addresses: ['192.0.2.10'], platform: 'unknown', osRelease: 'unknown' });
    expect(manifest.cupm).to.deep.equal({ version: '8.5', installDir: 'C:\\CUPM' });
    // What backup records from the live cluster, the import must read from the dump.
    const roles = (await cluster.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname")).map(
      (r) => r.rolname,
    );
    const dbs = (
      await cluster.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datallowconn AND datname <> $1 ORDER BY datname', [
        'template0',
      ])
    ).map((r) => r.datname);
    expect(manifest.postgres).to.deep.equal({
      host: '192.0.2.10',
      port: 5432,
      serverVersion,
      dumpToolVersion: serverVersion,
      databases: dbs,
      roles,
    });
  });

  it('the imported archive restores onto a fresh server: the same database, and the files pointed at the new host', async () => {
    const imported = await runCli([
      'import',
      '--dump',
      dump,
      '--files',
      copied,
      '--output-dir',
      out,
      '--source-address',
      '192.0.2.10',
      '--json',
    ]);
    expect(imported.exitCode, imported.stderr).to.equal(0);
    const target = await createBareServer();
    try {
      const restored = await runCli(
        ['restore', imported.json<{ archive: string }>().archive, '--db-host', target.cluster.host, '--yes', '--json'],
        { env: target.env() },
      );
      expect(restored.exitCode, restored.stderr).to.equal(0);
      expect(await normalizedDump(target.cluster, 'cupm')).to.equal(await normalizedDump(cluster, 'cupm'));
      const [properties] = await javaReadProperties([await fs.readFile(path.join(target.installDir, 'sep', 'dfc.properties'), 'latin1')]);
      expect(properties!.ok && properties!.properties.get('dfc.postgres.host')).to.equal(target.cluster.host);
    } finally {
      await target.destroy();
    }
  });

  it('dates an imported dump by its own "-- Started on" stamp, names it so, and records that it is an import', async () => {
    const old = path.join(work, 'dump-2011.sql');
    const text = (await fs.readFile(dump, 'latin1')).replace(
      '-- PostgreSQL database cluster dump\n',
      '-- PostgreSQL database cluster dump\n\n-- Started on 2011-03-15 02:00:05 JST\n',
    );
    await fs.writeFile(old, text, 'latin1');
    const result = await runCli(['import', '--dump', old, '--output-dir', out, '--cupm-version', '8.5', '--json']);
    expect(result.exitCode, result.stderr).to.equal(0);
    const { archive } = result.json<{ archive: string }>();
    expect(path.basename(archive)).to.match(/_20110314T170005Z_imported\.zip$/);
    const manifest = await manifestOf(archive);
    expect(manifest.createdAt).to.equal('2011-03-14T17:00:05.000Z');
    expect(manifest.imported).to.equal(true);
    expect((manifest.importedFrom as { datedBy: string }).datedBy).to.equal('dump');
  });

  it('dates a dump without a time stamp by its file time, and --created-at overrides both', async () => {
    const undated = path.join(work, 'undated.sql');
    await fs.copyFile(dump, undated);
    await fs.utimes(undated, new Date('2012-06-01T08:30:00Z'), new Date('2012-06-01T08:30:00Z'));
    const byFile = await runCli(['import', '--dump', undated, '--output-dir', out, '--cupm-version', '8.5', '--json']);
    expect(byFile.exitCode, byFile.stderr).to.equal(0);
    expect((await manifestOf(byFile.json<{ archive: string }>().archive)).createdAt).to.equal('2012-06-01T08:30:00.000Z');
    const told = await runCli([
      'import',
      '--dump',
      undated,
      '--output-dir',
      out,
      '--cupm-version',
      '8.5',
      '--created-at',
      '2010-01-02T03:04:05Z',
      '--json',
    ]);
    expect(told.exitCode, told.stderr).to.equal(0);
    expect(path.basename(told.json<{ archive: string }>().archive)).to.match(/_20100102T030405Z_imported\.zip$/);
    const bad = await runCli(['import', '--dump', undated, '--output-dir', out, '--created-at', 'yesterday']);
    expect(bad.exitCode).to.equal(2);
    expect(bad.stderr).to.contain('--created-at "yesterday" is not an ISO-8601 time');
  });

  it('refuses a dump without the cupm database (pg_dumpall --roles-only) with exit 3; --allow-missing-database imports it and verify warns', async () => {
    const roles = path.join(work, 'roles-only.sql');
    await execa(path.join(cluster.binDir, 'pg_dumpall'), ['-U', cluster.adminUser, '--roles-only', '-f', roles], {
      env: cluster.env(),
      stdin: 'ignore',
    });
    const refused = await runCli(['import', '--dump', roles, '--output-dir', out, '--cupm-version', '8.5']);
    expect(refused.exitCode).to.equal(3);
    expect(refused.stderr).to.contain('holds no database "cupm"').and.to.contain('--allow-missing-database');
    expect((await fs.readdir(out)).filter((name) => name.startsWith('cupm-backup_'))).to.deep.equal([]);

    const allowed = await runCli([
      'import',
      '--dump',
      roles,
      '--output-dir',
      out,
      '--cupm-version',
      '8.5',
      '--allow-missing-database',
      '--json',
    ]);
    expect(allowed.exitCode, allowed.stderr).to.equal(0);
    const { archive } = allowed.json<{ archive: string }>();
    const verify = await runCli(['verify', archive, '--json']);
    expect(verify.exitCode, verify.stderr).to.equal(0);
    expect(verify.json<{ warnings: string[] }>().warnings.join('\n')).to.contain('holds no database "cupm"');
  });

  it('refuses a dump cut short (no closing comment) with exit 3 and writes nothing', async () => {
    const truncated = path.join(work, 'truncated.sql');
    const bytes = await fs.readFile(dump);
    await fs.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const result = await runCli(['import', '--dump', truncated, '--files', copied, '--output-dir', out]);
    expect(result.exitCode).to.equal(3);
    expect(result.stderr)
      .to.contain('does not end with "-- PostgreSQL database cluster dump complete"')
      .and.to.contain('--allow-incomplete');
    expect((await fs.readdir(out)).filter((name) => name.startsWith('cupm-backup_'))).to.deep.equal([]);
  });

  it('imports a dump cut short with --allow-incomplete; the manifest records it and verify warns instead of failing', async () => {
    const truncated = path.join(work, 'truncated-allowed.sql');
    const bytes = await fs.readFile(dump);
    await fs.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const result = await runCli([
      'import',
      '--dump',
      truncated,
      '--output-dir',
      out,
      '--cupm-version',
      '8.5',
      '--allow-incomplete',
      '--json',
    ]);
    expect(result.exitCode, result.stderr).to.equal(0);
    const { archive, dumpComplete } = result.json<{ archive: string; dumpComplete: boolean }>();
    expect(dumpComplete).to.equal(false);
    const manifest = await manifestOf(archive);
    expect(manifest.dumpComplete).to.equal(false);
    expect(manifest.cupm.version).to.equal('8.5');
    const verify = await runCli(['verify', archive, '--json']);
    expect(verify.exitCode, verify.stderr).to.equal(0);
    expect(verify.json<{ warnings: string[] }>().warnings[0]).to.contain('incomplete');
    expect(verify.stderr).to.contain('warning:');
  });

  it('imports a dump made on Japanese Windows (CRLF line ends, Shift_JIS) byte for byte', async () => {
    const sjis = path.join(work, 'sjis.sql');
    await execa(path.join(cluster.binDir, 'pg_dumpall'), ['-U', cluster.adminUser, '-f', sjis], {
      env: { ...cluster.env(), PGCLIENTENCODING: 'SJIS' },
      stdin: 'ignore',
    });
    const crlf = path.join(work, 'sjis-crlf.sql');
    const lf = await fs.readFile(sjis);
    await fs.writeFile(crlf, Buffer.from(lf.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'));
    expect(lf.includes(Buffer.from([0x8e, 0x52, 0x93, 0x63])), 'the dump holds 山田 in Shift_JIS').to.equal(true);

    const result = await runCli(['import', '--dump', crlf, '--files', copied, '--output-dir', out, '--json']);
    expect(result.exitCode, result.stderr).to.equal(0);
    const { archive } = result.json<{ archive: string }>();
    expect((await runCli(['verify', archive])).exitCode).to.equal(0);
    expect((await entryBytes(archive, DUMP_ENTRY)).equals(await fs.readFile(crlf))).to.equal(true);
    const manifest = await manifestOf(archive);
    expect(manifest.importedFrom).to.include({ dumpLineEnds: 'crlf', dumpClientEncoding: 'SJIS' });
    expect(manifest.postgres.roles).to.include('cupm');
    expect(manifest.postgres.databases).to.include('cupm');
  });

  it('names every file missing from --files (exit 2); --allow-missing-files imports the rest and the manifest names them', async () => {
    const partial = path.join(work, 'partial-files');
    await fs.cp(copied, partial, { recursive: true });
    await fs.rm(path.join(partial, 'sep', 'dfc.keystore'));
    await fs.rm(path.join(partial, 'install.log'));
    const refused = await runCli(['import', '--dump', dump, '--files', partial, '--output-dir', out]);
    expect(refused.exitCode).to.equal(2);
    expect(refused.stderr)
      .to.contain(path.join(partial, 'sep', 'dfc.keystore'))
      .and.to.contain(path.join(partial, 'install.log'));
    expect(refused.stderr).to.contain('--allow-missing-files');

    const allowed = await runCli([
      'import',
      '--dump',
      dump,
      '--files',
      partial,
      '--output-dir',
      out,
      '--cupm-version',
      '8.5',
      '--allow-missing-files',
      '--json',
    ]);
    expect(allowed.exitCode, allowed.stderr).to.equal(0);
    const json = allowed.json<{ archive: string; missingFiles: string[]; files: string[] }>();
    expect(json.missingFiles).to.deep.equal(['install.log', 'sep/dfc.keystore']);
    expect(json.files).to.have.length(3);
    expect((await manifestOf(json.archive)).importedFrom).to.deep.include({ missingFiles: ['install.log', 'sep/dfc.keystore'] });
    expect((await runCli(['verify', json.archive])).exitCode).to.equal(0);
  });

  it("finds the files whatever their case (copied from Windows) and records them under CUPM's names", async () => {
    const shouty = path.join(work, 'shouty-files');
    await fs.cp(copied, shouty, { recursive: true });
    await fs.rename(path.join(shouty, 'sep'), path.join(shouty, 'SEP'));
    await fs.rename(path.join(shouty, 'SEP', 'dfc.properties'), path.join(shouty, 'SEP', 'DFC.Properties'));
    const result = await runCli(['import', '--dump', dump, '--files', shouty, '--output-dir', out, '--json']);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.json<{ files: string[] }>().files).to.deep.equal(FIVE_FILES);
  });

  it('checks --cupm-version against install.log: a mismatch is a usage error (exit 2)', async () => {
    const result = await runCli(['import', '--dump', dump, '--files', copied, '--output-dir', out, '--cupm-version', '2.2']);
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.contain('--cupm-version 2.2 contradicts').and.to.contain('CUPM 8.5');
  });

  it('refuses what is not a pg_dumpall script: a single-database pg_dump, a UTF-16 file (exit 3)', async () => {
    const single = path.join(work, 'single.sql');
    await execa(path.join(cluster.binDir, 'pg_dump'), ['-U', cluster.adminUser, '-d', 'cupm', '-f', single], {
      env: cluster.env(),
      stdin: 'ignore',
    });
    const one = await runCli(['import', '--dump', single, '--output-dir', out]);
    expect(one.exitCode).to.equal(3);
    expect(one.stderr).to.contain('pg_dump of a single database');

    const utf16 = path.join(work, 'powershell.sql');
    await fs.writeFile(
      utf16,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from((await fs.readFile(dump, 'utf8')).slice(0, 2000), 'utf16le')]),
    );
    const wide = await runCli(['import', '--dump', utf16, '--output-dir', out]);
    expect(wide.exitCode).to.equal(3);
    expect(wide.stderr).to.contain('UTF-16');
  });

  it('bad options are reported all at once (exit 2), before anything is written', async () => {
    const result = await runCli([
      'import',
      '--dump',
      path.join(work, 'no-such.sql'),
      '--files',
      path.join(work, 'no-such-dir'),
      '--output-dir',
      out,
      '--source-host',
      'bad"host',
      '--source-address',
      'not-an-ip',
      '--cupm-version',
      'eight',
    ]);
    expect(result.exitCode).to.equal(2);
    for (const text of ['no-such.sql', 'no-such-dir', '--source-host', 'not-an-ip', '"eight"']) expect(result.stderr).to.contain(text);
    expect(await fs.readdir(out)).to.deep.equal([]);
  });
});
