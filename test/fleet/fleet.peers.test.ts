import { access, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { freePort } from '../../src/sandbox/cluster.js';
import { LOCK_FILE } from '../../src/jobs/lock.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { readHistory } from '../../src/schedule/history.js';
import { BIN, runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { writeServerEnvFile } from '../support/fleet.js';
import { slowDumpallBin } from '../support/pg-wrappers.js';

interface FleetJson {
  ok: boolean;
  exitCode: number;
  servers: Array<{
    server: string;
    envFile: string;
    ok: boolean;
    exitCode: number;
    result: Record<string, unknown> | null;
    error: { message: string } | null;
  }>;
}

const zips = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.zip'));

describe('many CUPM servers from one admin host (--server, --all; real clusters)', function () {
  this.timeout(240_000);
  const servers: SandboxServer[] = [];
  let work: string;
  let serversDir: string;

  before(async function () {
    this.timeout(300_000);
    work = await mkdtemp(path.join(tmpdir(), 'cupm-fleet-'));
    serversDir = path.join(work, 'servers');
    await mkdir(serversDir);
    for (const name of ['cupm01', 'cupm02', 'cupm03']) {
      const server = await createSandboxServer({ name, adminPassword: `${name}-admin-pw`, appPassword: `${name}-app-pw`, subscribers: 5 });
      servers.push(server);
      await writeServerEnvFile(path.join(serversDir, `${name}.env`), server.env());
    }
  });

  after(async () => {
    for (const server of servers) await server.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  afterEach(async () => {
    // Each story starts from empty backup folders.
    for (const server of servers) await rm(server.backupDir, { recursive: true, force: true });
  });

  it('backup --all backs the servers up one after another, each into its own folder, output prefixed with its name', async () => {
    const result = await runCli(['backup', '--all'], { cwd: work });

    expect(result.exitCode, result.stderr).to.equal(0);
    for (const server of servers) {
      const archives = await zips(server.backupDir);
      expect(archives, server.name).to.have.length(1);
      expect(result.stdout.split('\n')).to.include(`[${server.name}] ${path.join(server.backupDir, archives[0]!)}`);
      expect(result.stderr).to.match(new RegExp(`^\\[${server.name}\\] Backup written: `, 'm'));
      expect(result.stderr).to.match(new RegExp(`^\\[${server.name}\\] OK \\(exit 0\\)$`, 'm'));
      // Each archive holds its own server's database, not another's (unzip reads the manifest).
      const manifest = JSON.parse((await execa('unzip', ['-p', path.join(server.backupDir, archives[0]!), 'manifest.json'])).stdout) as {
        postgres: { port: number };
      };
      expect(manifest.postgres.port, server.name).to.equal(server.cluster.port);
    }
    // Sequential: each server finished before the next one started.
    const order = [...result.stderr.matchAll(/^\[(cupm\d\d)\] (?:OK|FAILED|WARNING) \(exit/gm)].map((m) => m[1]);
    expect(order).to.deep.equal(['cupm01', 'cupm02', 'cupm03']);
    const firstLineOf = (name: string) => result.stderr.indexOf(`[${name}] `);
    expect(result.stderr.indexOf('[cupm01] OK (exit 0)')).to.be.lessThan(firstLineOf('cupm02'));
    expect(result.stderr.indexOf('[cupm02] OK (exit 0)')).to.be.lessThan(firstLineOf('cupm03'));
    for (const server of servers) expect(result.stdout + result.stderr).not.to.include(`${server.name}-admin-pw`);
  });

  it("backup --all --parallel 2 --json: one object with each server's result, each archive in its own folder", async () => {
    const result = await runCli(['backup', '--all', '--parallel', '2', '--json'], { cwd: work });

    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<FleetJson>();
    expect(json.ok).to.equal(true);
    expect(json.servers.map((s) => s.server)).to.deep.equal(['cupm01', 'cupm02', 'cupm03']);
    for (const [i, server] of servers.entries()) {
      const entry = json.servers[i]!;
      expect(entry.exitCode).to.equal(0);
      expect(path.dirname(String(entry.result!.archive))).to.equal(server.backupDir);
      expect(await zips(server.backupDir)).to.deep.equal([path.basename(String(entry.result!.archive))]);
    }
  });

  it('nightly --all: a server whose database is down fails, the others still run; the exit code is the worst; status --all shows it as a table and as JSON', async () => {
    const broken = path.join(serversDir, 'cupm04.env');
    const brokenBackups = path.join(work, 'cupm04-backups');
    await writeServerEnvFile(broken, {
      ...servers[0]!.env(),
      PGPORT: String(await freePort()),
      CUPM_BACKUP_DIR: brokenBackups,
      CUPM_SERVICE_MANAGER: 'none',
    });
    try {
      const nightly = await runCli(['nightly', '--all', '--parallel', '2', '--json'], { cwd: work });

      const json = nightly.json<FleetJson>();
      const failed = json.servers.find((s) => s.server === 'cupm04')!;
      // PostgreSQL unreachable: exit 1, found before any service is stopped.
      expect(failed.exitCode, nightly.stderr).to.equal(1);
      expect((failed.result as { error: { message: string } }).error.message).to.match(/connect|reach|refused/i);
      expect(nightly.exitCode, nightly.stderr).to.equal(failed.exitCode);
      for (const server of servers) {
        const entry = json.servers.find((s) => s.server === server.name)!;
        expect(entry.exitCode, nightly.stderr).to.equal(0);
        expect(await zips(server.backupDir), server.name).to.have.length(1);
      }
      expect(await zips(brokenBackups)).to.deep.equal([]);

      const table = await runCli(['status', '--all'], { cwd: work });
      expect(table.exitCode, table.stderr).to.equal(1);
      const lines = table.stdout.split('\n');
      expect(lines[0]).to.match(/^SERVER\s+LAST RUN\s+NEWEST VERIFIED\s+AGE\s+PENDING\s+EXIT$/);
      for (const server of servers) {
        const archive = (await zips(server.backupDir))[0]!;
        const row = lines.find((l) => l.startsWith(`${server.name} `))!;
        expect(row).to.match(new RegExp(`^${server.name}\\s+OK \\S+\\s+${archive.replace(/\./g, '\\.')}\\s+\\S+\\s+0\\s+0$`));
      }
      expect(lines.find((l) => l.startsWith('cupm04 '))).to.match(/^cupm04\s+FAILED \S+\s+none\s+-\s+0\s+1$/);
      expect(table.stdout).to.match(/^cupm04: PROBLEM: no verified nightly backup/m);

      const status = await runCli(['status', '--all', '--json'], { cwd: work });
      expect(status.exitCode).to.equal(1);
      const statusJson = status.json<FleetJson>();
      expect(statusJson.exitCode).to.equal(1);
      for (const entry of statusJson.servers) {
        const newest = entry.result!.newestVerified as { name: string } | null;
        if (entry.server === 'cupm04') expect(newest).to.equal(null);
        else expect(newest!.name).to.equal((await zips(path.join(servers.find((s) => s.name === entry.server)!.backupDir)))[0]);
      }

      // The fleet page: one row per server, linking each server's own report.
      const html = path.join(work, 'fleet.html');
      const report = await runCli(['report', '--all', '--html', html], { cwd: work });
      expect(report.exitCode, report.stderr).to.equal(0);
      const page = await readFile(html, 'utf8');
      for (const name of ['cupm01', 'cupm02', 'cupm03', 'cupm04']) {
        expect(page).to.include(`<a href="fleet-${name}.html">${name}</a>`);
        const own = await readFile(path.join(work, `fleet-${name}.html`), 'utf8');
        expect(own).to.include('<!doctype html>');
      }
      expect(page).to.match(/<tr class="failed" data-server="cupm04">/);
      expect(page).to.match(/<tr class="ok" data-server="cupm01">/);
    } finally {
      await rm(broken, { force: true });
      await rm(brokenBackups, { recursive: true, force: true });
    }
  });

  it("prune --all --yes keeps each server's newest archive, in its own folder; list --all shows what is left", async () => {
    for (let round = 0; round < 2; round++) {
      const backup = await runCli(['backup', '--all'], { cwd: work });
      expect(backup.exitCode, backup.stderr).to.equal(0);
    }
    const before = await Promise.all(servers.map((s) => zips(s.backupDir)));
    for (const archives of before) expect(archives).to.have.length(2);

    const prune = await runCli(['prune', '--all', '--parallel', '3', '--yes', '--keep-last', '1'], { cwd: work });

    expect(prune.exitCode, prune.stderr).to.equal(0);
    for (const [i, server] of servers.entries()) {
      const newest = [...before[i]!].sort().at(-1)!;
      expect(await zips(server.backupDir), server.name).to.deep.equal([newest]);
    }
    const list = await runCli(['list', '--all', '--json'], { cwd: work });
    expect(list.exitCode, list.stderr).to.equal(0);
    const listed = list.json<FleetJson>().servers.map((s) => [s.server, (s.result!.archives as unknown[]).length]);
    expect(listed).to.deep.equal([
      ['cupm01', 1],
      ['cupm02', 1],
      ['cupm03', 1],
    ]);
  });

  it('SIGTERM during backup --all: the running server puts everything back, the others are not started, and the JSON says so', async () => {
    const interruptDir = path.join(work, 'servers-interrupt');
    await mkdir(interruptDir);
    const slowBin = await slowDumpallBin(work, servers[0]!.cluster.binDir, 60);
    await writeServerEnvFile(path.join(interruptDir, 'cupm01.env'), { ...servers[0]!.env(), CUPM_PG_BIN: slowBin });
    for (const server of servers.slice(1)) await writeServerEnvFile(path.join(interruptDir, `${server.name}.env`), server.env());

    const child = execa(BIN, ['backup', '--all', '--json', '--servers-dir', interruptDir], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      extendEnv: false,
      reject: false,
      cwd: work,
      forceKillAfterDelay: false,
      stdin: 'ignore',
    });
    // Interrupt once cupm01's dump has started (the wrapper writes a marker when it begins).
    const marker = path.join(slowBin, 'started');
    const started = async () =>
      access(marker).then(
        () => true,
        () => false,
      );
    for (let i = 0; i < 2400 && !(await started()); i++) await new Promise((r) => setTimeout(r, 50));
    const dumpStarted = await started();
    child.kill('SIGTERM');
    const result = await child;
    expect(dumpStarted, 'the dump of cupm01 never started').to.equal(true);

    expect(result.exitCode, result.stderr).to.equal(1);
    expect(result.stderr).to.match(/Received SIGTERM/);
    const json = JSON.parse(result.stdout) as FleetJson;
    expect(json.servers.map((s) => [s.server, s.exitCode])).to.deep.equal([
      ['cupm01', 1],
      ['cupm02', 1],
      ['cupm03', 1],
    ]);
    expect(json.servers[0]!.error!.message).to.match(/cancelled/);
    for (const entry of json.servers.slice(1)) expect(entry.error!.message).to.match(/^not run: the fleet run was interrupted/);
    for (const server of servers) {
      expect(await zips(server.backupDir), server.name).to.deep.equal([]);
      for (const service of server.services.services)
        expect(await server.services.status(service), `${server.name} ${service}`).to.equal('running');
    }
  });

  it("daemon --all: on the schedule, every server's nightly one after another (never two at once), one run-finished event per fleet run; SIGTERM stops it cleanly", async function () {
    this.timeout(300_000);
    const daemon = execa(BIN, ['daemon', '--all', '--json', '--cron', '* * * * * *'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      extendEnv: false,
      reject: false,
      cwd: work,
      forceKillAfterDelay: false,
      stdin: 'ignore',
    });
    let stdout = '';
    let stderr = '';
    daemon.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const firstRun = new Promise<void>((resolve) => {
      daemon.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('"event":"run-finished"')) resolve();
      });
    });
    await Promise.race([firstRun, daemon.then(() => undefined)]);
    daemon.kill('SIGTERM');
    const result = await daemon;

    expect(result.exitCode, stderr).to.equal(0);
    expect(stderr).to.include(
      `cupm-backup daemon: nightly runs on "* * * * * *" for the servers cupm01, cupm02, cupm03 of ${serversDir}, one after another`,
    );
    expect(stderr.trimEnd().endsWith('Stopped.'), stderr).to.equal(true);
    const events = stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            event: string;
            exitCode?: number;
            servers?: Array<{ server: string; exitCode: number; outcome: string; archive: string | null }>;
          },
      );
    const finished = events.find((e) => e.event === 'run-finished');
    if (!finished) throw new Error(`no fleet run finished before the daemon ended:\n${stderr}`);
    expect(finished.exitCode, stderr).to.equal(0);
    expect(finished.servers!.map((s) => [s.server, s.exitCode, s.outcome])).to.deep.equal([
      ['cupm01', 0, 'ok'],
      ['cupm02', 0, 'ok'],
      ['cupm03', 0, 'ok'],
    ]);
    for (const [i, server] of servers.entries()) {
      // Each server's nightly, with its own settings, into its own folder; its lines carry its name.
      expect(path.dirname(finished.servers![i]!.archive!)).to.equal(server.backupDir);
      expect(stderr).to.include(`[${server.name}] Nightly run on`);
      expect(stderr).not.to.include(`${server.name}-admin-pw`);
    }

    // One job at a time across the fleet: every run (cancelled ones too) began after the one before it ended.
    const runs = (await Promise.all(servers.map((s) => readHistory(s.backupDir))))
      .flat()
      .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    expect(runs.length).to.be.at.least(3);
    for (let i = 1; i < runs.length; i++) expect(Date.parse(runs[i]!.startedAt)).to.be.at.least(Date.parse(runs[i - 1]!.finishedAt));
    for (const server of servers) {
      expect((await readHistory(server.backupDir))[0]?.outcome, server.name).to.equal('ok');
      // A run cut short by the stop put everything back: services up, no lock left.
      for (const service of server.services.services)
        expect(await server.services.status(service), `${server.name} ${service}`).to.equal('running');
      expect(await readdir(server.backupDir)).not.to.include(LOCK_FILE);
    }
  });

  it('--server NAME runs for that server only, with its own settings', async () => {
    const result = await runCli(['backup', '--server', 'cupm02'], { cwd: work });

    expect(result.exitCode, result.stderr).to.equal(0);
    expect(await zips(servers[1]!.backupDir)).to.have.length(1);
    expect(await zips(servers[0]!.backupDir)).to.deep.equal([]);
    expect(await zips(servers[2]!.backupDir)).to.deep.equal([]);
  });
});
