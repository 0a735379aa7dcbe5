import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { expect } from '../support/expect.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { HISTORY_FILE, type NightlyRunRecord } from '../../src/schedule/history.js';
import { LOG_FILE } from '../../src/schedule/run-log.js';
import type { BackupStatus } from '../../src/schedule/status.js';
import { runCli, type CliResult } from '../support/cli.js';
import { objectStore, type ObjectStore } from '../support/object-store.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { ageKeygen, secretKeyOf } from '../support/age.js';
import { watchProcesses } from '../support/proc-watch.js';

/** Everything a run printed, for the message of a failed assertion (a busy CI machine is no place to guess). */
const whole = (run: CliResult) => `exit ${run.exitCode}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;

describe('nightly, status, list, verify and restore with an S3 destination (a sandbox CUPM server, a real Swift)', function () {
  this.timeout(600_000);
  let server: SandboxServer;
  let store: ObjectStore;
  let work: string;
  let backupDir: string;
  let bucket: string;

  before(async function () {
    this.timeout(600_000);
    store = await objectStore();
    server = await createSandboxServer({ name: 'cupm-nightly-s3' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-nightly-s3-'));
    backupDir = path.join(work, 'backups');
    await fs.mkdir(backupDir);
    bucket = await store.bucket();
  });
  afterEach(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({
    ...server.env(),
    CUPM_BACKUP_DIR: backupDir,
    CUPM_OFFSITE: `s3://${bucket}/cupm/${server.name}`,
    CUPM_S3_ENDPOINT: store.endpoint,
    AWS_ACCESS_KEY_ID: store.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
    ...extra,
  });
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: env(extra) });
  const keys = async (b = bucket) =>
    ((await store.client.send(new ListObjectsV2Command({ Bucket: b }))).Contents ?? []).map((o) => o.Key!).sort();

  it('a night with an S3 destination: copied and checked; status is clean; list, verify and restore read it in place', async () => {
    const night = await cli(['nightly', '--json']);
    expect(night.exitCode, whole(night)).to.equal(0);
    const record = night.json<NightlyRunRecord>();
    const name = record.archive!.name;
    const display = `s3://${bucket}/cupm/${server.name}`;
    expect(night.stderr, whole(night)).to.match(
      new RegExp(
        `Copied ${name.replace(/\./g, '\\.')} to ${display}: ${record.archive!.size} bytes, size and ETag matched \\(ETag [0-9a-f]{32}\\)`,
      ),
    );
    expect(
      record.offsite.map((c) => [c.destination, c.archive, c.ok]),
      whole(night),
    ).to.deep.equal([[display, name, true]]);
    expect(record.pendingOffsite).to.deep.equal([]);
    expect(await keys()).to.deep.equal([`cupm/${server.name}/${name}`]);

    const status = await cli(['status', '--json']);
    expect(status.exitCode, whole(status)).to.equal(0);
    const json = status.json<BackupStatus>();
    expect(json.lastRun?.outcome).to.equal('ok');
    expect(json.pendingOffsite).to.deep.equal([]);

    const list = await cli(['list', display, '--json']);
    expect(list.exitCode, whole(list)).to.equal(0);
    const listed = list.json<{ archives: Array<{ file: string; ok: boolean; createdAt: string }> }>().archives;
    expect(listed.map((a) => [a.file, a.ok, a.createdAt])).to.deep.equal([[`${display}/${name}`, true, record.archive!.createdAt]]);

    const url = `${display}/${name}`;
    const verify = await cli(['verify', url, '--json']);
    expect(verify.exitCode, whole(verify)).to.equal(0);
    expect(verify.json<{ ok: boolean; archive: string }>()).to.include({ ok: true, archive: url });

    const restore = await cli(['restore', url, '--yes']);
    expect(restore.exitCode, whole(restore)).to.equal(0);
    expect(restore.stderr).to.include(url);

    // The secret is in no output, no log line and no record.
    const log = await fs.readFile(path.join(backupDir, LOG_FILE), 'utf8');
    const history = await fs.readFile(path.join(backupDir, HISTORY_FILE), 'utf8');
    for (const text of [
      night.stdout,
      night.stderr,
      status.stdout,
      list.stdout,
      verify.stdout,
      verify.stderr,
      restore.stdout,
      restore.stderr,
      log,
      history,
    ]) {
      expect(text).not.to.include(store.secretAccessKey);
    }
  });

  it('an encrypted archive (.zip.age): copied to S3, listed, verified and restored straight from S3 with the identity', async () => {
    const key = await ageKeygen(work);
    const night = await cli(['nightly', '--json'], { CUPM_ENCRYPT_TO: key.recipient });
    expect(night.exitCode, whole(night)).to.equal(0);
    const record = night.json<NightlyRunRecord>();
    const name = record.archive!.name;
    expect(name).to.match(/\.zip\.age$/);
    const display = `s3://${bucket}/cupm/${server.name}`;
    expect(
      record.offsite.map((c) => [c.archive, c.ok]),
      whole(night),
    ).to.deep.equal([[name, true]]);
    expect(await keys()).to.deep.equal([`cupm/${server.name}/${name}`]);

    // Without the identity: listed by what its name says; with it: its manifest, read by ranged GETs.
    const locked = await cli(['list', display, '--json']);
    expect(locked.exitCode, whole(locked)).to.equal(0);
    expect(locked.json<{ archives: Array<Record<string, unknown>> }>().archives[0]).to.deep.include({
      file: `${display}/${name}`,
      encrypted: true,
      factsFrom: 'name',
    });
    const list = await cli(['list', display, '--json', '--identity', key.identityFile]);
    expect(list.exitCode, whole(list)).to.equal(0);
    expect(list.json<{ archives: Array<Record<string, unknown>> }>().archives[0]).to.deep.include({
      file: `${display}/${name}`,
      ok: true,
      encrypted: true,
      createdAt: record.archive!.createdAt,
    });

    const url = `${display}/${name}`;
    const verify = await cli(['verify', url, '--json', '--identity', key.identityFile]);
    expect(verify.exitCode, whole(verify)).to.equal(0);
    expect(verify.json<{ ok: boolean; archive: string }>()).to.include({ ok: true, archive: url });
    const noKey = await cli(['verify', url]);
    expect(noKey.exitCode, whole(noKey)).not.to.equal(0);

    const restore = await cli(['restore', url, '--yes', '--identity', key.identityFile]);
    expect(restore.exitCode, whole(restore)).to.equal(0);
    expect(restore.stderr).to.include(url);
    const secretKey = await secretKeyOf(key);
    for (const text of [
      night.stdout,
      night.stderr,
      list.stdout,
      verify.stdout,
      verify.stderr,
      restore.stdout,
      restore.stderr,
      await fs.readFile(path.join(backupDir, LOG_FILE), 'utf8'),
    ]) {
      expect(text).not.to.include(secretKey);
      expect(text).not.to.include(store.secretAccessKey);
    }
  });

  it('credentials from a profile (AWS_PROFILE): ~/.aws/credentials of HOME, or AWS_SHARED_CREDENTIALS_FILE; the secret is shown nowhere', async () => {
    const home = path.join(work, 'home');
    await fs.mkdir(path.join(home, '.aws'), { recursive: true });
    const profile = `[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n[cupm-offsite]\naws_access_key_id = ${store.accessKeyId}\naws_secret_access_key = ${store.secretAccessKey}\n`;
    await fs.writeFile(path.join(home, '.aws', 'credentials'), profile, { mode: 0o600 });
    const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...withoutKeys } = env();
    const display = `s3://${bucket}/cupm/${server.name}`;

    const night = await runCli(['nightly', '--json'], { env: { ...withoutKeys, HOME: home, AWS_PROFILE: 'cupm-offsite' } });
    expect(night.exitCode, whole(night)).to.equal(0);
    const name = night.json<NightlyRunRecord>().archive!.name;
    expect(await keys()).to.deep.equal([`cupm/${server.name}/${name}`]);

    // The same profile in a file named by AWS_SHARED_CREDENTIALS_FILE (HOME has none).
    const file = path.join(work, 'shared-credentials');
    await fs.writeFile(file, profile, { mode: 0o600 });
    const list = await runCli(['list', display, '--json'], {
      env: { ...withoutKeys, HOME: path.join(work, 'empty-home'), AWS_PROFILE: 'cupm-offsite', AWS_SHARED_CREDENTIALS_FILE: file },
    });
    expect(list.exitCode, whole(list)).to.equal(0);
    expect(list.json<{ archives: Array<{ file: string }> }>().archives.map((a) => a.file)).to.deep.equal([`${display}/${name}`]);

    // The profile chosen is the one used: the default profile's wrong key is refused (exit 2).
    const wrong = await runCli(['list', display], { env: { ...withoutKeys, HOME: home, AWS_PROFILE: 'default' } });
    expect(wrong.exitCode, whole(wrong)).to.equal(2);
    // A profile that is not there is the configuration's fault: exit 2 at preflight, nothing done, and said so.
    const missing = await runCli(['nightly', '--json'], { env: { ...withoutKeys, HOME: home, AWS_PROFILE: 'cupm-typo' } });
    expect(missing.exitCode, whole(missing)).to.equal(2);
    expect(
      missing.json<NightlyRunRecord>().steps.map((s) => `${s.name}:${s.status}`),
      whole(missing),
    ).to.deep.equal(['preflight:failed', 'notify:skipped']);
    expect(missing.stderr).to.include('no credentials for the store in the profile "cupm-typo" (AWS_PROFILE; CredentialsProviderError)');
    for (const text of [
      night.stdout,
      night.stderr,
      list.stdout,
      list.stderr,
      wrong.stderr,
      missing.stderr,
      await fs.readFile(path.join(backupDir, LOG_FILE), 'utf8'),
      await fs.readFile(path.join(backupDir, HISTORY_FILE), 'utf8'),
    ]) {
      expect(text).not.to.include(store.secretAccessKey);
    }
  });

  it('AWS_SESSION_TOKEN: sent with every request (x-amz-security-token), and in no output, log, record or command line', async () => {
    const token = 'FwoGZXIvYXdzEBYaDHsession-token-canary-5521xyz';
    const proxy = await startTcpProxy(store.port);
    const watch = watchProcesses([token, store.secretAccessKey]);
    let night: CliResult;
    try {
      night = await cli(['nightly', '--json'], { CUPM_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, AWS_SESSION_TOKEN: token });
    } finally {
      await proxy.close();
    }
    const { leaks, commandLines } = await watch.stop();
    const requests = proxy.requestHeaders();
    expect(requests.length, whole(night)).to.be.at.least(3);
    for (const request of requests)
      expect(request.toLowerCase(), request.split('\r\n')[0]).to.include(`x-amz-security-token: ${token.toLowerCase()}`);
    // Swift's tempauth checks the signature (which covers the token header) and ignores the token itself.
    expect(night.exitCode, whole(night)).to.equal(0);
    expect(night.json<NightlyRunRecord>().offsite.map((c) => c.ok)).to.deep.equal([true]);
    expect(
      commandLines.some((line) => line.includes('nightly')),
      'the watch saw the nightly run',
    ).to.equal(true);
    expect(leaks).to.deep.equal([]);
    const status = await cli(['status', '--json'], { AWS_SESSION_TOKEN: token });
    for (const text of [
      night.stdout,
      night.stderr,
      status.stdout,
      status.stderr,
      await fs.readFile(path.join(backupDir, LOG_FILE), 'utf8'),
      await fs.readFile(path.join(backupDir, HISTORY_FILE), 'utf8'),
    ]) {
      expect(text).not.to.include(token);
      expect(text).not.to.include(store.secretAccessKey);
    }
  });

  it('a store that is down: the backup is verified and kept, WARNING (exit 6), the copy stays pending; the next run copies both', async () => {
    // Something listens, takes the connection and drops it: a proxy whose store is gone.
    const proxy = await startTcpProxy(store.port, { cutAfter: 1 });
    const down = await cli(['nightly', '--json'], { CUPM_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}` });
    await proxy.close();
    expect(down.exitCode, whole(down)).to.equal(6);
    const record = down.json<NightlyRunRecord>();
    expect(record.verified).to.equal(true);
    expect(
      record.steps.map((s) => `${s.name}:${s.status}`),
      whole(down),
    ).to.deep.equal(['backup:done', 'verify:done', 'offsite:failed', 'prune:skipped', 'notify:skipped']);
    expect(record.offsite[0]?.error, whole(down)).to.match(/cannot be reached \(E[A-Z]+\): is the store down/);
    expect(record.pendingOffsite.map((p) => p.archive)).to.deep.equal([record.archive!.name]);
    expect(down.stderr).to.match(/Nightly run WARNING \(exit 6\)/);
    expect(await keys()).to.deep.equal([]);

    const status = await cli(['status']);
    expect(status.exitCode, whole(status)).to.equal(6);
    expect(status.stdout).to.include(`pending: ${record.archive!.name} -> s3://${bucket}/cupm/${server.name}`);

    const next = await cli(['nightly', '--json']);
    expect(next.exitCode, whole(next)).to.equal(0);
    const second = next.json<NightlyRunRecord>();
    expect(
      second.offsite.map((c) => [c.archive, c.ok]),
      whole(next),
    ).to.deep.equal([
      [record.archive!.name, true],
      [second.archive!.name, true],
    ]);
    expect(second.pendingOffsite).to.deep.equal([]);
    expect(await keys()).to.deep.equal([record.archive!.name, second.archive!.name].map((n) => `cupm/${server.name}/${n}`).sort());
  });

  it('verify s3://...: an object that is not there is named (exit 3); a store that is down is not called a bad archive (exit 1)', async () => {
    const url = `s3://${bucket}/cupm/cupm-backup_nothere_20261124T020000Z.zip`;
    const missing = await cli(['verify', url]);
    expect(missing.exitCode, whole(missing)).to.equal(3);
    expect(missing.stderr, whole(missing)).to.include(`Cannot read ${url}: there is no such object`);

    const proxy = await startTcpProxy(store.port, { cutAfter: 1 });
    const down = await cli(['verify', url], { CUPM_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}` });
    await proxy.close();
    expect(down.exitCode, whole(down)).to.equal(1);
    expect(down.stderr, whole(down)).to.match(/cannot be reached \(E[A-Z]+\): is the store down/);
    expect(down.stderr).not.to.include('NOT valid');
  });

  it('a bucket that does not exist: exit 2 before anything is done, and the bucket is not created', async () => {
    const missing = await store.bucket({ create: false });
    const run = await cli(['nightly', '--json'], { CUPM_OFFSITE: `s3://${missing}/cupm` });
    expect(run.exitCode, whole(run)).to.equal(2);
    const record = run.json<NightlyRunRecord>();
    expect(
      record.steps.map((s) => `${s.name}:${s.status}`),
      whole(run),
    ).to.deep.equal(['preflight:failed', 'notify:skipped']);
    expect(record.error?.message).to.match(new RegExp(`the bucket ${missing} does not exist \\(NoSuchBucket\\)`));
    expect(record.archive).to.equal(null);
    expect((await fs.readdir(backupDir)).filter((n) => n.endsWith('.zip'))).to.deep.equal([]);
    const after = await store.client.send(new ListObjectsV2Command({ Bucket: missing })).then(
      () => 'exists',
      (e: { name?: string }) => e.name,
    );
    expect(after).to.equal('NoSuchBucket');
  });
});
