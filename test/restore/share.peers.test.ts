import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { javaReadProperties } from '../support/java.js';
import { copyTree, mountShare, sharedSamba, type MountedShare, type TestSamba } from '../support/samba.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';

describe('the install dir on a real SMB share (Samba, mounted with smbnetfs): backup and restore', function () {
  this.timeout(180_000);
  let samba: TestSamba;
  let share: MountedShare;
  let server: SandboxServer;
  let installDir: string;

  before(async () => {
    samba = await sharedSamba();
    share = await mountShare(samba);
    server = await createSandboxServer({ name: 'cupm-share' });
    // The CUPM server's C:\CUPM, reached through its share as an admin host reaches C$.
    installDir = path.join(share.dir, 'CUPM');
    await copyTree(server.installDir, installDir);
  });
  after(async () => {
    await server?.destroy();
    await share?.unmount();
    await fs.rm(path.join(samba?.shareDir ?? '/nonexistent', 'CUPM'), { recursive: true, force: true });
  });

  it('backs up from the share and restores onto it; the server holds the bytes Java reads', async () => {
    const env = { ...server.env(), CUPM_INSTALL_DIR: installDir };
    const backup = await runCli(['backup', '--json'], { env });
    expect(backup.exitCode, backup.stderr).to.equal(0);
    const archive = backup.json<{ archive: string }>().archive;

    const properties = path.join(installDir, 'sep', 'dfc.properties');
    const original = await fs.readFile(properties);
    await fs.writeFile(properties, 'dfc.postgres.host=wrong\n');

    const restore = await runCli(['restore', archive, '--yes', '--json'], { env });
    expect(restore.exitCode, restore.stderr).to.equal(0);

    // Read on the server's side of the share, not through the mount: what CUPM itself would read.
    const onServer = await fs.readFile(path.join(samba.shareDir, 'CUPM', 'sep', 'dfc.properties'));
    expect(onServer.equals(original)).to.equal(true);
    const [props] = await javaReadProperties([onServer.toString('latin1')]);
    expect(props!.ok && props!.properties.get('dfc.postgres.host')).to.equal(server.cluster.host);
    const leftovers = (await fs.readdir(path.join(samba.shareDir, 'CUPM', 'sep'))).filter((name) => name.includes('cupm-backup'));
    expect(leftovers, 'no temp or set-aside file is left on the share').to.deep.equal([]);
  });
});
