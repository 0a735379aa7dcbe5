import fs from 'node:fs/promises';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { mountTmpfs, type TestMount } from '../support/mounts.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';

const MB = 1024 * 1024;

/**
 * The free-space check before a backup sizes what the backup dumps: CUPM's databases and the
 * built-in ones. Another application's big database on the same cluster, which the dump leaves
 * out (--exclude-database), needs no room in the backup folder.
 */
describe('backup free space: only the databases the backup dumps count', function () {
  this.timeout(300_000);
  let server: SandboxServer;
  let mount: TestMount | undefined;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-free-space' });
    await server.cluster.query('CREATE DATABASE other_app');
    // About 75 MB on disk: rows of 960 bytes stay below the TOAST threshold, so nothing is compressed.
    await server.cluster.query(
      'CREATE TABLE filler AS SELECT i, repeat(md5(i::text), 30) AS pad FROM generate_series(1, 70000) i',
      [],
      'other_app',
    );
  });
  after(async () => {
    await mount?.unmount();
    await server?.destroy();
  });

  it('a disk with room for the dumped databases, not for the big one left out: spooled, no warning, and the dump leaves it out', async () => {
    const rows = await server.cluster.query<{ datname: string; bytes: string }>(
      "SELECT datname, pg_database_size(datname)::text AS bytes FROM pg_database WHERE datallowconn AND datname <> 'template0'",
    );
    const size = (names: string[]) => rows.filter((r) => names.includes(r.datname)).reduce((sum, r) => sum + Number(r.bytes), 0);
    const dumped = size(['cupm', 'postgres', 'template1']);
    const all = size(rows.map((r) => r.datname));
    // Room for the spool and the archive of the dumped databases (their estimate), with a margin;
    // less than the estimate of every database, which would have streamed instead of spooling.
    const room = Math.ceil(dumped * 1.25) + 24 * MB;
    expect(room, 'the test premise: the whole cluster does not fit').to.be.below(Math.ceil(all * 1.25));
    mount = await mountTmpfs({ sizeBytes: room, prefix: 'cupm-free-space-' });

    const run = await runCli(['backup', '--json'], { env: { ...server.env(), CUPM_BACKUP_DIR: mount.dir } });
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.stderr).not.to.match(/no room for a dump spool|Not enough free disk/);
    const result = JSON.parse(run.stdout) as { archive: string; spooled: boolean };
    expect(result.spooled).to.equal(true);
    expect((await fs.readdir(mount.dir)).filter((n) => n.endsWith('.spool') || n.endsWith('.partial'))).to.deep.equal([]);
    const { stdout } = await execa('unzip', ['-p', result.archive, 'manifest.json']);
    const manifest = JSON.parse(stdout) as { postgres: { databases: string[]; excludedDatabases?: string[] } };
    expect(manifest.postgres.databases).not.to.include('other_app');
    expect(manifest.postgres.excludedDatabases).to.deep.equal(['other_app']);
  });
});
