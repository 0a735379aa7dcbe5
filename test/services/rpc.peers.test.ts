import { expect } from 'chai';
import { ConfigError, CupmError, JobFailedError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { freePort } from '../../src/sandbox/cluster.js';
import { RpcServiceManager, type RpcServiceManagerOptions } from '../../src/services/rpc.js';
import { withServicesStopped } from '../../src/services/scope.js';
import { ServiceNotFoundError } from '../../src/services/service-manager.js';
import { ctrlCDuring } from '../support/ctrl-c-during-command.js';
import { watchProcesses } from '../support/proc-watch.js';
import { sharedSamba, type TestSamba } from '../support/samba.js';

/** Runs `fn`, which must throw; returns what it threw. */
async function rejectionOf(fn: () => Promise<unknown>): Promise<CupmError> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof CupmError) return error;
    throw error;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('the rpc service driver against a real Samba smbd (MS-RPC svcctl)', function () {
  this.timeout(120_000);
  let samba: TestSamba;

  before(async () => {
    samba = await sharedSamba();
  });

  function manager(account: { user: string; password: string }, overrides: Partial<RpcServiceManagerOptions> = {}): RpcServiceManager {
    return new RpcServiceManager({ host: samba.host, port: samba.port, ...account, timeoutSeconds: 60, pollMs: 200, ...overrides });
  }

  afterEach(async () => {
    // Every test leaves the spooler running, as smbd started it.
    const admin = manager(samba.admin);
    if ((await admin.status('Spooler')) !== 'running') await admin.start('Spooler');
  });

  it('queries, stops and starts Spooler; the password is on no command line', async () => {
    const watch = watchProcesses([samba.admin.password]);
    const admin = manager(samba.admin);
    expect(await admin.status('Spooler')).to.equal('running');
    await admin.stop('Spooler');
    expect(await admin.status('Spooler')).to.equal('stopped');
    await admin.stop('Spooler'); // already stopped: nothing to do
    await admin.start('Spooler');
    expect(await admin.status('Spooler')).to.equal('running');
    await admin.start('Spooler'); // already running: nothing to do
    expect(await manager(samba.admin).status('SPOOLER'), 'names compare case-insensitively').to.equal('running');
    const { leaks, commandLines } = await watch.stop();
    expect(
      commandLines.some((c) => c.startsWith('net rpc service')),
      'the watcher saw net run',
    ).to.equal(true);
    expect(leaks).to.deep.equal([]);
  });

  it('stops and starts Spooler around a job (withServicesStopped)', async () => {
    const admin = manager(samba.admin);
    const during = await withServicesStopped(admin, ['Spooler'], silentReporter, async () => admin.status('Spooler'));
    expect(during).to.equal('stopped');
    expect(await admin.status('Spooler')).to.equal('running');
  });

  it('a Ctrl-C while net rpc service stop runs does not kill it: the stop finishes, and the service is started again', async () => {
    // The real `net` against smbd; the password reaches the tool through its environment.
    const run = await ctrlCDuring('stop', 'net', (netExe) => ({
      kind: 'rpc',
      options: { host: samba.host, port: samba.port, ...samba.admin, timeoutSeconds: 60, pollMs: 200, netExe },
      services: ['Spooler'],
    }));
    expect(run.finished, 'the stop command ran to its end').to.deep.equal(['0']);
    expect(run.error?.message, run.stderr).to.equal('The job was cancelled (Ctrl-C or SIGTERM) while stopping the services.');
    expect(run.ran).to.equal(false);
    expect(run.lines).to.deep.equal(['Stopping Spooler', 'Starting Spooler']);
    expect(await manager(samba.admin).status('Spooler')).to.equal('running');
  });

  it('an unknown service is a configuration error (exit 2) naming it and the server', async () => {
    const error = await rejectionOf(() => manager(samba.admin).status('cupm NoSuchService'));
    expect(error).to.be.instanceOf(ServiceNotFoundError);
    expect(error.exitCode).to.equal(2);
    expect(error.message).to.contain('cupm NoSuchService').and.contain('127.0.0.1');
  });

  it('an account outside Administrators gets ACCESS_DENIED before any service stops (exit 2)', async () => {
    const unprivileged = manager(samba.user);
    expect(await unprivileged.status('Spooler'), 'reading the state is allowed').to.equal('running');
    const error = await rejectionOf(() => withServicesStopped(unprivileged, ['Spooler'], silentReporter, async () => 'ran'));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.contain('WERR_ACCESS_DENIED').and.contain(samba.user.user);
    expect(error.hint).to.match(/Administrators/);
    expect(await manager(samba.admin).status('Spooler'), 'nothing was stopped').to.equal('running');
  });

  it('a wrong password is a configuration error (exit 2) that never shows the password', async () => {
    const password = 'Wr0ng-pa55word-xyz';
    const error = await rejectionOf(() => manager({ user: samba.admin.user, password }).stop('Spooler'));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.contain('NT_STATUS_LOGON_FAILURE').and.contain(samba.admin.user);
    expect(JSON.stringify({ message: error.message, hint: error.hint, state: error.state, problems: error.problems })).not.to.contain(
      password,
    );
    expect(await manager(samba.admin).status('Spooler')).to.equal('running');
  });

  it('a refused port fails (exit 1) saying which port and that nothing was touched', async () => {
    const port = await freePort();
    const error = await rejectionOf(() => manager(samba.admin, { port }).status('Spooler'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error.exitCode).to.equal(1);
    expect(error.message).to.contain('NT_STATUS_CONNECTION_REFUSED').and.contain(String(port));
    expect(error.state).to.equal('no service was touched');
  });

  it('an unresolvable host is a configuration error naming CUPM_SERVER, before net runs', async () => {
    const error = await rejectionOf(() =>
      manager(samba.admin, { host: 'cupm-no-such-host.invalid', netExe: '/nonexistent/net' }).status('Spooler'),
    );
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.contain('cupm-no-such-host.invalid').and.contain('CUPM_SERVER').and.contain('not found');
  });
});
