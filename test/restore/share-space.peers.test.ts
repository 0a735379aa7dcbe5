import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { watchProcesses } from '../support/proc-watch.js';
import { copyTree, mountShare, sharedSamba, type MountedShare, type TestSamba } from '../support/samba.js';
import { shareFreeSpace, shareLocationOf } from '../../src/restore/share-space.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';

// The share's folders sit on small tmpfs disks of their own on the server's side: Samba measures
// the disk of the folder asked about, so their free space is known exactly.
describe('free space on the share the CUPM files are written over (real smbd, smbnetfs mount)', function () {
  this.timeout(180_000);
  let samba: TestSamba;
  let share: MountedShare;
  const tmpfs: string[] = [];

  async function smallDisk(name: string, bytes: number): Promise<string> {
    const dir = path.join(samba.shareDir, name);
    await fs.mkdir(dir);
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0777`, 'tmpfs', dir]);
    tmpfs.push(dir);
    return dir;
  }

  before(async () => {
    samba = await sharedSamba();
    share = await mountShare(samba);
  });
  after(async () => {
    await share?.unmount();
    for (const dir of tmpfs) {
      await execa('umount', [dir], { reject: false });
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('measures a share folder with smbclient where smbnetfs answers statfs with zeros, the password in no command line', async () => {
    const onServer = await smallDisk('space-2m', 2 * 1024 * 1024);
    const mounted = path.join(share.dir, 'space-2m');
    expect((await fs.statfs(mounted)).blocks, 'smbnetfs gives no disk size').to.equal(0);
    expect(await shareLocationOf(mounted)).to.deep.equal({ host: samba.host, share: samba.shareName, dir: 'space-2m' });

    const watch = watchProcesses([samba.admin.password]);
    const space = await shareFreeSpace(mounted, { user: samba.admin.user, password: samba.admin.password });
    const { leaks } = await watch.stop();
    const truth = await fs.statfs(onServer);
    expect(space).to.deep.equal({ free: truth.bavail * truth.bsize, how: 'smbclient' });
    expect(leaks).to.deep.equal([]);

    const wrong = await shareFreeSpace(mounted, { user: samba.admin.user, password: 'not-the-password' });
    expect(wrong.how).to.equal('not-measured');
    expect(wrong.note).to.include('smbclient could not measure').and.not.include('not-the-password');
    const noAccount = await shareFreeSpace(mounted, { user: undefined, password: undefined });
    expect(noAccount.note).to.include('CUPM_SERVER_USER');
  });

  describe('a restore from an admin host', () => {
    let server: SandboxServer;
    before(async () => {
      server = await createSandboxServer({ name: 'cupm-share-space' });
    });
    after(async () => {
      await server?.destroy();
    });

    it('is refused (exit 4) before any service stops when the share has no room for the files', async () => {
      const backup = await runCli(['backup', '--json'], { env: server.env() });
      expect(backup.exitCode, backup.stderr).to.equal(0);
      const archive = backup.json<{ archive: string }>().archive;

      const onServer = await smallDisk('space-full', 1024 * 1024);
      const installDir = path.join(share.dir, 'space-full', 'CUPM');
      await copyTree(server.installDir, installDir);
      // Fill the rest of that disk on the server's side.
      await fs
        .writeFile(path.join(onServer, 'filler'), Buffer.alloc((await fs.statfs(onServer)).bavail * (await fs.statfs(onServer)).bsize))
        .catch(() => {});
      expect((await fs.statfs(onServer)).bavail).to.equal(0);
      const properties = path.join(onServer, 'CUPM', 'sep', 'dfc.properties');
      const before = await fs.readFile(properties);

      const env = {
        ...server.env(),
        CUPM_INSTALL_DIR: installDir,
        CUPM_SERVER: samba.host,
        CUPM_SERVER_USER: samba.admin.user,
        CUPM_SERVER_PASSWORD: samba.admin.password,
        CUPM_SERVICE_MANAGER: 'rpc',
        CUPM_SERVICES: 'Spooler',
      };
      const restore = await runCli(['restore', archive, '--yes'], { env });
      expect(restore.exitCode, restore.stderr).to.equal(4);
      expect(restore.stderr)
        .to.include('Not enough free space on the share for the CUPM files: 0 bytes free')
        .and.include('nothing was changed');
      expect(restore.stdout + restore.stderr).not.to.include(samba.admin.password);
      expect((await fs.readFile(properties)).equals(before)).to.equal(true);
      // Refused before the services: Spooler (standing in for CUPM's) was never stopped.
      expect(restore.stderr).not.to.include('Stopping Spooler');
    });
  });
});
