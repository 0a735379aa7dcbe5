import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { quote } from 'shell-quote';
import { expect } from '../support/expect.js';
import { loadConfig } from '../../src/config/config.js';
import { JobFailedError } from '../../src/errors.js';
import { silentReporter, type Reporter } from '../../src/jobs/reporter.js';
import { createStandinWorld } from '../../src/sandbox/standin-services.js';
import { createServiceManager } from '../../src/services/index.js';
import { withServicesStopped } from '../../src/services/scope.js';
import { runShielded } from '../../src/system/command-runner.js';

/** A SysV-style service: `start` leaves a daemon that inherits (and holds) the command's output. */
function sysvTemplates(dir: string, startExtra = '') {
  const on = path.join(dir, '{service}.on');
  const pid = path.join(dir, '{service}.pid');
  return {
    CUPM_SERVICE_MANAGER: 'command',
    CUPM_SERVICES: 'Apache',
    CUPM_SERVICE_COMMAND_START:
      quote(['sh', '-c', `${startExtra}sleep 600 & echo $! > "$0"; touch "$1"; echo started`]) + ` ${quote([pid])} ${quote([on])}`,
    CUPM_SERVICE_COMMAND_STOP:
      quote(['sh', '-c', 'rm -f "$0"; kill "$(cat "$1")" 2>/dev/null; exit 0']) + ` ${quote([on])} ${quote([pid])}`,
    CUPM_SERVICE_COMMAND_STATUS: quote(['sh', '-c', 'test -e "$0" || exit 3']) + ` ${quote([on])}`,
  };
}

async function killDaemon(dir: string) {
  try {
    process.kill(Number(await fs.readFile(path.join(dir, 'Apache.pid'), 'utf8')), 'SIGKILL');
  } catch {
    // not running
  }
}

