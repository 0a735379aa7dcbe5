import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { slowDumpallBin, killedDumpallBin } from '../support/pg-wrappers.js';
import { STOPPED_AND_STARTED_ONCE } from '../support/servers.js';
import { freePort } from '../../src/sandbox/cluster.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import type { Manifest } from '../../src/archive/format.js';

const ARCHIVE_NAME = /^cupm-backup_[A-Za-z0-9._-]+_\d{8}T\d{6}Z(_[A-Za-z0-9._-]+)?\.zip$/;

async function readManifest(archive: string): Promise<Manifest> {
  const { stdout } = await execa('unzip', ['-p', archive, 'manifest.json']);
  return JSON.parse(stdout) as Manifest;
}

async function archivesIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('cupm-backup_'));
}

describe('backup of a CUPM server', () => {
  let server: SandboxServer;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-backup-test' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    await fs.rm(server.backupDir, { recursive: true, force: true });
    for (const service of server.services.services) await server.services.setFault(service, 'ignore-stop', false);
    await server.services.events({ clear: true });
  });

  it('stops the services, dumps, bundles the five files into an archive unzip accepts, and starts the services again', async () => {
    const run = await runCli(['backup', '--label', 'nightly'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    const archive = run.stdout.trim();
    expect(path.dirname(archive)).to.equal(server.backupDir);
    expect(path.basename(archive))
      .to.match(ARCHIVE_NAME)
      .and.match(/_nightly\.zip$/);
    expect((await fs.stat(archive)).mode & 0o777).to.equal(0o600);
    expect((await execa('unzip', ['-t', archive])).stdout).to.match(/No errors detected/);

    for (const relative of [
      'install.log',
      'sep/dfc.properties',
      'sep/dfc.keystore',
      'EnterprisePlatform-4.2.0.GA_CP09/server/cupm/conf/login-config.xml',
      'EnterprisePlatform-4.2.0.GA_CP09/server/cupm/deploy/dfc-ds.xml',
    ]) {
      const { stdout } = await execa('unzip', ['-p', archive, `files/${relative}`], { encoding: 'buffer', stripFinalNewline: false });
      const original = await fs.readFile(path.join(server.installDir, relative));
      expect(Buffer.compare(Buffer.from(stdout), original), relative).to.equal(0);
    }
    const { stdout: dump } = await execa('unzip', ['-p', archive, 'database/pg_dumpall.sql']);
    expect(dump).to.contain('CREATE TABLE public.nicesyseng').and.contain('CREATE ROLE cupm;');
    expect(dump.trimEnd()).to.match(/-- PostgreSQL database cluster dump complete\n--$/);

    const manifest = await readManifest(archive);
    expect(manifest).to.include({ format: 'cupm-backup', formatVersion: 1, label: 'nightly' });
    expect(manifest.cupm).to.deep.equal({ version: '8.5', installDir: server.installDir });
    expect(manifest.source.hostname).to.equal(os.hostname());
    expect(manifest.postgres.databases).to.include('cupm');
    expect(manifest.postgres.roles).to.include.members(['cupm', 'postgres']);
    expect(manifest.postgres.port).to.equal(server.cluster.port);
    expect(manifest.entries.map((e) => e.path)).to.have.length(6);
    expect(manifest.consistency).to.deep.include({ servicesStopped: server.services.services, allowLive: false, liveSessions: [] });

    expect(await server.services.events()).to.deep.equal(STOPPED_AND_STARTED_ONCE);
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');

    const verify = await runCli(['verify', archive, '--json'], { env: server.env() });
    expect(verify.exitCode).to.equal(0);
    expect(verify.json()).to.include({ ok: true, archive });
    expect(verify.json<{ problems: string[] }>().problems).to.deep.equal([]);
  });

  it('writes a label in one canonical form: "Pre Upgrade" names the file and the manifest pre-upgrade', async () => {
    const run = await runCli(['backup', '--label', 'Pre Upgrade'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    const archive = run.stdout.trim();
    expect(path.basename(archive)).to.match(/_pre-upgrade\.zip$/);
    expect((await readManifest(archive)).label).to.equal('pre-upgrade');
  });

  it('refuses a label with characters a label cannot hold (exit 2) before any service is stopped', async () => {
    const run = await runCli(['backup', '--label', 'pre/upgrade'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(2);
    expect(run.stderr).to.match(/label "pre\/upgrade"/);
    expect(await server.services.events()).to.deep.equal([]);
    expect(await archivesIn(server.backupDir)).to.deep.equal([]);
  });

  it('backs up only the databases CUPM uses, says what it left out, and doctor names the left-over previous database with the command to drop it', async () => {
    const previous = 'cupm__previous_20261204101500';
    await server.cluster.query(`CREATE DATABASE "${previous}"`, [], 'postgres');
    await server.cluster.query('CREATE DATABASE other_app', [], 'postgres');
    try {
      const run = await runCli(['backup'], { env: server.env() });
      expect(run.exitCode, run.stderr).to.equal(0);
      expect(run.stderr).to.contain(`Left out of the dump (not CUPM's databases; CUPM_EXTRA_DATABASES adds one): ${previous}, other_app`);
      const archive = run.stdout.trim();
      const manifest = await readManifest(archive);
      expect(manifest.postgres.databases).to.include('cupm').and.not.include(previous).and.not.include('other_app');
      const { stdout: dump } = await execa('unzip', ['-p', archive, 'database/pg_dumpall.sql']);
      expect(dump)
        .not.to.contain(previous)
        .and.not.to.match(/CREATE DATABASE other_app/);

      const extra = await runCli(['backup', '--json'], { env: { ...server.env(), CUPM_EXTRA_DATABASES: 'other_app' } });
      expect(extra.exitCode, extra.stderr).to.equal(0);
      expect((await readManifest(extra.json<{ archive: string }>().archive)).postgres.databases)
        .to.include('other_app')
        .and.not.include(previous);

      const doctor = await runCli(['doctor', '--json'], { env: server.env() });
      const checks = doctor.json<{ checks: Array<{ id: string; status: string; detail: string; hint?: string }> }>().checks;
      const check = checks.find((c) => c.id === 'postgres.previous-databases')!;
      expect(check.status).to.equal('warn');
      expect(check.detail).to.contain(previous);
      expect(check.hint).to.contain(`-d postgres -c 'DROP DATABASE "${previous}"'`);
    } finally {
      await server.cluster.query(`DROP DATABASE "${previous}"`, [], 'postgres');
      await server.cluster.query('DROP DATABASE other_app', [], 'postgres');
    }
  });

  it('prints exactly one JSON object with --json, and lists the archive', async () => {
    const run = await runCli(['backup', '--json'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    const result = run.json<{ archive: string; size: number; cupmVersion: string }>();
    expect(result.archive).to.match(/\.zip$/);
    expect(result.size).to.equal((await fs.stat(result.archive)).size);
    expect(result.cupmVersion).to.equal('8.5');

    const list = await runCli(['list', '--json'], { env: server.env() });
    expect(list.exitCode).to.equal(0);
    const listed = list.json<{ archives: Array<{ file: string; ok: boolean; cupmVersion: string }> }>().archives;
    expect(listed).to.have.length(1);
    expect(listed[0]).to.include({ file: result.archive, ok: true, cupmVersion: '8.5' });
  });

  it('refuses with exit 4 and names the JBoss session when the services keep running (--no-stop)', async () => {
    const run = await runCli(['backup', '--no-stop'], { env: server.env() });
    expect(run.exitCode).to.equal(4);
    expect(run.stderr).to.contain('Other sessions are connected to the database "cupm"');
    expect(run.stderr).to.match(/user "cupm" from 127\.0\.0\.1, application "standin cupm JBossService"/);
    expect(await archivesIn(server.backupDir)).to.deep.equal([]);
    expect(await server.services.events()).to.deep.equal([]);
  });

  it('backs up with live sessions when told to (--allow-live), and the manifest records them', async () => {
    const run = await runCli(['backup', '--no-stop', '--allow-live', '--json'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    const manifest = await readManifest(run.json<{ archive: string }>().archive);
    expect(manifest.consistency).to.deep.include({ allowLive: true, noStop: true, servicesStopped: [] });
    expect((manifest.consistency as { liveSessions: string[] }).liveSessions[0]).to.match(/standin cupm JBossService/);
  });

  it('finds a wrong admin password before any service is stopped (exit 2)', async () => {
    const run = await runCli(['backup'], { env: { ...server.env(), PGPASSWORD: 'not-the-password' } });
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.match(/the password was refused/);
    expect(run.stderr).to.not.contain('not-the-password');
    expect(await server.services.events()).to.deep.equal([]);
  });

  it('finds an unreachable PostgreSQL before any service is stopped (exit 1)', async () => {
    const run = await runCli(['backup'], { env: { ...server.env(), PGPORT: String(await freePort()) } });
    expect(run.exitCode).to.equal(1);
    expect(run.stderr).to.match(/the server is not reachable \(ECONNREFUSED\)/);
    expect(await server.services.events()).to.deep.equal([]);
  });

  it('names a missing install dir (exit 2)', async () => {
    const missing = path.join(server.dir, 'no-such-cupm');
    const run = await runCli(['backup'], { env: { ...server.env(), CUPM_INSTALL_DIR: missing } });
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.contain(`The CUPM install dir ${missing} does not exist`);
  });

  it('names a missing CUPM file (exit 2) and stops nothing', async () => {
    const keystore = path.join(server.installDir, 'sep', 'dfc.keystore');
    await fs.rename(keystore, keystore + '.away');
    try {
      const run = await runCli(['backup'], { env: server.env() });
      expect(run.exitCode).to.equal(2);
      expect(run.stderr).to.contain(`missing: ${keystore}`);
      expect(await server.services.events()).to.deep.equal([]);
    } finally {
      await fs.rename(keystore + '.away', keystore);
    }
  });

  it('names a backup dir it cannot write (exit 2)', async () => {
    const blocker = path.join(server.dir, 'a-file');
    await fs.writeFile(blocker, '');
    const run = await runCli(['backup', '--output-dir', path.join(blocker, 'backups')], { env: server.env() });
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.contain(`the backup folder ${path.join(blocker, 'backups')} is not writable`);
  });

  it('calls an unknown flag a usage error (exit 2)', async () => {
    const run = await runCli(['backup', '--frobnicate'], { env: server.env() });
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.match(/unknown option '--frobnicate'/);
  });

  it('leaves no archive and no .partial when pg_dumpall is killed half way, and starts the services again (exit 1)', async () => {
    const bin = await killedDumpallBin(server.dir, server.cluster.binDir, 2000);
    const run = await runCli(['backup'], { env: { ...server.env(), CUPM_PG_BIN: bin } });
    expect(run.exitCode).to.equal(1);
    expect(run.stderr).to.match(/pg_dumpall was killed by SIGKILL/);
    expect(run.stderr).to.match(/no archive was written/);
    expect(await fs.readdir(server.backupDir)).to.deep.equal([]);
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
  });

  it('starts again the services it stopped when one will not stop (exit 1)', async () => {
    await server.services.setFault('cupm NiceService', 'ignore-stop');
    const run = await runCli(['backup'], { env: { ...server.env(), CUPM_SERVICE_TIMEOUT: '2' } });
    expect(run.exitCode).to.equal(1);
    expect(run.stderr).to.match(/"cupm NiceService" did not become stopped within 2 s/);
    expect(await archivesIn(server.backupDir)).to.deep.equal([]);
    const events = await server.services.events();
    expect(events).to.include.members(['start cupm JBossService', 'start Apache']);
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
  });

  it('refuses to run while another job holds the lock (exit 4), naming it', async () => {
    await fs.mkdir(server.backupDir, { recursive: true });
    await fs.writeFile(
      path.join(server.backupDir, 'cupm-backup.lock'),
      JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:00Z', command: 'nightly' }),
    );
    const run = await runCli(['backup'], { env: server.env() });
    expect(run.exitCode).to.equal(4);
    expect(run.stderr).to.contain(`"nightly", pid ${process.pid}`);
    expect(await server.services.events()).to.deep.equal([]);
  });

  it('puts everything back when interrupted during the dump (SIGTERM)', async () => {
    const bin = await slowDumpallBin(server.dir, server.cluster.binDir, 30);
    const child = execa(BIN, ['backup'], {
      env: { PATH: process.env.PATH ?? '', ...server.env(), CUPM_PG_BIN: bin },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
      forceKillAfterDelay: false,
    });
    // Interrupt once the dump has started (the wrapper writes a marker when it begins).
    const marker = path.join(bin, 'started');
    for (let i = 0; i < 400; i++) {
      if (
        await fs.access(marker).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).to.equal(1);
    expect(result.stderr)
      .to.match(/Received SIGTERM/)
      .and.match(/The backup was cancelled/);
    expect(await archivesIn(server.backupDir)).to.deep.equal([]);
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
  });
});

describe('backup with an admin password full of special characters', () => {
  let server: SandboxServer;
  const password = `p@ss!w#rd$1 'x' "y";:`;
  before(async () => {
    server = await createSandboxServer({ name: 'cupm-backup-pw', adminPassword: password });
  });
  after(async () => {
    await server?.destroy();
  });

  it('works, and the password appears in no output', async () => {
    const run = await runCli(['backup', '--json'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.stdout + run.stderr).to.not.contain(password);
    const { stdout } = await execa('unzip', ['-t', run.json<{ archive: string }>().archive]);
    expect(stdout).to.match(/No errors detected/);
  });
});
