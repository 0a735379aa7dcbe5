import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { loadConfig } from '../../src/config/config.js';
import { doctor, formatDoctorReport } from '../../src/doctor/doctor.js';
import { remoteRegistryCheck, shareFilesCheck } from '../../src/doctor/remote-service-checks.js';
import { WindowsServiceManager } from '../../src/services/windows.js';
import { createFakeSc, type FakeSc } from '../support/fake-sc/fake-sc.js';
import { mountShare, sharedSamba, type MountedShare, type TestSamba } from '../support/samba.js';

const JBOSS = 'EnterprisePlatform-4.2.0.GA_CP09';
/** The five CUPM files (docs/cupm.md), relative to the install dir. */
const FIVE = [
  'install.log',
  'sep/dfc.properties',
  'sep/dfc.keystore',
  `${JBOSS}/server/cupm/conf/login-config.xml`,
  `${JBOSS}/server/cupm/deploy/dfc-ds.xml`,
];

describe('doctor on an admin host: Remote Registry where the windows driver needs it, the five files on the share', function () {
  this.timeout(120_000);
  let samba: TestSamba;
  let share: MountedShare;
  let fake: FakeSc | undefined;

  before(async () => {
    samba = await sharedSamba();
    share = await mountShare(samba);
  });
  afterEach(async () => {
    await fake?.cleanup();
    fake = undefined;
  });
  after(async () => {
    await share?.unmount();
    await fs.rm(path.join(samba?.shareDir ?? '/nonexistent', 'CUPM-five'), { recursive: true, force: true });
  });

  const config = (env: Record<string, string>) =>
    loadConfig({ env: { CUPM_SERVICE_MANAGER: 'windows', CUPM_SERVER: 'cupm01', ...env }, cwd: os.tmpdir(), platform: 'linux' });

  async function windowsDriver(state: 'RUNNING' | 'STOPPED' | null): Promise<WindowsServiceManager> {
    fake = await createFakeSc({ services: state ? [{ keyName: 'RemoteRegistry', displayName: 'Remote Registry', state }] : [] });
    return new WindowsServiceManager({ timeoutSeconds: 30, scExe: fake.scExe, pollMs: 10, server: 'cupm01' });
  }

  it('passes a running Remote Registry, asked with sc.exe \\\\HOST', async () => {
    const result = await remoteRegistryCheck(config({}), await windowsDriver('RUNNING'));
    expect(result).to.include({ id: 'remote.remote-registry', status: 'pass' });
    expect((await fake!.calls()).map((c) => c.args)).to.deep.equal([['\\\\cupm01', 'query', 'RemoteRegistry']]);
  });

  it('says Remote Registry must be running when it is stopped, and how to start it', async () => {
    const result = await remoteRegistryCheck(config({}), await windowsDriver('STOPPED'));
    expect(result.status).to.equal('warn');
    expect(result.detail).to.include('stopped').and.include('must be running').and.include('display name');
    expect(result.hint).to.include('sc.exe \\\\cupm01 start RemoteRegistry').and.include('key) names in CUPM_SERVICES');
  });

  it('fails when the server has no Remote Registry service at all', async () => {
    const result = await remoteRegistryCheck(config({}), await windowsDriver(null));
    expect(result.status).to.equal('fail');
    expect(result.detail).to.include('no RemoteRegistry service on cupm01');
  });

  it('passes the five files read through the share, and names the one missing there', async () => {
    // Written through the mount, as the server account: the share's files are the server's.
    const installDir = path.join(share.dir, 'CUPM-five');
    for (const file of FIVE) {
      await fs.mkdir(path.dirname(path.join(installDir, file)), { recursive: true });
      await fs.writeFile(path.join(installDir, file), `${file}\n`);
    }
    expect(await fs.readdir(path.join(samba.shareDir, 'CUPM-five', 'sep'))).to.have.members(['dfc.properties', 'dfc.keystore']);
    const present = shareFilesCheck(installDir, samba.host);
    expect(present).to.include({ id: 'remote.files', status: 'pass' });
    expect(present.detail).to.include('sep/dfc.keystore').and.include(`${JBOSS}/server/cupm/deploy/dfc-ds.xml`);

    await fs.rm(path.join(installDir, 'sep', 'dfc.keystore'));
    const missing = shareFilesCheck(installDir, samba.host);
    expect(missing.status).to.equal('fail');
    expect(missing.detail).to.include(path.join(installDir, 'sep', 'dfc.keystore'));
    expect(missing.hint).to.include('\\\\127.0.0.1\\C$\\CUPM');
    await fs.writeFile(path.join(installDir, 'sep', 'dfc.keystore'), 'keystore\n');
  });

  it('puts both lines in the doctor report of the remote group, each with its hint', async () => {
    const manager = await windowsDriver('STOPPED');
    const report = await doctor(config({ CUPM_SERVER: samba.host, CUPM_INSTALL_DIR: path.join(share.dir, 'CUPM-five') }), {
      serviceManager: manager,
      groups: ['remote'],
    });
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    expect(byId.get('remote.remote-registry')?.status).to.equal('warn');
    expect(byId.get('remote.files')?.status, byId.get('remote.files')?.detail).to.equal('pass');
    const text = formatDoctorReport(report).join('\n');
    expect(text).to.include('Remote Registry on 127.0.0.1').and.include('what to do: start it on 127.0.0.1');
  });

  it('has no Remote Registry line for the rpc driver (net rpc reads display names itself)', async () => {
    const results = await doctor(
      config({
        CUPM_SERVER: samba.host,
        CUPM_SERVICE_MANAGER: 'rpc',
        CUPM_SERVER_USER: samba.admin.user,
        CUPM_SERVER_PASSWORD: samba.admin.password,
        CUPM_INSTALL_DIR: path.join(share.dir, 'CUPM-five'),
      }),
      { groups: ['remote'] },
    );
    expect(results.checks.map((c) => c.id)).not.to.include('remote.remote-registry');
    expect(results.checks.map((c) => c.id)).to.include('remote.files');
  });
});