describe('the command service driver ends when the command ends', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-command-'));
  });
  afterEach(async () => {
    await killDaemon(dir);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a start command that leaves a background process holding its output returns once the command exits', async () => {
    const manager = createServiceManager(loadConfig({ env: { ...sysvTemplates(dir), CUPM_SERVICE_TIMEOUT: '30' }, cwd: dir }));
    await manager.start('Apache');
    expect(await manager.status('Apache')).to.equal('running');
    const daemon = Number(await fs.readFile(path.join(dir, 'Apache.pid'), 'utf8'));
    expect(() => process.kill(daemon, 0), 'the daemon keeps running after the start command returned').to.not.throw();
    await manager.stop('Apache');
    expect(await manager.status('Apache')).to.equal('stopped');
  });

  it('CUPM_SERVICE_TIMEOUT covers the command itself: a start command that never exits fails naming the timeout', async () => {
    const env = { ...sysvTemplates(dir), CUPM_SERVICE_COMMAND_START: quote(['sleep', '600']), CUPM_SERVICE_TIMEOUT: '2' };
    const manager = createServiceManager(loadConfig({ env, cwd: dir }));
    const error = await manager.start('Apache').catch((e) => e);
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error.message).to.match(/The start command for service "Apache" did not finish within 2 s \(CUPM_SERVICE_TIMEOUT\)/);
  });

  it('a command that cannot run says why', async () => {
    const env = { ...sysvTemplates(dir), CUPM_SERVICE_COMMAND_START: quote([path.join(dir, 'no-such-program')]) };
    const manager = createServiceManager(loadConfig({ env, cwd: dir }));
    const error = await manager.start('Apache').catch((e) => e);
    expect(error.message).to.match(/could not run \(ENOENT\)/);
  });

  it("service commands run in a process group of their own, out of reach of the terminal's Ctrl-C", async () => {
    const ours = (await execa('ps', ['-o', 'pgid=', '-p', String(process.pid)])).stdout.trim();
    const result = await runShielded('sh', ['-c', 'ps -o pgid= -p $$'], { timeoutMs: 30_000 });
    expect(result.exitCode).to.equal(0);
    expect(result.output).to.match(/^\d+$/);
    expect(result.output).to.not.equal(ours);
  });

  it("a service command caught by the terminal's Ctrl-C as it is forked (before it leaves our group) is run again, not failed", async function () {
    this.timeout(120_000);
    // The CLI's way: a line, then the spawn, while Ctrl-C reaches the whole group. Without the
    // second run, about a third of these commands died of SIGINT (and a restore failed, a start
    // left a service down).
    const rounds = 40;
    const child = execa(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../support/shielded-under-ctrl-c.ts', import.meta.url)), String(rounds)],
      {
        detached: true,
        reject: false,
        stdin: 'ignore',
      },
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!/^go \d+$/.test(line)) continue;
        try {
          process.kill(-child.pid!, 'SIGINT');
        } catch {
          // it has ended: the result says how
        }
      }
    });
    const result = await child;
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout.split('\n')).to.deep.equal(Array.from({ length: rounds }, (_, n) => `${n} exit 0`));
  });

  it('a command ended by SIGINT is run again; one ended by SIGTERM (someone stopped it) is not', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-shielded-signal-'));
    try {
      // Dies of the signal on its first run only.
      const once = (signal: string) => [
        '-c',
        `if [ -e "$0" ]; then echo second run; else : > "$0"; kill -${signal} $$; fi`,
        path.join(dir, signal),
      ];
      const interrupted = await runShielded('sh', once('INT'), { timeoutMs: 30_000 });
      expect(interrupted.exitCode).to.equal(0);
      expect(interrupted.output).to.equal('second run');
      const terminated = await runShielded('sh', once('TERM'), { timeoutMs: 30_000 });
      expect(terminated.exitCode).to.equal(undefined);
      expect(terminated.signal).to.equal('SIGTERM');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Ctrl-C or SIGTERM while services are being stopped', function () {
  this.timeout(60_000);
  const SERVICES = ['Apache', 'cupm JBossService', 'cupm NiceService'];

  /**
   * withServicesStopped on three running stand-ins, its signal aborted by `abortWhen` (given the
   * controller and a reporter line); returns the error, whether the body ran, and the services'
   * events and states afterwards.
   */
  async function cancelledScope(abortWhen: (controller: AbortController, line: string | undefined) => void) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-command-abort-'));
    const world = await createStandinWorld(dir, { services: SERVICES });
    try {
      for (const service of SERVICES) await world.start(service);
      await world.events({ clear: true });
      const manager = createServiceManager(loadConfig({ env: { ...world.env(), CUPM_SERVICE_TIMEOUT: '30' }, cwd: dir }));
      const controller = new AbortController();
      abortWhen(controller, undefined);
      const reporter: Reporter = { ...silentReporter, info: (line: string) => abortWhen(controller, line) };
      let ran = false;
      const error = await withServicesStopped(
        manager,
        SERVICES,
        reporter,
        async () => {
          ran = true;
        },
        { signal: controller.signal },
      ).catch((e) => e);
      const states = await Promise.all(SERVICES.map((service) => world.status(service)));
      return { error, ran, events: await world.events(), states };
    } finally {
      await world.destroy();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  it('lets the current stop finish, stops no more, and starts again what it stopped', async () => {
    // The signal arrives while the first stop command runs.
    const run = await cancelledScope((controller, line) => line === 'Stopping Apache' && controller.abort());
    expect(run.error).to.be.instanceOf(JobFailedError);
    expect(run.error.message).to.match(/cancelled/);
    expect(run.ran).to.equal(false);
    expect(run.events).to.deep.equal(['stop Apache', 'start Apache']);
    expect(run.states).to.deep.equal(SERVICES.map(() => 'running'));
  });

  it('told to stop before the first stop (a live restore cancelled while CUPM runs): stops nothing, runs nothing', async () => {
    const run = await cancelledScope((controller, line) => line === undefined && controller.abort());
    expect(run.error).to.be.instanceOf(JobFailedError);
    expect(run.error.message).to.match(/cancelled .*before any service was stopped/);
    expect(run.ran).to.equal(false);
    expect(run.events).to.deep.equal([]);
    expect(run.states).to.deep.equal(SERVICES.map(() => 'running'));
  });
});
