import { execa } from 'execa';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LOCK_FILE } from '../../src/jobs/lock.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { readHistory } from '../../src/schedule/history.js';
import { BIN, runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';

describe('cupm-backup daemon --cron (a sandbox CUPM server)', () => {
  let server: SandboxServer;
  let work: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-daemon' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-daemon-'));
  });
  afterEach(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('runs nightly on the schedule, never two at once, and stops cleanly on SIGTERM', async () => {
    const backupDir = path.join(work, 'backups');
    const daemon = execa(BIN, ['daemon', '--cron', '* * * * * *'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...server.env(), CUPM_BACKUP_DIR: backupDir },
      extendEnv: false,
      cwd: work,
      reject: false,
      stdin: 'ignore',
    });
    let stderr = '';
    const finished = new Promise<void>((resolve) => {
      daemon.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/Nightly run finished ok/.test(stderr) && /still going: skipped/.test(stderr)) resolve();
      });
    });
    await Promise.race([finished, daemon.then(() => undefined)]);
    daemon.kill('SIGTERM');
    const result = await daemon;

    expect(result.exitCode, stderr).to.equal(0);
    expect(stderr).to.include('cupm-backup daemon: nightly runs on "* * * * * *"');
    expect(stderr).to.include('Received SIGTERM');
    expect(stderr.trimEnd().endsWith('Stopped.'), stderr).to.equal(true);

    const history = await readHistory(backupDir);
    expect(history[0]?.outcome).to.equal('ok');
    // One at a time: each run began after the one before it had ended.
    for (let i = 1; i < history.length; i++) {
      expect(Date.parse(history[i]!.startedAt)).to.be.at.least(Date.parse(history[i - 1]!.finishedAt));
    }
    // A run cut short by the stop put everything back: services up, no lock, no half-written archive.
    const statuses = await Promise.all(server.services.services.map((s) => server.services.status(s)));
    expect(statuses).to.deep.equal(['running', 'running', 'running']);
    const files = await fs.readdir(backupDir);
    expect(files).not.to.include(LOCK_FILE);
    expect(files.filter((f) => f.endsWith('.partial'))).to.deep.equal([]);
  });

  it('--json prints one JSON object per line for each event, human text on stderr', async () => {
    const daemon = execa(BIN, ['daemon', '--json', '--cron', '* * * * * *'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...server.env(), CUPM_BACKUP_DIR: path.join(work, 'backups') },
      extendEnv: false,
      cwd: work,
      reject: false,
      stdin: 'ignore',
    });
    let stdout = '';
    const finished = new Promise<void>((resolve) => {
      daemon.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('"event":"run-finished"')) resolve();
      });
    });
    await Promise.race([finished, daemon.then(() => undefined)]);
    daemon.kill('SIGTERM');
    const result = await daemon;
    expect(result.exitCode, result.stderr).to.equal(0);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; at: string; outcome?: string });
    const types = events.map((e) => e.event);
    expect(types[0]).to.equal('started');
    expect(types).to.include.members(['run-started', 'run-finished', 'stopped']);
    expect(events.find((e) => e.event === 'run-finished')!.outcome).to.equal('ok');
    for (const e of events) expect(Number.isNaN(Date.parse(e.at))).to.equal(false);
    expect(result.stderr).to.include('cupm-backup daemon: nightly runs on');
  });

  it('refuses an expression that is not cron (exit 2) before running anything', async () => {
    const result = await runCli(['daemon', '--cron', 'every night'], {
      env: { ...server.env(), CUPM_BACKUP_DIR: path.join(work, 'backups') },
      cwd: work,
    });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include('--cron "every night" is not a cron expression');
    expect(await fs.readdir(work)).to.deep.equal([]);
  });
});
