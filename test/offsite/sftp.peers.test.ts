import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { copyArchive } from '../../src/offsite/copy.js';
import { withConnection } from '../../src/offsite/destination.js';
import { configuredDestinations } from '../../src/offsite/index.js';
import { freePort } from '../../src/sandbox/cluster.js';
import { pruneLocked } from '../../src/schedule/prune.js';
import { sha256 } from '../support/archives.js';
import { writeArchiveAt, writeCorruptArchive } from '../support/dated-archives.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

describe('off-site copies over SFTP (a real OpenSSH server on loopback)', () => {
  let sshd: TestSshd;
  let local: string;
  let archive: string;

  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });
  beforeEach(async () => {
    local = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-sftp-local-'));
    archive = await writeArchiveAt(local, { createdAt: '2026-11-24T02:00:00.000Z' });
    for (const name of await fs.readdir(sshd.root)) await fs.rm(path.join(sshd.root, name), { force: true });
  });
  afterEach(async () => {
    await fs.rm(local, { recursive: true, force: true });
  });

  /** The configuration an administrator would write, through the real config parser. */
  const configWith = (env: Record<string, string>): Config => loadConfig({ env: { CUPM_BACKUP_DIR: local, ...env }, cwd: local });
  const destinationOf = (env: Record<string, string>) => configuredDestinations(configWith(env).offsite)[0]!;
  const withKey = (extra: Record<string, string> = {}) => ({
    CUPM_OFFSITE: sshd.url(),
    CUPM_OFFSITE_KNOWN_HOSTS: sshd.knownHostsFile,
    CUPM_OFFSITE_IDENTITY: sshd.identityFile,
    ...extra,
  });
  const remoteFiles = () => fs.readdir(sshd.root);

  it('copies an archive with key auth and a known_hosts pin: it arrives whole, mode 0600, no temp file left', async () => {
    const destination = destinationOf(withKey());
    const result = await withConnection(destination, (c) => copyArchive(c, destination.display, path.join(local, archive)));

    expect(result.alreadyThere).to.equal(false);
    expect(await remoteFiles()).to.deep.equal([archive]);
    const arrived = await fs.readFile(path.join(sshd.root, archive));
    expect(sha256(arrived)).to.equal(sha256(await fs.readFile(path.join(local, archive))));
    expect(result.sha256).to.equal(sha256(arrived));
    expect((await fs.stat(path.join(sshd.root, archive))).mode & 0o777).to.equal(0o600);
  });

  it('a large archive, sent and read back with many requests in flight, arrives byte for byte', async () => {
    const big = archive.replace('.zip', '_big.zip');
    await fs.writeFile(path.join(local, big), crypto.randomBytes(5 * 1024 * 1024 + 12_345));
    const destination = destinationOf(withKey());
    const progress: number[] = [];
    const result = await withConnection(destination, (c) =>
      copyArchive(c, destination.display, path.join(local, big), { onBytes: (done) => progress.push(done) }),
    );
    expect(sha256(await fs.readFile(path.join(sshd.root, big)))).to.equal(sha256(await fs.readFile(path.join(local, big))));
    expect(result.size).to.equal(5 * 1024 * 1024 + 12_345);
    expect(progress.at(-1)).to.equal(result.size);
  });

  it('logs in with CUPM_OFFSITE_PASSWORD and a fingerprint pinned in the URL', async () => {
    const destination = destinationOf({
      CUPM_OFFSITE: `${sshd.url()}?fingerprint=${sshd.fingerprint}`,
      CUPM_OFFSITE_PASSWORD: sshd.password,
    });
    await withConnection(destination, (c) => copyArchive(c, destination.display, path.join(local, archive)));
    expect(await remoteFiles()).to.deep.equal([archive]);
  });

  it('accepts the password in the URL but never shows it', async () => {
    const url = sshd.url().replace('@', `:${encodeURIComponent(sshd.password)}@`);
    const destination = destinationOf({ CUPM_OFFSITE: url, CUPM_OFFSITE_KNOWN_HOSTS: sshd.knownHostsFile });
    expect(destination.display).to.equal(sshd.url());
    expect(destination.display).not.to.include(sshd.password);
    await withConnection(destination, (c) => copyArchive(c, destination.display, path.join(local, archive)));
    expect(await remoteFiles()).to.deep.equal([archive]);
  });

  it('a second copy of the same archive is recognised by its SHA-256 and not sent again', async () => {
    const destination = destinationOf(withKey());
    await withConnection(destination, (c) => copyArchive(c, destination.display, path.join(local, archive)));
    const again = await withConnection(destination, (c) => copyArchive(c, destination.display, path.join(local, archive)));
    expect(again.alreadyThere).to.equal(true);
  });

  it('a wrong password is refused with a message naming the login, and the password is not in it', async () => {
    const destination = destinationOf({
      CUPM_OFFSITE: sshd.url(),
      CUPM_OFFSITE_KNOWN_HOSTS: sshd.knownHostsFile,
      CUPM_OFFSITE_PASSWORD: 'not-the-password',
    });
    const error = await destination.connect().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/refused the login of "cupm-sftp-test": wrong password, or the key is not authorized/);
    expect(error?.message).not.to.include('not-the-password');
  });

  it('a server that is down is reported as such', async () => {
    const port = await freePort();
    const destination = destinationOf({ ...withKey(), CUPM_OFFSITE: `sftp://${sshd.user}@127.0.0.1:${port}/srv` });
    await expect(destination.connect()).to.be.rejectedWith(
      /No SSH server answers on 127\.0\.0\.1:\d+ \(connection refused\): is it down\?/,
    );
  });

  it('a changed host key is refused, and nothing is written', async () => {
    const destination = destinationOf(withKey({ CUPM_OFFSITE_KNOWN_HOSTS: sshd.changedKnownHostsFile }));
    const error = await destination.connect().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/host key of 127\.0\.0\.1:\d+ has CHANGED/);
    // The message shows what the server offered, so the administrator can compare it.
    expect(error?.message).to.include(sshd.fingerprint);
    expect(await remoteFiles()).to.deep.equal([]);
  });

  it('a host missing from known_hosts is refused as unknown', async () => {
    const other = path.join(local, 'known_hosts');
    await fs.writeFile(other, (await fs.readFile(sshd.knownHostsFile, 'utf8')).replace('[127.0.0.1]', '[192.0.2.1]'));
    const destination = destinationOf(withKey({ CUPM_OFFSITE_KNOWN_HOSTS: other }));
    await expect(destination.connect()).to.be.rejectedWith(/host key of 127\.0\.0\.1:\d+ is unknown/);
  });

  it('a pinned fingerprint that does not match is refused', async () => {
    const wrong = 'SHA256:' + 'A'.repeat(43);
    const destination = destinationOf({ ...withKey(), CUPM_OFFSITE: `${sshd.url()}?fingerprint=${wrong}` });
    await expect(destination.connect()).to.be.rejectedWith(/does not match the pinned fingerprint/);
  });

  it('a copy that arrives short is detected, removed, and never renamed into place', async () => {
    const destination = destinationOf(withKey());
    const copy = withConnection(destination, (c) =>
      copyArchive(c, destination.display, path.join(local, archive), {
        // What the server's disk holds after the upload: the tail is missing.
        afterUpload: async (_connection, temp) => {
          const file = path.join(sshd.root, temp);
          await fs.truncate(file, (await fs.stat(file)).size - 100);
        },
      }),
    );
    await expect(copy).to.be.rejectedWith(/arrived short: \d+ of \d+ bytes/);
    expect(await remoteFiles()).to.deep.equal([]);
  });

  it('a remote folder that does not exist is reported and not created', async () => {
    const destination = destinationOf(withKey({ CUPM_OFFSITE: sshd.url(path.join(sshd.root, 'missing')) }));
    await expect(destination.connect()).to.be.rejectedWith(/cannot be reached: no such file or folder/);
    expect(await remoteFiles()).to.deep.equal([]);
  });

  it('prune reads the manifests remotely and applies the policy there; a corrupt copy is kept and reported', async () => {
    const config = configWith(withKey());
    const destination = configuredDestinations(config.offsite)[0]!;
    const names = [archive];
    for (const day of ['2026-11-25', '2026-11-26']) names.push(await writeArchiveAt(local, { createdAt: `${day}T02:00:00.000Z` }));
    await withConnection(destination, async (c) => {
      for (const name of names) await copyArchive(c, destination.display, path.join(local, name));
    });
    const corrupt = await writeCorruptArchive(sshd.root, '2026-11-20T02:00:00.000Z');

    const result = await pruneLocked(config, { policy: { last: 1 } });
    const remote = result.locations.find((l) => l.kind === 'sftp')!;
    expect(remote.error).to.equal(undefined);
    expect(remote.deleted).to.have.members([names[0], names[1]]);
    expect(remote.unreadable.map((u) => u.name)).to.deep.equal([corrupt]);
    expect((await remoteFiles()).sort()).to.deep.equal([corrupt, names[2]].sort());
  });
});
