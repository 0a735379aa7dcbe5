import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { shareLocationOf } from '../../src/restore/share-space.js';

// Mount tables as /proc/self/mountinfo gives them, around a real folder (the path is resolved).
describe('shareLocationOf: which share a mounted folder is on', () => {
  let root: string;
  before(async () => {
    root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-mnt-')));
    await fs.mkdir(path.join(root, 'cupm01', 'C$', 'CUPM 8.5', 'sep'), { recursive: true });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  const line = (point: string, type: string, source: string) =>
    `36 25 0:32 / ${point.replaceAll(' ', '\\040')} rw,relatime shared:1 - ${type} ${source} rw`;

  it('reads a kernel CIFS mount from its source //HOST/SHARE[/path], spaces unescaped', async () => {
    const info = [
      line('/', 'ext4', '/dev/sda1'),
      line(path.join(root, 'cupm01', 'C$', 'CUPM 8.5'), 'cifs', '//cupm01/C$/CUPM\\0408.5'),
    ].join('\n');
    expect(await shareLocationOf(path.join(root, 'cupm01', 'C$', 'CUPM 8.5', 'sep'), info)).to.deep.equal({
      host: 'cupm01',
      share: 'C$',
      dir: 'CUPM 8.5\\sep',
    });
  });

  it('reads an smbnetfs mount from the path below it (HOST/SHARE/...)', async () => {
    const info = [line('/', 'ext4', '/dev/sda1'), line(root, 'fuse.smbnetfs', 'smbnetfs')].join('\n');
    expect(await shareLocationOf(path.join(root, 'cupm01', 'C$', 'CUPM 8.5', 'sep'), info)).to.deep.equal({
      host: 'cupm01',
      share: 'C$',
      dir: 'CUPM 8.5\\sep',
    });
    expect(await shareLocationOf(path.join(root, 'cupm01'), info), 'a server folder is no share').to.equal(undefined);
  });

  it('knows no share for a local disk or a folder that does not exist', async () => {
    const info = line('/', 'ext4', '/dev/sda1');
    expect(await shareLocationOf(root, info)).to.equal(undefined);
    expect(await shareLocationOf(path.join(root, 'missing'), info)).to.equal(undefined);
  });
});
