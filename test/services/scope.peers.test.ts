import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { STOPPED_AND_STARTED_ONCE } from '../support/servers.js';
import { loadConfig } from '../../src/config/config.js';
import { DirtyStateError, JobFailedError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { createStandinWorld, type StandinWorld } from '../../src/sandbox/standin-services.js';
import { createServiceManager } from '../../src/services/index.js';
import { withServicesStopped } from '../../src/services/scope.js';
import { ServiceNotFoundError, type ServiceManager } from '../../src/services/service-manager.js';

const SERVICES = ['Apache', 'cupm JBossService', 'cupm NiceService'];

/** A job's error of its own class, with a field of its own (as PsqlFailedError or ServicesDownAfterBackupError have). */
class DumpBrokeError extends JobFailedError {
  readonly archive = 'x.zip';
  constructor(message: string, state: string) {
    super(message, { problems: ['one'], state, hint: 'run it again' });
  }
}

describe('services are stopped for a job and put back as they were found', () => {
  let dir: string;
  let world: StandinWorld;
  let manager: ServiceManager;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-scope-'));
    world = await createStandinWorld(dir, { services: SERVICES });
    for (const service of SERVICES) await world.start(service);
    await world.events({ clear: true });
    manager = createServiceManager(loadConfig({ env: { ...world.env(), CUPM_SERVICE_TIMEOUT: '3' }, cwd: dir }));
  });
  afterEach(async () => {
    await world.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('stops in order, runs the job with all stopped, and starts in reverse order', async () => {
    const during = await withServicesStopped(manager, SERVICES, silentReporter, async () =>
      Promise.all(SERVICES.map((s) => world.status(s))),
    );
    expect(during).to.deep.equal(['stopped', 'stopped', 'stopped']);
    expect(await world.events()).to.deep.equal(STOPPED_AND_STARTED_ONCE);
    for (const service of SERVICES) expect(await world.status(service)).to.equal('running');
  });

  it('leaves a service that was already stopped stopped', async () => {
    await manager.stop('cupm NiceService');
    await world.events({ clear: true });
    const record = await withServicesStopped(manager, SERVICES, silentReporter, async (r) => r);
    expect(record.alreadyStopped).to.deep.equal(['cupm NiceService']);
    expect(await world.status('cupm NiceService')).to.equal('stopped');
    expect(await world.events()).to.not.include('start cupm NiceService');
  });

  it('starts the services again when the job fails, and the job error comes through', async () => {
    await expect(
      withServicesStopped(manager, SERVICES, silentReporter, async () => {
        throw new JobFailedError('the dump broke');
      }),
    ).to.be.rejectedWith(JobFailedError, 'the dump broke');
    for (const service of SERVICES) expect(await world.status(service)).to.equal('running');
  });

  it("the job's error comes through told with the services running again, as a new error: the one thrown is left as made", async () => {
    const thrown = new DumpBrokeError('the dump broke', 'the partial archive was removed');
    const error = await withServicesStopped(manager, SERVICES, silentReporter, async () => {
      throw thrown;
    }).catch((e: unknown) => e);
    expect(error).to.not.equal(thrown);
    expect(error).to.be.instanceOf(DumpBrokeError);
    expect(error).to.include({
      name: 'DumpBrokeError',
      exitCode: 1,
      message: 'the dump broke',
      hint: 'run it again',
      archive: 'x.zip',
    });
    expect((error as JobFailedError).state).to.equal(
      `the partial archive was removed; the services stopped for the job (${SERVICES.join(', ')}) are running again`,
    );
    expect((error as JobFailedError).stack).to.equal(thrown.stack);
    expect(thrown.state).to.equal('the partial archive was removed');
    expect((error as JobFailedError).describe()).to.equal(
      `the dump broke\n  - one\nState: the partial archive was removed; the services stopped for the job (${SERVICES.join(', ')}) are running again\nNext: run it again`,
    );
  });

  it('starts again the ones it stopped when a later service will not stop (timeout)', async () => {
    await world.setFault('cupm NiceService', 'ignore-stop');
    const error = await withServicesStopped(manager, SERVICES, silentReporter, async () => 'never').catch((e) => e);
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error.message).to.match(/"cupm NiceService" did not become stopped within 3 s/);
    expect(error.state).to.match(/running again/);
    for (const service of SERVICES) expect(await world.status(service)).to.equal('running');
  });

  it('ends with exit 5, naming the service, when a service cannot be started again', async () => {
    await world.setFault('Apache', 'fail-start');
    const error = await withServicesStopped(manager, SERVICES, silentReporter, async () => 'done').catch((e) => e);
    expect(error).to.be.instanceOf(DirtyStateError);
    expect(error.exitCode).to.equal(5);
    expect(error.state).to.match(/The job itself succeeded\. These services are stopped now: Apache/);
    expect(await world.status('cupm JBossService')).to.equal('running');
  });

  it('reports a service that does not exist as a configuration error before stopping anything', async () => {
    const error = await withServicesStopped(manager, ['Apache', 'Tomcat'], silentReporter, async () => 'x').catch((e) => e);
    expect(error).to.be.instanceOf(ServiceNotFoundError);
    expect(error.exitCode).to.equal(2);
    expect(error.message).to.contain('"Tomcat"');
    expect(await world.events()).to.deep.equal([]);
  });
});
