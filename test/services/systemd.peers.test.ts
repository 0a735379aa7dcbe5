import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, CupmError, JobFailedError } from '../../src/errors.js';
import { ServiceNotFoundError, ServiceTimeoutError } from '../../src/services/service-manager.js';
import { parseIsActive, parseLoadState, SystemdServiceManager } from '../../src/services/systemd.js';
import { ctrlCDuring } from '../support/ctrl-c-during-command.js';
import { createFakeSystemctl, type FakeSystemctl, type FakeUnit } from '../support/fake-sc/fake-systemctl.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/systemctl/', import.meta.url));

function fixture(name: string): Promise<string> {
  return readFile(path.join(FIXTURES, name), 'utf8');
}

/** Runs `fn`, which must throw; returns what it threw. */
async function rejectionOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('systemctl output parsing (recorded fixtures)', () => {
  const words = [
    ['is-active-active.txt', 'running', 'active'],
    ['is-active-inactive.txt', 'stopped', 'inactive'],
    ['is-active-failed.txt', 'stopped', 'failed'],
    ['is-active-activating.txt', 'pending', 'activating'],
    ['is-active-deactivating.txt', 'pending', 'deactivating'],
    ['is-active-reloading.txt', 'pending', 'reloading'],
  ] as const;
  for (const [file, state, label] of words) {
    it(`reads ${file} as ${state}`, async () => {
      expect(parseIsActive(await fixture(file))).to.deep.equal({ state, label });
    });
  }

  it('does not guess a state from words it does not know', () => {
    expect(parseIsActive('')).to.equal(undefined);
    expect(parseIsActive('Failed to connect to bus: No such file or directory\n')).to.equal(undefined);
  });

  it('reads LoadState with and without --value', async () => {
    expect(parseLoadState(await fixture('show-loadstate-loaded.txt'))).to.equal('loaded');
    expect(parseLoadState(await fixture('show-loadstate-not-found.txt'))).to.equal('not-found');
    expect(parseLoadState(await fixture('show-loadstate-masked.txt'))).to.equal('masked');
    expect(parseLoadState(await fixture('show-loadstate-value-loaded.txt'))).to.equal('loaded');
    expect(parseLoadState(await fixture('show-loadstate-value-not-found.txt'))).to.equal('not-found');
  });
});

