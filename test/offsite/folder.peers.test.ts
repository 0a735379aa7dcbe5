import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { loadConfig } from '../../src/config/config.js';
import { copyArchive } from '../../src/offsite/copy.js';
import { withConnection, type Destination } from '../../src/offsite/destination.js';
import { configuredDestinations } from '../../src/offsite/index.js';
import { listRemoteArchives } from '../../src/offsite/remote-catalog.js';
import { sha256 } from '../support/archives.js';
import { writeArchiveAt, writeCorruptArchive } from '../support/dated-archives.js';
import { mountTmpfs, type TestMount } from '../support/mounts.js';

describe('off-site copies to a folder (a mounted share)', () => {
  let local: string;
  let share: string;
  let archive: string;

  beforeEach(async () => {
    local = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-folder-local-'));
    share = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-folder-share-'));
    archive = await writeArchiveAt(local, { createdAt: '2026-11-24T02:00:00.000Z' });
  });
  afterEach(async () => {
    await fs.rm(local, { recursive: true, force: true });
    await fs.rm(share, { recursive: true, force: true });
  });

  const destinationFor = (folder: string): Destination =>
    configuredDestinations(loadConfig({ env: { CUPM_BACKUP_DIR: local, CUPM_OFFSITE: folder }, cwd: local }).offsite)[0]!;
  const copyTo = (destination: Destination, options = {}) =>
    withConnection(destination, (c) => copyArchive(c, destination.display, path.join(local, archive), options));

  it('copies the archive byte for byte under its own name, mode 0600, with no temp file left', async () => {
    await copyTo(destinationFor(share));
    expect(await fs.readdir(share)).to.deep.equal([archive]);
    expect(sha256(await fs.readFile(path.join(share, archive)))).to.equal(sha256(await fs.readFile(path.join(local, archive))));
    expect((await fs.stat(path.join(share, archive))).mode & 0o777).to.equal(0o600);
  });

  it('a folder that does not exist (a share not mounted) is reported and never created', async () => {
    const missing = path.join(share, 'not-mounted');
    await expect(copyTo(destinationFor(missing))).to.be.rejectedWith(
      /off-site folder .*not-mounted cannot be reached: it does not exist \(is the share mounted\?\)/,
    );
    await expect(fs.access(missing)).to.be.rejected;
  });

  describe('on a read-only file system', () => {
    let mount: TestMount;
    before(async () => {
      mount = await mountTmpfs({ sizeBytes: 1024 * 1024, readOnly: true, prefix: 'cupm-ro-share-' });
    });
    after(async () => {
      await mount?.unmount();
    });

    it('the copy fails saying the folder is read-only, and leaves nothing behind', async () => {
      await expect(copyTo(destinationFor(mount.dir))).to.be.rejectedWith(/failed while writing: it is read-only \(EROFS\)/);
      expect(await fs.readdir(mount.dir)).to.deep.equal([]);
    });
  });

  describe('on a share that fills up', () => {
    let mount: TestMount;
    before(async () => {
      mount = await mountTmpfs({ sizeBytes: 4096, prefix: 'cupm-full-share-' });
    });
    after(async () => {
      await mount?.unmount();
    });

    it('the copy fails saying the disk is full, and the partial copy is removed', async () => {
      // A bigger archive than the 4 KiB share holds.
      await fs.appendFile(path.join(local, archive), Buffer.alloc(64 * 1024));
      await expect(copyTo(destinationFor(mount.dir))).to.be.rejectedWith(/the disk is full \(ENOSPC\)/);
      expect(await fs.readdir(mount.dir)).to.deep.equal([]);
    });
  });

  it('a copy that arrives short is detected and not renamed into place', async () => {
    const copy = copyTo(destinationFor(share), {
      afterUpload: async (_c: unknown, temp: string) => {
        const file = path.join(share, temp);
        await fs.truncate(file, (await fs.stat(file)).size - 1);
      },
    });
    await expect(copy).to.be.rejectedWith(/arrived short: (\d+) of \d+ bytes/);
    expect(await fs.readdir(share)).to.deep.equal([]);
  });

  it('a copy whose bytes changed on the way is detected by its SHA-256', async () => {
    const copy = copyTo(destinationFor(share), {
      afterUpload: async (_c: unknown, temp: string) => {
        const handle = await fs.open(path.join(share, temp), 'r+');
        await handle.write(Buffer.from('X'), 0, 1, 10);
        await handle.close();
      },
    });
    await expect(copy).to.be.rejectedWith(/arrived with different content \(SHA-256 differs\)/);
    expect(await fs.readdir(share)).to.deep.equal([]);
  });

  it('lists the archives there with their manifests, and names an unreadable one', async () => {
    await copyTo(destinationFor(share));
    const corrupt = await writeCorruptArchive(share, '2026-11-01T02:00:00.000Z');
    await fs.writeFile(path.join(share, 'notes.txt'), 'not an archive');
    const destination = destinationFor(share);
    const listed = await withConnection(destination, (c) => listRemoteArchives(c, destination.display));
    expect(listed.map((a) => a.name)).to.have.members([archive, corrupt]);
    expect(listed.find((a) => a.name === archive)?.manifest?.createdAt).to.equal('2026-11-24T02:00:00.000Z');
    expect(listed.find((a) => a.name === corrupt)?.error).to.match(/not a readable ZIP archive/);
  });
});
