import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { loadConfig } from '../../src/config/config.js';
import { remoteChecks } from '../../src/doctor/remote-checks.js';
import { freePort } from '../../src/sandbox/cluster.js';
import { mountShare, sharedSamba, type MountedShare, type TestSamba } from '../support/samba.js';

describe('doctor on an admin host (CUPM_SERVER): the server, its channels, the share', function () {
  this.timeout(120_000);
  let samba: TestSamba;
  let share: MountedShare;
  let local: string;

  before(async () => {
    samba = await sharedSamba();
    share = await mountShare(samba);
    await fs.mkdir(path.join(share.dir, 'CUPM-doctor'), { recursive: true });
    local = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-not-a-share-'));
  });
  after(async () => {
    await fs.rm(path.join(samba?.shareDir ?? '/nonexistent', 'CUPM-doctor'), { recursive: true, force: true });
    await share?.unmount();
    await fs.rm(local, { recursive: true, force: true });
  });

  const config = (env: Record<string, string>) =>
    loadConfig({ env: { CUPM_SERVICE_MANAGER: 'none', ...env }, cwd: os.tmpdir(), platform: 'linux' });

  it('passes a reachable server whose share is mounted, readable and writable', async () => {
    const results = await remoteChecks(config({ CUPM_SERVER: samba.host, CUPM_INSTALL_DIR: path.join(share.dir, 'CUPM-doctor') }), {
      ports: { smb: samba.port, rpc: 135 },
    });
    expect(results.map((r) => [r.id, r.status])).to.deep.equal([
      ['remote.host', 'pass'],
      ['remote.smb', 'pass'],
      ['remote.install-dir', 'pass'],
    ]);
    expect(await fs.readdir(path.join(samba.shareDir, 'CUPM-doctor')), 'the write probe is gone').to.deep.equal([]);
  });

  it('fails a local folder in place of the share (the share is not mounted), and a refused SMB port', async () => {
    const refused = await freePort();
    const results = await remoteChecks(config({ CUPM_SERVER: samba.host, CUPM_INSTALL_DIR: local }), { ports: { smb: refused, rpc: 135 } });
    const byId = new Map(results.map((r) => [r.id, r]));
    expect(byId.get('remote.smb')).to.include({ status: 'fail', detail: 'refused' });
    expect(byId.get('remote.install-dir')!.status).to.equal('fail');
    expect(byId.get('remote.install-dir')!.detail).to.contain("this host's own disk").and.contain('not mounted');
  });

  it('fails an unknown server name, and checks nothing more', async () => {
    const results = await remoteChecks(config({ CUPM_SERVER: 'cupm-no-such-host.invalid', CUPM_INSTALL_DIR: local }));
    expect(results.map((r) => [r.id, r.status])).to.deep.equal([['remote.host', 'fail']]);
    expect(results[0]!.hint).to.contain('CUPM_SERVER');
  });

  it('adds nothing when the tool runs on the CUPM server itself', async () => {
    expect(await remoteChecks(config({ CUPM_INSTALL_DIR: local }))).to.deep.equal([]);
  });
});
