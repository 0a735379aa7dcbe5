import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { watchProcesses } from '../support/proc-watch.js';
import { sharedSamba, type TestSamba } from '../support/samba.js';
import { RpcServiceManager } from '../../src/services/rpc.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';

// From a Linux admin host (CUPM_SERVER, CUPM_SERVICE_MANAGER=rpc), a restore restarts PostgreSQL's
// service on the server through the rpc driver. The real smbd on 127.0.0.1 is the server: its
// Spooler stands in for pgsql-8.2 (the one service Samba lets a client stop and start), its
// NETLOGON (stopped) for the CUPM services; PGHOST 127.0.0.1 is that same host, so the database
// counts as on the server.
describe('restore from an admin host: the PostgreSQL service is restarted through the remote (rpc) driver', function () {
  this.timeout(180_000);
  let samba: TestSamba;
  let server: SandboxServer;

  before(async () => {
    samba = await sharedSamba();
    if (!samba.onPort445) throw new Error("the CLI's rpc driver reaches SMB on port 445, which was taken when the test smbd started");
    server = await createSandboxServer({ name: 'cupm-rpc-pg' });
  });
  after(async () => {
    await server?.destroy();
  });

  it('stops and starts CUPM_PG_SERVICE on CUPM_SERVER over MS-RPC, with the password in no command line', async () => {
    const backup = await runCli(['backup', '--json'], { env: server.env() });
    expect(backup.exitCode, backup.stderr).to.equal(0);
    const archive = backup.json<{ archive: string }>().archive;

    const env = {
      ...server.env(),
      CUPM_SERVER: samba.host,
      CUPM_SERVER_USER: samba.admin.user,
      CUPM_SERVER_PASSWORD: samba.admin.password,
      CUPM_SERVICE_MANAGER: 'rpc',
      CUPM_SERVICES: 'NETLOGON',
      CUPM_PG_SERVICE: 'Spooler',
    };
    const plan = await runCli(['restore', archive, '--dry-run', '--json'], { env });
    expect(plan.exitCode, plan.stderr).to.equal(0);
    expect(plan.json<{ plan: { postgres: unknown } }>().plan.postgres).to.deep.equal({ restart: 'Spooler' });

    const watch = watchProcesses([samba.admin.password]);
    const restore = await runCli(['restore', archive, '--yes', '--json'], { env });
    const { leaks } = await watch.stop();
    expect(restore.exitCode, restore.stderr).to.equal(0);
    const steps = restore.json<{ steps: Array<{ id: string; title: string; status: string; detail?: string }> }>().steps;
    expect(steps.find((s) => s.id === 'postgres')).to.deep.include({
      title: 'Restart PostgreSQL (service Spooler)',
      status: 'done',
      detail: 'Spooler restarted',
    });
    expect(leaks).to.deep.equal([]);
    expect(restore.stdout + restore.stderr).not.to.include(samba.admin.password);

    // Samba's own answer: the stand-in runs again, and the stopped one stayed stopped.
    const rpc = new RpcServiceManager({ host: samba.host, port: samba.port, ...samba.admin, timeoutSeconds: 60 });
    expect(await rpc.status('Spooler')).to.equal('running');
    expect(await rpc.status('NETLOGON')).to.equal('stopped');
  });
});
