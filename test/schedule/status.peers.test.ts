import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { appendHistory, type NightlyRunRecord } from '../../src/schedule/history.js';
import type { BackupStatus } from '../../src/schedule/status.js';
import { runCli } from '../support/cli.js';
import { writeArchiveAt } from '../support/dated-archives.js';

const HOUR = 3_600_000;

describe('status: is there a fresh verified backup? (for monitoring)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-status-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A nightly run that made (and verified) an archive `hoursAgo` hours ago, archive file included. */
  async function recordRun(hoursAgo: number, patch: Partial<NightlyRunRecord> = {}): Promise<NightlyRunRecord> {
    const createdAt = new Date(Date.now() - hoursAgo * HOUR).toISOString();
    const name = await writeArchiveAt(dir, { createdAt });
    const { size } = await fs.stat(path.join(dir, name));
    const record: NightlyRunRecord = {
      startedAt: createdAt,
      finishedAt: createdAt,
      durationMs: 60_000,
      host: os.hostname(),
      outcome: 'ok',
      exitCode: 0,
      archive: { path: path.join(dir, name), name, size, dumpBytes: 1000, createdAt, cupmVersion: '8.5' },
      backupDurationMs: 50_000,
      verified: true,
      offsite: [],
      pendingOffsite: [],
      pruned: [],
      steps: [],
      error: null,
      ...patch,
    };
    await appendHistory(dir, record);
    return record;
  }
  const status = (extra: Record<string, string> = {}) => runCli(['status', '--json'], { env: { CUPM_BACKUP_DIR: dir, ...extra } });

  it('before any nightly run it exits 1 and says so', async () => {
    const result = await status();
    expect(result.exitCode).to.equal(1);
    expect(result.json<BackupStatus>().problems).to.deep.equal([`no nightly run has been recorded in ${dir}`]);
  });

  it('a verified backup from 2 hours ago: exit 0, with its name and age', async () => {
    const run = await recordRun(2);
    const result = await status();
    expect(result.exitCode, result.stdout).to.equal(0);
    const json = result.json<BackupStatus>();
    expect(json.newestVerified?.name).to.equal(run.archive!.name);
    expect(json.newestVerified?.ageHours).to.be.within(2, 3);
    expect(json.stale).to.equal(false);

    const text = await runCli(['status'], { env: { CUPM_BACKUP_DIR: dir } });
    expect(text.stdout).to.match(new RegExp(`^Newest verified: +${run.archive!.name} .*, 2h0\\dm old \\(limit 26h\\)$`, 'm'));
    expect(text.stdout).to.match(/\nOK$/);
    // One aligned column of values, sizes human.
    const values = text.stdout
      .split('\n')
      .filter((l) => /^[A-Z][a-z -]+: +\S/.test(l))
      .map((l) => l.search(/: +\S/) + l.slice(l.indexOf(':') + 1).search(/\S/) + 1);
    expect(new Set(values).size, text.stdout).to.equal(1);
    expect(text.stdout).not.to.match(/\d+ bytes/);
  });

  it('the newest verified backup is 30 hours old: exit 1 with the default limit of 26 hours, 0 with CUPM_MAX_AGE_HOURS=48', async () => {
    await recordRun(30);
    const stale = await status();
    expect(stale.exitCode).to.equal(1);
    expect(stale.json<BackupStatus>().problems[0]).to.match(
      /the newest verified backup is 30h0\dm old, more than CUPM_MAX_AGE_HOURS \(26\)/,
    );
    expect((await status({ CUPM_MAX_AGE_HOURS: '48' })).exitCode).to.equal(0);
  });

  it('a failed last run does not hide an older verified backup; a deleted archive does not count', async () => {
    const older = await recordRun(20);
    const newer = await recordRun(10);
    await fs.rm(newer.archive!.path);
    await appendHistory(dir, {
      ...newer,
      outcome: 'failed',
      exitCode: 1,
      archive: null,
      verified: false,
      error: { message: 'Writing the archive failed: the disk is full.' },
    });
    const result = await status();
    const json = result.json<BackupStatus>();
    expect(json.newestVerified?.name).to.equal(older.archive!.name);
    expect(json.lastRun?.outcome).to.equal('failed');
    // Fresh enough, but the last run failed: a warning for monitoring (6), not an all-clear.
    expect(result.exitCode).to.equal(6);
    expect(json.problems).to.deep.equal([
      `the last nightly run (${newer.startedAt}) ended FAILED: Writing the archive failed: the disk is full.`,
    ]);
  });

  it('copies still owed off-site: exit 6, and the list says what and where', async () => {
    const run = await recordRun(1, { outcome: 'warning', exitCode: 6 });
    const pending = [{ destination: 'sftp://backup@vault.example:22/srv/cupm', archive: run.archive!.name, since: run.startedAt }];
    await appendHistory(dir, { ...run, pendingOffsite: pending });
    const result = await status();
    expect(result.exitCode).to.equal(6);
    expect(result.json<BackupStatus>().pendingOffsite).to.deep.equal(pending);
    const text = await runCli(['status'], { env: { CUPM_BACKUP_DIR: dir } });
    expect(text.stdout).to.include(`pending: ${run.archive!.name} -> sftp://backup@vault.example:22/srv/cupm (since ${run.startedAt})`);
  });

  it('skips a history line cut short by a crash', async () => {
    await recordRun(3);
    await fs.appendFile(path.join(dir, 'cupm-backup-history.jsonl'), '{"startedAt":"2026-11-2');
    expect((await status()).exitCode).to.equal(0);
  });
});
