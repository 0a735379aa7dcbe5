import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { waitFor } from '../support/faults.js';
import { mountShare, sharedSamba, type MountedShare, type TestSamba } from '../support/samba.js';

// The share stands for the server's C$: CUPM_INSTALL_DIR is its CUPM folder, C:\CUPM on the server.
describe('upgrade cleanup --check: what the clean-up left, seen from the admin host (real smbd: services over MS-RPC, folders over the share)', function () {
  this.timeout(180_000);
  let samba: TestSamba;
  let share: MountedShare;
  let work: string;

  before(async () => {
    samba = await sharedSamba();
    share = await mountShare(samba);
    work = await mkdtemp(path.join(tmpdir(), 'cupm-cleanup-check-'));
  });
  after(async () => {
    await share?.unmount();
    for (const folder of ['CUPM', 'Program Files'])
      await rm(path.join(samba?.shareDir ?? '/nonexistent', folder), { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  function env(installDir = path.join(share.dir, 'CUPM')): Record<string, string> {
    return {
      CUPM_SERVER: samba.host,
      CUPM_SERVER_USER: samba.admin.user,
      CUPM_SERVER_PASSWORD: samba.admin.password,
      CUPM_SERVICE_MANAGER: 'rpc',
      CUPM_INSTALL_DIR: installDir,
      CUPM_BACKUP_DIR: path.join(work, 'backups'),
    };
  }

  it('names what is still on the server (exit 5), then says nothing is left once it is gone (exit 0)', async () => {
    // Made on the server's side of the share: what the script did not remove.
    await mkdir(path.join(samba.shareDir, 'CUPM', 'sep'), { recursive: true });
    await mkdir(path.join(samba.shareDir, 'Program Files', 'Zero G Registry'), { recursive: true });

    const left = await runCli(['upgrade', 'cleanup', '--check'], { env: env() });
    expect(left.exitCode, left.stderr).to.equal(5);
    expect(left.stderr).to.include('The clean-up is not complete: 2 thing(s)');
    expect(left.stderr).to.include('[left] folder C:\\CUPM').and.include('[left] folder C:\\Program Files\\Zero G Registry');
    expect(left.stderr).to.include('run the clean-up script on the server again');
    expect(left.stdout + left.stderr).not.to.include(samba.admin.password);

    const json = await runCli(['upgrade', 'cleanup', '--check', '--json'], { env: env() });
    expect(json.exitCode).to.equal(5);
    const report = json.json<{ ok: boolean; items: Array<{ kind: string; name: string; state: string; detail: string }> }>();
    expect(report.ok).to.equal(false);
    // The services were asked over MS-RPC: Samba has none of CUPM's, so each is gone.
    const services = report.items.filter((i) => i.kind === 'service');
    expect(services.map((s) => [s.name, s.state])).to.deep.equal([
      ['Apache2', 'gone'],
      ['cupm JbossService', 'gone'],
      ['cupm NICEService', 'gone'],
      ['pgsql-8.2', 'gone'],
    ]);
    expect(services[0]!.detail).to.include('rpc');
    expect(report.items.filter((i) => i.state === 'left').map((i) => i.name)).to.deep.equal([
      'C:\\CUPM',
      'C:\\Program Files\\Zero G Registry',
    ]);

    await rm(path.join(samba.shareDir, 'CUPM'), { recursive: true, force: true });
    await rm(path.join(samba.shareDir, 'Program Files'), { recursive: true, force: true });
    // Removed behind the share's back (on the server's disk): the admin host's SMB client (smbnetfs,
    // FUSE) may answer from its cache for a moment. The check is of the tool, once the client has seen it.
    const seen = (folder: string) =>
      access(path.join(share.dir, folder)).then(
        () => undefined,
        () => true,
      );
    await waitFor(
      'the share to show the folders gone',
      async () => ((await seen('CUPM')) && (await seen('Program Files')) ? true : undefined),
      60,
    );
    const clean = await runCli(['upgrade', 'cleanup', '--check'], { env: env() });
    expect(clean.exitCode, clean.stderr).to.equal(0);
    expect(clean.stdout).to.include('Nothing the clean-up removes is left on the server');
    expect(clean.stdout).to.include('[gone] service pgsql-8.2').and.include('[gone] folder C:\\Users\\cupmuser');
    expect(clean.stdout).to.include('[not checked]');
  });

  it('refuses (exit 2) when the share is not mounted, never looking at a local folder of the same name', async () => {
    const local = path.join(work, 'not-mounted');
    await mkdir(path.join(local, 'Program Files', 'Zero G Registry'), { recursive: true });
    const run = await runCli(['upgrade', 'cleanup', '--check'], { env: env(path.join(local, 'CUPM')) });
    expect(run.exitCode, run.stderr).to.equal(2);
    expect(run.stderr).to.include("on this host's own disk").and.include('mount \\\\127.0.0.1\\C$');

    const missing = await runCli(['upgrade', 'cleanup', '--check'], { env: env(path.join(work, 'no-such-mount', 'CUPM')) });
    expect(missing.exitCode, missing.stderr).to.equal(2);
    expect(missing.stderr).to.include('is not reachable').and.include('ENOENT');
  });

  it('says it could not check the services (exit 1) when the server account is wrong, without its password anywhere', async () => {
    const wrong = `Wrong-${samba.admin.password}`;
    const run = await runCli(['upgrade', 'cleanup', '--check'], { env: { ...env(), CUPM_SERVER_PASSWORD: wrong } });
    expect(run.exitCode, run.stderr).to.equal(1);
    expect(run.stderr).to.include('Could not check 4 thing(s)').and.include('[unknown] service Apache2');
    expect(run.stdout + run.stderr).not.to.include(wrong);
  });
});
