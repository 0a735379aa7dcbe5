import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { sharedSamba, type TestSamba } from '../support/samba.js';

type DoctorJson = { checks: Array<{ id: string; status: string; detail: string; hint?: string }> };

describe('cupm-backup doctor from a Linux admin host (CUPM_SERVICE_MANAGER=rpc against a real smbd)', function () {
  this.timeout(120_000);
  let samba: TestSamba;
  let dir: string;

  before(async () => {
    samba = await sharedSamba();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-admin-host-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** One env file per server, as the README says. */
  async function doctor(password: string) {
    const envFile = path.join(dir, 'cupm01.env');
    await fs.writeFile(
      envFile,
      [
        `CUPM_SERVER=${samba.host}`,
        'CUPM_SERVICE_MANAGER=rpc',
        `CUPM_SERVER_USER=${samba.admin.user}`,
        `CUPM_SERVER_PASSWORD=${password}`,
        'CUPM_SERVICES=Spooler',
        `CUPM_INSTALL_DIR=${dir}`,
        `CUPM_BACKUP_DIR=${path.join(dir, 'backups')}`,
        'PGHOST=127.0.0.1',
        'PGPORT=1',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const run = await runCli(['doctor', '--json', '--env-file', envFile], { cwd: dir });
    return { run, check: (id: string) => run.json<DoctorJson>().checks.find((c) => c.id === id) };
  }

  it('reaches the services through net rpc; a wrong password fails that line and is printed nowhere', async () => {
    if (!samba.onPort445) throw new Error('the rpc driver reaches SMB on port 445, which was taken when the test smbd started');
    const good = await doctor(samba.admin.password);
    expect(good.check('services.Spooler'), good.run.stdout).to.include({ status: 'pass', detail: 'exists, running' });
    expect(good.check('services.manager')).to.include({ status: 'pass', detail: 'rpc answers' });
    expect(good.check('remote.smb')).to.include({ status: 'pass' });
    expect(good.check('remote.install-dir')!.status, "a local folder is not the server's share").to.equal('fail');

    const wrong = 'Wr0ng-Pa55-for-doctor';
    const bad = await doctor(wrong);
    expect(bad.run.exitCode).to.equal(4);
    expect(bad.check('services.Spooler')!.status).to.equal('fail');
    expect(bad.check('services.Spooler')!.detail).to.contain('NT_STATUS_LOGON_FAILURE');
    expect(bad.check('services.Spooler')!.hint).to.contain('CUPM_SERVER_PASSWORD');
    expect(bad.run.stdout + bad.run.stderr).not.to.contain(wrong);
    expect(good.run.stdout + good.run.stderr).not.to.contain(samba.admin.password);
  });
});