describe('SystemdServiceManager driving systemctl', () => {
  const JBOSS: FakeUnit = { name: 'cupm-jboss', active: 'active' };
  let fake: FakeSystemctl | undefined;

  async function setUp(units: FakeUnit[], timeoutSeconds = 30) {
    fake = await createFakeSystemctl(units);
    return { fake, manager: new SystemdServiceManager({ timeoutSeconds, systemctl: fake.systemctl, pollMs: 10 }) };
  }

  afterEach(async () => {
    await fake?.cleanup();
    fake = undefined;
  });

  it('stands in faithfully: is-active says inactive for a unit that does not exist, as systemd does', async () => {
    const { fake } = await setUp([]);
    const { execa } = await import('execa');
    const result = await execa(fake.systemctl, ['is-active', '--', 'nosuch'], { reject: false });
    expect(result.stdout).to.equal((await fixture('is-active-inactive.txt')).trim());
    expect(result.exitCode).to.equal(3);
    const stop = await execa(fake.systemctl, ['stop', 'nosuch'], { reject: false });
    expect(stop.stderr).to.equal((await fixture('stop-not-loaded.stderr.txt')).trim());
  });

  it('reports active as running, inactive and failed as stopped, activating as pending', async () => {
    const { manager } = await setUp([
      { ...JBOSS },
      { name: 'apache', active: 'inactive' },
      { name: 'cupm-nice', active: 'failed' },
      { name: 'postgresql', active: 'activating' },
    ]);
    expect(await manager.status('cupm-jboss')).to.equal('running');
    expect(await manager.status('apache')).to.equal('stopped');
    expect(await manager.status('cupm-nice')).to.equal('stopped');
    expect(await manager.status('postgresql')).to.equal('pending');
  });

  it('stops a unit and waits until it is inactive, even when it is still deactivating after systemctl stop', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, transitionQueries: 3 }]);
    await manager.stop('cupm-jboss');
    expect((await fake.callsOf('stop')).map((call) => call.args)).to.deep.equal([['--no-ask-password', 'stop', '--', 'cupm-jboss']]);
    // Asked once before the stop, then kept asking through every deactivating answer.
    expect((await fake.callsOf('is-active')).map((call) => call.stdout)).to.deep.equal([
      'active',
      'deactivating',
      'deactivating',
      'deactivating',
      'inactive',
    ]);
    expect(await manager.status('cupm-jboss')).to.equal('stopped');
  });

  it('starts a unit and waits until it is active', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, active: 'inactive', transitionQueries: 2 }]);
    await manager.start('cupm-jboss');
    expect(await fake.callsOf('start')).to.have.length(1);
    expect((await fake.callsOf('is-active')).map((call) => call.stdout)).to.deep.equal(['inactive', 'activating', 'activating', 'active']);
  });

  it('says an unknown unit does not exist (exit 2), although is-active calls it inactive', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS }]);
    const error = await rejectionOf(() => manager.stop('cupm-nice'));
    expect(error).to.be.instanceOf(ServiceNotFoundError);
    expect((error as CupmError).exitCode).to.equal(2);
    expect((error as Error).message)
      .to.include('"cupm-nice"')
      .and.include('not-found');
    expect(await fake.callsOf('stop')).to.have.length(0);
  });

  it('checks that a unit exists once, not on every poll', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, transitionQueries: 2 }]);
    await manager.stop('cupm-jboss');
    await manager.start('cupm-jboss');
    expect(await fake.callsOf('show')).to.have.length(1);
  });

  it('leaves a stopped unit alone when asked to stop it, and a running one when asked to start it', async () => {
    const { fake, manager } = await setUp([{ name: 'apache', active: 'inactive' }, { ...JBOSS }]);
    await manager.stop('apache');
    await manager.start('cupm-jboss');
    expect(await fake.callsOf('stop')).to.have.length(0);
    expect(await fake.callsOf('start')).to.have.length(0);
  });

  it('gives up on a stop job that never finishes at the timeout, naming the unit and its state', async () => {
    const { manager } = await setUp([{ ...JBOSS, hangsOn: 'stop' }], 1);
    const error = await rejectionOf(() => manager.stop('cupm-jboss'));
    expect(error).to.be.instanceOf(ServiceTimeoutError);
    expect((error as Error).message)
      .to.include('"cupm-jboss"')
      .and.include('deactivating')
      .and.include('1 s');
  });

  it('passes on systemctl’s own words when a start fails, and points at the journal', async () => {
    const { manager } = await setUp([{ ...JBOSS, active: 'inactive', failsToStart: true }]);
    const error = await rejectionOf(() => manager.start('cupm-jboss'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect((error as Error).message).to.include('Job for cupm-jboss.service failed because the control process exited with error code.');
    expect((error as CupmError).hint).to.include('journalctl -u cupm-jboss');
  });

  it('reports a unit that dies right after starting, without waiting for the timeout', async () => {
    const { manager } = await setUp([{ ...JBOSS, active: 'inactive', diesAfterStart: true, transitionQueries: 1 }], 600);
    const error = await rejectionOf(() => manager.start('cupm-jboss'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error).not.to.be.instanceOf(ServiceTimeoutError);
    expect((error as Error).message)
      .to.include('cupm-jboss')
      .and.include('failed');
  });

  it('says to run as root when polkit refuses the stop', async () => {
    const { manager } = await setUp([{ ...JBOSS, authRequired: true }]);
    const error = await rejectionOf(() => manager.stop('cupm-jboss'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect((error as Error).message).to.include('Interactive authentication required');
    expect((error as CupmError).hint).to.include('root');
  });

  it('says clearly that systemctl could not be run when it is missing', async () => {
    const emptyDir = await mkdtemp(path.join(tmpdir(), 'cupm-no-systemctl-'));
    try {
      const manager = new SystemdServiceManager({ timeoutSeconds: 5, systemctl: path.join(emptyDir, 'systemctl') });
      const error = await rejectionOf(() => manager.status('cupm-jboss'));
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as Error).message)
        .to.include('Could not run systemctl')
        .and.include('not found');
      expect((error as CupmError).hint).to.include('CUPM_SERVICE_MANAGER');
    } finally {
      await rm(emptyDir, { recursive: true, force: true });
    }
  });
});

describe("SystemdServiceManager under the terminal's Ctrl-C", function () {
  this.timeout(120_000);

  /** apache and cupm-jboss running, stopped around a job; the Ctrl-C comes while a systemctl `verb` runs. */
  async function ctrlCDuringSystemctl(verb: 'stop' | 'start') {
    const fake = await createFakeSystemctl([
      { name: 'apache', active: 'active' },
      { name: 'cupm-jboss', active: 'active' },
    ]);
    try {
      const run = await ctrlCDuring(verb, fake.systemctl, (systemctl) => ({
        kind: 'systemd',
        options: { timeoutSeconds: 60, systemctl, pollMs: 50 },
        services: ['apache', 'cupm-jboss'],
      }));
      const manager = new SystemdServiceManager({ timeoutSeconds: 30, systemctl: fake.systemctl, pollMs: 10 });
      return {
        run,
        stops: (await fake.callsOf('stop')).map((call) => call.args.at(-1)),
        starts: (await fake.callsOf('start')).map((call) => call.args.at(-1)),
        states: [await manager.status('apache'), await manager.status('cupm-jboss')],
      };
    } finally {
      await fake.cleanup();
    }
  }

  it('a Ctrl-C while systemctl stop runs does not kill it: the stop finishes, no other unit is stopped, the stopped one is started again', async () => {
    const { run, stops, starts, states } = await ctrlCDuringSystemctl('stop');
    expect(run.finished, 'the stop command ran to its end').to.deep.equal(['0']);
    expect(run.error?.message, run.stderr).to.equal('The job was cancelled (Ctrl-C or SIGTERM) while stopping the services.');
    expect(run.ran).to.equal(false);
    expect(run.lines).to.deep.equal(['Stopping apache', 'Starting apache']);
    expect(stops).to.deep.equal(['apache']);
    expect(starts).to.deep.equal(['apache']);
    expect(states).to.deep.equal(['running', 'running']);
  });

  it('a Ctrl-C while systemctl start runs after the job does not kill it: every unit the job stopped runs again', async () => {
    const { run, stops, starts, states } = await ctrlCDuringSystemctl('start');
    // The gate holds the first start (cupm-jboss); the second one finds it open.
    expect(run.finished, 'both start commands ran to their end').to.deep.equal(['0', '0']);
    expect(run.error, run.stderr).to.equal(undefined);
    expect(run.ran).to.equal(true);
    expect(run.lines).to.deep.equal(['Stopping apache', 'Stopping cupm-jboss', 'Starting cupm-jboss', 'Starting apache']);
    expect(stops).to.deep.equal(['apache', 'cupm-jboss']);
    expect(starts).to.deep.equal(['cupm-jboss', 'apache']);
    expect(states).to.deep.equal(['running', 'running']);
  });
});
