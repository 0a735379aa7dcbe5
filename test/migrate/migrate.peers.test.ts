import net from 'node:net';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { editArchive, fileText, setFile } from '../support/archive-edit.js';
import { pausingPgBin } from '../support/faults.js';
import { javaReadProperties, javaReadXml } from '../support/java.js';
import { createRestoreStage, type RestoreStage } from '../support/restore-stage.js';
import { installFile, normalizedDump, serverState, withoutNiceRows } from '../support/servers.js';
import { freePort } from '../../src/sandbox/cluster.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

const DS = 'EnterprisePlatform-4.2.0.GA_CP09/server/cupm/deploy/dfc-ds.xml';

describe('migrate: moving CUPM 8.5 onto a new server', function () {
  this.timeout(300_000);
  let stage: RestoreStage;
  let old: SandboxServer;
  let target: SandboxServer;
  let archive: string;
  let sourceDump: string;
  let work: string;
  let newPort: string;

  before(async () => {
    stage = await createRestoreStage('cupm-migrate');
    ({ old, target, sourceDump, work } = stage);
    // The old server had one address, the one its NICE engine registered from.
    archive = await editArchive(stage.archive, path.join(work, 'old-server.zip'), (c) => {
      c.manifest.source.addresses = ['192.0.2.10'];
    });
    newPort = String(target.cluster.port);
  });
  after(async () => {
    await stage?.destroy();
  });

  const migrateCli = (...args: string[]) => runCli(['migrate', ...args], { env: target.env() });

  /** Holds a port like another program would; returns it and a way to let it go. */
  async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
    return { port, release: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  /** The archive with dfc.jboss.port set to `port`. */
  const withJbossPort = (port: number) =>
    editArchive(archive, path.join(work, `jboss-${port}.zip`), (c) => {
      setFile(c, 'sep/dfc.properties', fileText(c, 'sep/dfc.properties').replace('dfc.jboss.port=46008', `dfc.jboss.port=${port}`));
    });

  it('moves the database and files, points CUPM at the new database host, and purges the old NICE host', async () => {
    const result = await migrateCli(archive, '--db-host', 'cupm-db.example.com', '--db-port', newPort, '--yes', '--json');
    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<{ nicesysengDeleted: number; ports: Array<{ key: string; state: string }> }>();
    expect(json.nicesysengDeleted).to.equal(2);
    expect(json.ports.map((p) => [p.key, p.state])).to.deep.equal([
      ['dfc.jboss.port', 'free'],
      ['dfc.postgres.port', 'cupm-database'],
      ['dfc.nice.rmi.registry.internal.port', 'free'],
      ['dfc.webport', 'free'],
    ]);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(withoutNiceRows(sourceDump, '192.0.2.10'));

    const [props, oldProps] = await javaReadProperties([
      await installFile(target, 'sep/dfc.properties'),
      await installFile(old, 'sep/dfc.properties'),
    ]);
    if (!props!.ok || !oldProps!.ok) throw new Error('Java could not read dfc.properties');
    const expected = new Map(oldProps!.properties);
    expected.set('dfc.postgres.host', 'cupm-db.example.com');
    expected.set('dfc.postgres.port', newPort);
    expect(props!.properties).to.deep.equal(expected);
    const [xml] = await javaReadXml([await installFile(target, DS)]);
    expect(xml!.ok && xml!.connectionUrls).to.deep.equal([`jdbc:postgresql://cupm-db.example.com:${newPort}/cupm`]);
    expect(await installFile(target, 'sep/dfc.keystore')).to.equal(await installFile(old, 'sep/dfc.keystore'));
    expect(Object.values((await serverState(target)).services)).to.deep.equal(['running', 'running', 'running']);
  });

  it('onto a server that has the cupm database: loads while CUPM runs, the services down only for the swap', async () => {
    const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'live'));
    await psql.arm('COPY public.order_history ');
    await target.services.timeline({ clear: true });
    const run = runCli(['migrate', archive, '--db-host', 'cupm-db.example.com', '--db-port', newPort, '--yes', '--json'], {
      env: { ...target.env(), CUPM_PG_BIN: psql.bin },
    });
    await psql.paused();
    // Half way through the load: every service runs, none was stopped.
    for (const service of target.services.services) expect(await target.services.status(service), service).to.equal('running');
    expect(await target.services.timeline()).to.deep.equal([]);
    await psql.release();
    const result = await run;
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stderr).to.match(
      /CUPM keeps running while the dump loads into cupm__incoming_\d{14}; the services stop only for the swap/,
    );
    const steps = result.json<{ steps: Array<{ id: string; status: string }> }>().steps;
    // The outage (services stopped) holds the swap and what follows it, not the load.
    expect(steps.map((s) => s.id)).to.deep.equal([
      'snapshot',
      'load',
      'purge',
      'end-sessions',
      'held-roles',
      'swap',
      'files',
      'postgres',
      'drop-previous',
    ]);
    expect((await target.services.timeline()).map((e) => e.verb)).to.deep.equal(['stop', 'stop', 'stop', 'start', 'start', 'start']);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(withoutNiceRows(sourceDump, '192.0.2.10'));
  });

  it('refuses an archive of a CUPM version other than 8.5, which the install guide does not move (exit 4)', async () => {
    const v22 = await editArchive(archive, path.join(work, 'cupm-2.2.zip'), (c) => {
      c.manifest.cupm.version = '2.2';
    });
    const before = await serverState(target);
    const result = await migrateCli(v22, '--db-host', 'cupm-db.example.com', '--yes');
    expect(result.exitCode, result.stderr).to.equal(4);
    expect(result.stderr).to.include('Only CUPM 8.5 can move to a new server; this archive holds CUPM 2.2.');
    expect(result.stderr).to.match(/upgrade the old server to CUPM 8\.5 first/);
    expect(await serverState(target)).to.deep.equal(before);
  });

  it('refuses ports held by other programs here, naming port, key and program (exit 4)', async () => {
    const held = await holdPort();
    try {
      const taken = await withJbossPort(held.port);
      const before = await serverState(target);
      // No --db-port: dfc.postgres.port is the old server's, held here by another PostgreSQL.
      const result = await migrateCli(taken, '--db-host', 'cupm-db.example.com', '--yes');
      expect(result.exitCode, result.stderr).to.equal(4);
      expect(result.stderr).to.include(`port ${held.port} (dfc.jboss.port) is used by`);
      expect(result.stderr).to.match(new RegExp(`port ${held.port} \\(dfc\\.jboss\\.port\\) is used by \\S+ \\(pid ${process.pid}\\)`));
      expect(result.stderr).to.match(new RegExp(`port ${old.cluster.port} \\(dfc\\.postgres\\.port\\) is used by postgres \\(pid \\d+\\)`));
      expect(result.stderr).to.match(/--auto-ports/);
      expect(result.stderr).to.match(/--db-port/);
      expect(await serverState(target)).to.deep.equal(before);
    } finally {
      await held.release();
    }
  });

  it('--auto-ports moves a taken port to a free one and rewrites dfc.properties; --dry-run shows it first', async () => {
    const held = await holdPort();
    try {
      const taken = await withJbossPort(held.port);
      const before = await serverState(target);
      const dry = await migrateCli(taken, '--db-host', 'cupm-db.example.com', '--db-port', newPort, '--auto-ports', '--dry-run');
      expect(dry.exitCode, dry.stderr).to.equal(0);
      const moved = new RegExp(`port ${held.port} \\(dfc\\.jboss\\.port\\) is used by .*: moved to (\\d+)`).exec(dry.stdout);
      expect(moved, dry.stdout).to.not.equal(null);
      expect(dry.stdout).to.include(`sep/dfc.properties: dfc.jboss.port: ${held.port} -> ${moved![1]}`);
      expect(dry.stdout).to.include('delete the rows of the old NICE host 192.0.2.10: 2 rows (counted in the dump)');
      expect(await serverState(target)).to.deep.equal(before);

      const result = await migrateCli(taken, '--db-host', 'cupm-db.example.com', '--db-port', newPort, '--auto-ports', '--yes');
      expect(result.exitCode, result.stderr).to.equal(0);
      const [props] = await javaReadProperties([await installFile(target, 'sep/dfc.properties')]);
      if (!props!.ok) throw new Error('Java could not read dfc.properties');
      const port = Number(props!.properties.get('dfc.jboss.port'));
      expect(port).to.not.equal(held.port);
      expect(port).to.be.greaterThan(held.port);
      await new Promise<void>((resolve, reject) => {
        const probe = net.createServer().once('error', reject);
        probe.listen(port, '0.0.0.0', () => probe.close(() => resolve()));
      });
    } finally {
      await held.release();
    }
  });

  it('honours dfc.postgres.hostlist, the key of a database on several systems', async () => {
    const hostlist = await editArchive(archive, path.join(work, 'hostlist.zip'), (c) => {
      setFile(
        c,
        'sep/dfc.properties',
        fileText(c, 'sep/dfc.properties').replace(/dfc\.postgres\.host=.*\r\n/, 'dfc.postgres.hostlist=10.0.0.1,10.0.0.2\r\n'),
      );
    });
    const result = await migrateCli(hostlist, '--db-host', 'db1.example.com,db2.example.com', '--db-port', newPort, '--yes');
    expect(result.exitCode, result.stderr).to.equal(0);
    const text = await installFile(target, 'sep/dfc.properties');
    expect(text).to.include('dfc.postgres.hostlist=db1.example.com,db2.example.com\r\n');
    expect(text).to.not.include('dfc.postgres.host=');
    const [xml] = await javaReadXml([await installFile(target, DS)]);
    expect(xml!.ok && xml!.connectionUrls).to.deep.equal([`jdbc:postgresql://db1.example.com:${newPort}/cupm`]);
  });

  it('does not guess the old NICE host when the old server had several addresses', async () => {
    const two = await editArchive(archive, path.join(work, 'two-addresses.zip'), (c) => {
      c.manifest.source.addresses = ['192.0.2.10', '2001:db8::10'];
    });
    const result = await migrateCli(two, '--db-host', 'cupm-db.example.com', '--db-port', newPort, '--dry-run');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.include(
      'nicesyseng is not purged: the archive records 2 addresses of the old server (192.0.2.10, 2001:db8::10); pass --old-nice-host',
    );
    expect(result.stdout).to.not.include('delete the rows of the old NICE host');
  });

  it('needs --db-host (exit 2)', async () => {
    const result = await migrateCli(archive, '--yes');
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.match(/required option '--db-host <host>' not specified/);
  });
});
