import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quote } from 'shell-quote';
import { expect } from '../support/expect.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { LOCK_FILE } from '../../src/jobs/lock.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { HISTORY_FILE, readHistory, type NightlyRunRecord } from '../../src/schedule/history.js';
import { LOG_FILE } from '../../src/schedule/run-log.js';
import type { BackupStatus } from '../../src/schedule/status.js';
import { sha256 } from '../support/archives.js';
import { runCli } from '../support/cli.js';
import { writeArchiveAt } from '../support/dated-archives.js';
import { startMailServer, type MailServer } from '../support/mail-server.js';
import { mountTmpfs, type TestMount } from '../support/mounts.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const GATE = fileURLToPath(new URL('../support/gate.mjs', import.meta.url));

describe('nightly: the run a scheduler starts (a sandbox CUPM server, a real share and SFTP server)', () => {
  let server: SandboxServer;
  let sshd: TestSshd;
  let work: string;
  let backupDir: string;
  let share: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-nightly' }); // its archive is about 27 KB
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
    await server?.destroy();
  });
  beforeEach(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-nightly-'));
    backupDir = path.join(work, 'backups');
    share = path.join(work, 'share');
    await fs.mkdir(backupDir);
    await fs.mkdir(share);
    for (const name of await fs.readdir(sshd.root)) await fs.rm(path.join(sshd.root, name), { force: true });
  });
  afterEach(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({ ...server.env(), CUPM_BACKUP_DIR: backupDir, ...extra });
  const nightly = (extra: Record<string, string> = {}) => runCli(['nightly', '--json'], { env: env(extra) });
  const zips = async (dir: string) => (await fs.readdir(dir)).filter((n) => n.endsWith('.zip')).sort();
  const servicesRunning = async () => Promise.all(server.services.services.map((s) => server.services.status(s)));

  it('a good night: backup, verify, copies to a share and over SFTP, retention everywhere, a status record; exit 0', async () => {
    // Two months of older nightly archives, here and off-site, dated relative to today (UTC) so the
    // policy's outcome does not depend on the day the test runs.
    const monthDay = (monthsBack: number, day: number) => {
      const now = new Date();
      return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, day, 2)).toISOString();
    };
    const old: string[] = [];
    for (const createdAt of [monthDay(2, 5), monthDay(2, 20), monthDay(1, 10), monthDay(1, 20)])
      old.push(await writeArchiveAt(backupDir, { createdAt }));
    for (const name of old) await fs.copyFile(path.join(backupDir, name), path.join(share, name));

    const result = await nightly({
      CUPM_OFFSITE: `${share}|${sshd.url()}`,
      CUPM_OFFSITE_KNOWN_HOSTS: sshd.knownHostsFile,
      CUPM_OFFSITE_PASSWORD: sshd.password,
      CUPM_KEEP_DAILY: '2',
      CUPM_KEEP_MONTHLY: '3',
    });
    expect(result.exitCode, result.stderr).to.equal(0);
    const record = result.json<NightlyRunRecord>();
    expect(record.outcome).to.equal('ok');
    expect(record.verified).to.equal(true);
    expect(record.steps.map((s) => `${s.name}:${s.status}`)).to.deep.equal([
      'backup:done',
      'verify:done',
      'offsite:done',
      'prune:done',
      'notify:skipped',
    ]);
    const archive = record.archive!;
    expect(archive.path).to.equal(path.join(backupDir, archive.name));
    expect((await verifyArchive(archive.path)).ok).to.equal(true);

    // The copies are byte for byte the archive.
    const local = sha256(await fs.readFile(archive.path));
    expect(sha256(await fs.readFile(path.join(share, archive.name)))).to.equal(local);
    expect(sha256(await fs.readFile(path.join(sshd.root, archive.name)))).to.equal(local);
    expect(record.offsite.map((c) => [c.destination, c.archive, c.ok])).to.deep.equal([
      [share, archive.name, true],
      [sshd.url(), archive.name, true],
    ]);
    expect(record.pendingOffsite).to.deep.equal([]);

    // daily 2 + monthly 3: the new archive, last month's 20th (daily: the newest day before today;
    // monthly: last month's newest) and the 20th two months back (monthly); the 5th and 10th go.
    expect(await zips(backupDir)).to.deep.equal([archive.name, old[1]!, old[3]!].sort());
    expect(await zips(share)).to.deep.equal([archive.name, old[1]!, old[3]!].sort());
    expect(record.pruned).to.have.members([old[0], old[2], `${share}: ${old[0]}`, `${share}: ${old[2]}`]);

    expect(await servicesRunning()).to.deep.equal(['running', 'running', 'running']);
    expect(await readHistory(backupDir)).to.deep.equal([record]);
    expect(await fs.readdir(backupDir)).not.to.include(LOCK_FILE);

    // The log tells the story and holds no password.
    const log = await fs.readFile(path.join(backupDir, LOG_FILE), 'utf8');
    expect(log).to.match(/Nightly run on .* started/);
    expect(log).to.include(`Copied ${archive.name} to ${sshd.url()}`);
    expect(log).to.match(/Nightly run OK \(exit 0\)/);
    for (const secret of [server.cluster.password, sshd.password, server.appPassword]) expect(log).not.to.include(secret);
    expect(await fs.readFile(path.join(backupDir, HISTORY_FILE), 'utf8')).not.to.include(sshd.password);

    const status = await runCli(['status', '--json'], { env: env() });
    expect(status.exitCode, status.stdout).to.equal(0);
    const json = status.json<BackupStatus>();
    expect(json.newestVerified?.name).to.equal(archive.name);
    expect(json.lastRun?.outcome).to.equal('ok');
    expect(json.pendingOffsite).to.deep.equal([]);
  });

  it('an off-site share that is down: the backup is verified and kept, the run says WARNING (exit 6), and the next run copies what is pending', async () => {
    const offsite = path.join(share, 'cupm'); // not there yet: the share is "not mounted"
    const first = await nightly({ CUPM_OFFSITE: offsite, CUPM_KEEP_LAST: '1' });
    expect(first.exitCode, first.stderr).to.equal(6);
    const record = first.json<NightlyRunRecord>();
    expect(record.outcome).to.equal('warning');
    expect(record.verified).to.equal(true);
    expect(record.steps.map((s) => `${s.name}:${s.status}`)).to.deep.equal([
      'backup:done',
      'verify:done',
      'offsite:failed',
      'prune:done',
      'notify:skipped',
    ]);
    expect(record.error?.message).to.match(/The backup is verified and kept in .*, but offsite failed/);
    expect(record.offsite[0]?.error).to.match(/does not exist \(is the share mounted\?\)/);
    expect(record.pendingOffsite).to.deep.equal([{ destination: offsite, archive: record.archive!.name, since: record.startedAt }]);
    expect(first.stderr).to.match(/Nightly run WARNING \(exit 6\)/);

    const status = await runCli(['status'], { env: env() });
    expect(status.exitCode).to.equal(6);
    expect(status.stdout).to.include(`pending: ${record.archive!.name} -> ${offsite}`);

    // The share comes back; the next run copies the pending archive and its own, then prunes.
    await fs.mkdir(offsite);
    const second = await nightly({ CUPM_OFFSITE: offsite, CUPM_KEEP_LAST: '1' });
    expect(second.exitCode, second.stderr).to.equal(0);
    const next = second.json<NightlyRunRecord>();
    expect(next.offsite.map((c) => [c.archive, c.ok])).to.deep.equal([
      [record.archive!.name, true],
      [next.archive!.name, true],
    ]);
    expect(next.pendingOffsite).to.deep.equal([]);
    // Retention ran after both copies: keep-last 1 leaves only the newest, here and there.
    expect(await zips(backupDir)).to.deep.equal([next.archive!.name]);
    expect(await zips(offsite)).to.deep.equal([next.archive!.name]);
  });

  it('retention never deletes a local archive that is still owed to a destination', async () => {
    const offsite = path.join(share, 'down');
    const first = await nightly({ CUPM_OFFSITE: offsite, CUPM_KEEP_LAST: '1' });
    const second = await nightly({ CUPM_OFFSITE: offsite, CUPM_KEEP_LAST: '1' });
    expect(second.exitCode).to.equal(6);
    const owed = first.json<NightlyRunRecord>().archive!.name;
    expect(await zips(backupDir)).to.include(owed);
    expect(second.json<NightlyRunRecord>().pendingOffsite.map((p) => p.archive)).to.deep.equal([
      owed,
      second.json<NightlyRunRecord>().archive!.name,
    ]);
  });

  it('a corrupt archive in the backup dir is kept and reported: the night is a WARNING until someone removes it', async () => {
    const older = await writeArchiveAt(backupDir, { createdAt: '2026-11-20T02:00:00.000Z' });
    await fs.writeFile(path.join(backupDir, older.replace('20261120', '20261121')), 'PK\u0003\u0004 cut short by a dying disk');
    const result = await nightly({ CUPM_KEEP_LAST: '1' });
    expect(result.exitCode, result.stderr).to.equal(6);
    const record = result.json<NightlyRunRecord>();
    expect(record.outcome).to.equal('warning');
    expect(record.pruned).to.deep.equal([older]);
    expect(record.warnings?.[0]).to.match(/cupm-backup_.*_20261121T020000Z\.zip cannot be read or did not verify .* remove it by name/);
    expect(await zips(backupDir)).to.deep.equal([older.replace('20261120', '20261121'), record.archive!.name].sort());
  });

  // Filling up while the dump is written is test/backup/spool.peers.test.ts's; here the disk is
  // too full from the start, which the backup's free-space check finds before any service stops.
  describe('when the disk of the backup dir is too full for the backup', () => {
    let mount: TestMount;
    let mail: MailServer;
    before(async () => {
      mail = await startMailServer({ user: 'nightly', password: 'mail-Pa55' });
    });
    after(async () => {
      await mail?.close();
    });
    beforeEach(async () => {
      mount = await mountTmpfs({ sizeBytes: 64 * 1024, prefix: 'cupm-full-backups-' });
    });
    afterEach(async () => {
      await mount?.unmount();
    });

    it('refuses before any service stops (exit 4, naming needed and free bytes), writes no .partial, does not run retention, and mails the failure', async () => {
      const old = [
        await writeArchiveAt(mount.dir, { createdAt: '2026-11-20T02:00:00.000Z' }),
        await writeArchiveAt(mount.dir, { createdAt: '2026-11-21T02:00:00.000Z' }),
      ];
      // Leave 16 KB: the lock and the log fit, the archive does not.
      const { bavail, bsize } = await fs.statfs(mount.dir);
      await fs.writeFile(path.join(mount.dir, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - 16 * 1024)));

      const result = await runCli(['nightly', '--json'], {
        env: env({
          CUPM_BACKUP_DIR: mount.dir,
          CUPM_KEEP_LAST: '1',
          CUPM_SMTP_URL: mail.url('nightly', 'mail-Pa55'),
          CUPM_NOTIFY_TO: 'ops@example.com',
        }),
      });
      expect(result.exitCode, result.stderr).to.equal(4);
      const record = result.json<NightlyRunRecord>();
      expect(record.outcome).to.equal('failed');
      expect(record.steps.map((s) => `${s.name}:${s.status}`)).to.deep.equal([
        'backup:failed',
        'verify:skipped',
        'offsite:skipped',
        'prune:skipped',
        'notify:done',
      ]);
      expect(record.steps[0]?.error).to.match(/Not enough free disk for the backup: .* archive about [\d.]+ \w+, [\d.]+ \w+ free/);
      expect(result.stderr).to.include('no service was stopped');
      expect(record.steps.find((s) => s.name === 'prune')?.detail).to.equal('retention runs only after a verified backup');

      const files = await fs.readdir(mount.dir);
      expect(files.filter((f) => f.endsWith('.partial'))).to.deep.equal([]);
      expect(files.filter((f) => f.endsWith('.zip')).sort()).to.deep.equal(old.sort());
      expect(await servicesRunning()).to.deep.equal(['running', 'running', 'running']);

      expect(mail.received).to.have.length(1);
      expect(mail.received[0]!.raw).to.match(/FAILED/);
      // The record of the failure made it to the history once the partial was gone.
      expect((await readHistory(mount.dir)).map((r) => r.outcome)).to.deep.equal(['failed']);
      expect(await fs.readFile(path.join(mount.dir, LOG_FILE), 'utf8')).not.to.include('mail-Pa55');
    });
  });

  it('a second nightly while one runs is refused (exit 4) and the first is not disturbed', async () => {
    const gate = path.join(work, 'gate');
    await fs.mkdir(gate);
    // The first run stands still at its first service stop, holding the lock.
    const gated = { CUPM_SERVICE_COMMAND_STOP: `${quote([process.execPath, GATE, gate])} ${server.env().CUPM_SERVICE_COMMAND_STOP}` };
    const first = runCli(['nightly', '--json'], { env: env(gated) });
    while (
      !(await fs.access(path.join(gate, 'entered')).then(
        () => true,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 100));

    const second = await nightly();
    expect(second.exitCode).to.equal(4);
    expect(second.stderr).to.match(/Another cupm-backup job is running: "nightly"/);
    const refused = second.json<NightlyRunRecord>();
    expect(refused.steps.map((s) => `${s.name}:${s.status}`)).to.deep.equal(['lock:failed', 'notify:skipped']);
    expect(await fs.readdir(backupDir)).to.include(LOCK_FILE); // still the first run's

    await fs.writeFile(path.join(gate, 'release'), '');
    const done = await first;
    expect(done.exitCode, done.stderr).to.equal(0);
    const record = done.json<NightlyRunRecord>();
    expect(record.verified).to.equal(true);
    expect((await readHistory(backupDir)).map((r) => [r.outcome, r.exitCode])).to.deep.equal([
      ['failed', 4],
      ['ok', 0],
    ]);
    expect(await zips(backupDir)).to.deep.equal([record.archive!.name]);
  });
});
