import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { JobFailedError, type CupmError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { withServicesStopped } from '../../src/services/scope.js';
import { ServiceNotFoundError, ServiceTimeoutError } from '../../src/services/service-manager.js';
import { WindowsServiceManager } from '../../src/services/windows.js';
import { parseScQuery } from '../../src/system/windows-output.js';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { createWinePrefix, HANGING_BINARY, shellExports, shellQuote, type WinePrefix } from '../support/wine.js';

// The three CUPM services as Wine services. JBoss is known by a key name and a display name, as
// on a real server; CUPM_SERVICES names it by its display name.
const APACHE = 'Apache';
const JBOSS_KEY = 'CupmJBoss';
const JBOSS = 'cupm JBossService';
const NICE = 'cupm NiceService';
const KEY_NAMES = [APACHE, JBOSS_KEY, NICE];
const CUPM_SERVICES = [APACHE, JBOSS, NICE];

/** Runs `fn`, which must throw; returns what it threw. */
async function rejectionOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe("the windows service driver against Wine's Service Control Manager", function () {
  let wine: WinePrefix;

  before(async function () {
    this.timeout(600_000); // wineboot of a fresh prefix: 20-60 s, more on a busy machine
    wine = await createWinePrefix();
    await wine.createService(APACHE);
    await wine.createService(JBOSS_KEY, { displayName: JBOSS });
    await wine.createService(NICE);
  });

  after(async function () {
    this.timeout(120_000);
    await wine?.destroy();
  });

  beforeEach(async () => {
    for (const name of KEY_NAMES) await wine.ensure(name, 'RUNNING');
    await wine.clearCalls();
  });

  function driver(timeoutSeconds = 30): WindowsServiceManager {
    return new WindowsServiceManager({ timeoutSeconds, scExe: wine.scExe, regExe: wine.regExe, pollMs: 100 });
  }

  /** The driver's stop and start requests, in order, as the sc.exe wrapper logged them. */
  async function controls(): Promise<string[]> {
    return (await wine.calls())
      .filter((call) => ['stop', 'start', 'pg_dumpall'].includes(call.args[0]!))
      .map((call) => call.args.join(' '));
  }

  async function statesOf(names: string[]): Promise<Array<string | null>> {
    const states: Array<string | null> = [];
    for (const name of names) states.push(await wine.state(name));
    return states;
  }

  describe('the driver', () => {
    it('reads the state from the numeric STATE of sc.exe output with Windows line ends', async () => {
      const running = await execa(wine.scExe, ['query', APACHE], { encoding: 'utf8', stripFinalNewline: false });
      expect(running.stdout).to.include('\r\n');
      expect(running.stdout.replaceAll('\r\n', '')).not.to.include('\n');
      expect(parseScQuery(running.stdout)).to.deep.include({ serviceName: APACHE, code: 4, state: 'running' });

      const manager = driver();
      expect(await manager.status(APACHE)).to.equal('running');
      await wine.ensure(APACHE, 'STOPPED');
      expect(await manager.status(APACHE)).to.equal('stopped');
      const stopped = await execa(wine.scExe, ['query', APACHE], { encoding: 'utf8' });
      expect(parseScQuery(stopped.stdout)).to.deep.include({ code: 1, state: 'stopped', label: 'STOPPED' });
    });

    it('stops the CUPM services in order for the job and starts them again in reverse', async () => {
      const during = await withServicesStopped(driver(), CUPM_SERVICES, silentReporter, async (record) => {
        expect(record.stopped).to.deep.equal(CUPM_SERVICES);
        return statesOf(KEY_NAMES);
      });

      expect(during).to.deep.equal(['STOPPED', 'STOPPED', 'STOPPED']);
      expect(await statesOf(KEY_NAMES)).to.deep.equal(['RUNNING', 'RUNNING', 'RUNNING']);
      expect(await controls()).to.deep.equal([
        `stop ${APACHE}`,
        `stop ${JBOSS_KEY}`,
        `stop ${NICE}`,
        `start ${NICE}`,
        `start ${JBOSS_KEY}`,
        `start ${APACHE}`,
      ]);
    });

    it('leaves a service that was already stopped stopped after the job', async () => {
      await wine.ensure(JBOSS_KEY, 'STOPPED');
      await wine.clearCalls();
      const record = await withServicesStopped(driver(), CUPM_SERVICES, silentReporter, async (scope) => scope);

      expect(record).to.deep.equal({ stopped: [APACHE, NICE], alreadyStopped: [JBOSS] });
      expect(await statesOf(KEY_NAMES)).to.deep.equal(['RUNNING', 'STOPPED', 'RUNNING']);
      expect(await controls()).to.deep.equal([`stop ${APACHE}`, `stop ${NICE}`, `start ${NICE}`, `start ${APACHE}`]);
    });

    it("finds JBoss by its display name, in any case, although Wine's sc.exe has no getkeyname", async () => {
      const manager = driver();
      await manager.stop('CUPM jbossSERVICE');
      expect(await wine.state(JBOSS_KEY)).to.equal('STOPPED');
      await manager.start('cupm jbossservice');
      expect(await wine.state(JBOSS_KEY)).to.equal('RUNNING');

      const calls = await wine.calls();
      // Wine's answer to getkeyname: exit 1 and not a word. The driver read the registry instead, once.
      expect(calls.filter((call) => call.args[0] === 'getkeyname')).to.deep.equal([
        { exitCode: 1, args: ['getkeyname', 'CUPM jbossSERVICE'] },
      ]);
      expect(await controls()).to.deep.equal([`stop ${JBOSS_KEY}`, `start ${JBOSS_KEY}`]);
    });

    it('drives a service whose key name has a space, named in another case', async () => {
      const manager = driver();
      await manager.stop('CUPM NICESERVICE');
      expect(await wine.state(NICE)).to.equal('STOPPED');
      expect(await manager.status('Cupm NiceService')).to.equal('stopped');
      await manager.start('cupm niceservice');
      expect(await wine.state(NICE)).to.equal('RUNNING');
      // One argument, space included (no shell split it), under the name that first answered.
      expect(await controls()).to.deep.equal(['stop CUPM NICESERVICE', 'start CUPM NICESERVICE']);
    });

    it('says a service that does not exist does not exist, naming it (a configuration error, exit 2)', async () => {
      const error = await rejectionOf(() => driver().stop('cupm MissingService'));
      expect(error).to.be.instanceOf(ServiceNotFoundError);
      expect((error as CupmError).exitCode).to.equal(2);
      expect((error as Error).message)
        .to.include('"cupm MissingService" does not exist')
        .and.include('1060')
        .and.include('display name');
      expect((error as CupmError).hint).to.include('CUPM_SERVICES');
      expect(await controls()).to.deep.equal([]);
    });

    it('gives up on a service stuck in START_PENDING once CUPM_SERVICE_TIMEOUT has passed, naming it and its state', async function () {
      // A binary that never talks to the SCM keeps its service START_PENDING (for the prefix's
      // 10-minute ServicesPipeTimeout), as a JBoss that hangs while starting does. Wine has no
      // binary that ignores a stop, so STOP_PENDING stuck stays with the scripted stand-in
      // (test/services/windows.test.ts), which goes through the same wait.
      await wine.createService('CupmHung', { displayName: 'cupm HungService', binary: HANGING_BINARY });
      const hungStart = wine.sc('start', 'CupmHung');
      try {
        while ((await wine.state('CupmHung')) !== 'START_PENDING') await new Promise((resolve) => setTimeout(resolve, 200));

        const error = await rejectionOf(() => driver(2).stop('cupm HungService'));
        expect(error).to.be.instanceOf(ServiceTimeoutError);
        expect((error as CupmError).exitCode).to.equal(1);
        expect((error as Error).message)
          .to.include('"cupm HungService"')
          .and.include('START_PENDING')
          .and.include('within 2 s');
        expect((error as CupmError).hint).to.include('CUPM_SERVICE_TIMEOUT');
        // It waited for the start to finish instead of sending a stop the SCM would refuse (1061).
        expect(await controls()).to.deep.equal([]);
      } finally {
        // End the hang: the SCM sees the process go, fails the start and holds no lock any more.
        for (const pid of await wine.processesRunning(HANGING_BINARY)) process.kill(pid, 'SIGKILL');
        await hungStart;
        await wine.sc('delete', 'CupmHung');
      }
      expect(await wine.state('CupmHung')).to.equal(null);
    });

    it('deletes a stopped service with sc.exe delete, refuses a running one, and says when one is already gone', async () => {
      await wine.createService('CupmOld', { displayName: 'cupm OldService' });
      await wine.ensure('CupmOld', 'RUNNING');
      const manager = driver();

      const refused = await rejectionOf(() => manager.delete('cupm OldService'));
      expect(refused).to.be.instanceOf(JobFailedError);
      expect((refused as Error).message)
        .to.include('"cupm OldService" (key name CupmOld)')
        .and.include('RUNNING');
      expect((refused as CupmError).hint).to.include('stop it first');
      expect(await wine.state('CupmOld')).to.equal('RUNNING');

      await manager.stop('cupm OldService');
      expect(await manager.delete('cupm OldService')).to.equal('deleted');
      expect(await wine.state('CupmOld')).to.equal(null);
      expect(await manager.delete('cupm OldService')).to.equal('absent');
      expect((await wine.calls()).filter((call) => call.args[0] === 'delete')).to.deep.equal([
        { exitCode: 0, args: ['delete', 'CupmOld'] },
      ]);
    });

    it('stops a service someone marked for deletion while it ran; the SCM removes it as it stops', async () => {
      await wine.createService('CupmMarked');
      await wine.ensure('CupmMarked', 'RUNNING');
      expect((await wine.sc('delete', 'CupmMarked')).exitCode).to.equal(0);
      expect(await wine.state('CupmMarked')).to.equal('RUNNING'); // marked, not gone

      const manager = driver();
      await manager.stop('CupmMarked');
      expect(await wine.state('CupmMarked')).to.equal(null);
      expect(await manager.delete('CupmMarked')).to.equal('absent');
    });
  });

  describe('the backup job with CUPM_SERVICE_MANAGER=windows', () => {
    let server: SandboxServer;
    let pgBin: string;
    let statesLog: string;
    let failFlag: string;

    before(async function () {
      this.timeout(300_000);
      // A real cluster and install tree; the stand-in services are not started: Wine's are used.
      server = await createSandboxServer({ name: 'cupm-wine', startServices: false });
      pgBin = path.join(server.dir, 'pg-bin');
      statesLog = path.join(server.dir, 'states-during-dump.log');
      failFlag = path.join(server.dir, 'dump-fails');
      await mkdir(pgBin);
      await writeFile(path.join(pgBin, 'pg_dumpall'), pgDumpallWrapper());
      await chmod(path.join(pgBin, 'pg_dumpall'), 0o755);
    });

    after(async function () {
      this.timeout(120_000);
      await server?.destroy();
    });

    beforeEach(async () => {
      await rm(statesLog, { force: true });
      await rm(failFlag, { force: true });
    });

    /**
     * pg_dumpall that first writes down what Wine's SCM says about the three services (asking
     * Wine's sc.exe itself, not the wrapper), marks its place in the calls log, then runs the
     * real pg_dumpall, or fails like one that cannot connect when the flag file exists.
     */
    function pgDumpallWrapper(): string {
      const q = shellQuote;
      const real = path.join(server.cluster.binDir, 'pg_dumpall');
      return `#!/usr/bin/env bash
if [ "\${1-}" = --version ]; then exec ${q(real)} --version; fi
printf '0\\tpg_dumpall\\n' >>${q(wine.callsLog)}
for name in ${KEY_NAMES.map(q).join(' ')}; do
  state=$(${shellExports(wine.vars).replace('export ', 'env ')} /usr/bin/wine 'C:\\windows\\system32\\sc.exe' query "$name" | tr -d '\\r' | sed -n 's/^ *STATE *: *[0-9]* *//p')
  printf '%s\\t%s\\n' "$name" "$state" >>${q(statesLog)}
done
if [ -e ${q(failFlag)} ]; then echo 'pg_dumpall: error: could not connect to server (simulated)' >&2; exit 1; fi
exec ${q(real)} "$@"
`;
    }

    function cliEnv(overrides: Record<string, string> = {}): Record<string, string> {
      const env: Record<string, string> = {
        ...server.env(),
        ...wine.pathEnv(),
        CUPM_SERVICE_MANAGER: 'windows',
        CUPM_SERVICES: CUPM_SERVICES.join(','),
        CUPM_PG_BIN: pgBin,
        ...overrides,
      };
      for (const name of Object.keys(env)) if (name.startsWith('CUPM_SERVICE_COMMAND_')) delete env[name];
      return env;
    }

    async function statesDuringDump(): Promise<string[]> {
      return (await readFile(statesLog, 'utf8')).split('\n').filter(Boolean);
    }

    async function archives(): Promise<string[]> {
      return (await readdir(server.backupDir).catch(() => [])).filter((name) => name.startsWith('cupm-backup_'));
    }

    it('stops the Wine services for the dump and starts them again after it', async function () {
      this.timeout(300_000);
      const result = await runCli(['backup', '--json'], { env: cliEnv() });
      expect(result.exitCode, result.stderr).to.equal(0);

      expect(await statesDuringDump()).to.deep.equal([`${APACHE}\tSTOPPED`, `${JBOSS_KEY}\tSTOPPED`, `${NICE}\tSTOPPED`]);
      expect(await statesOf(KEY_NAMES)).to.deep.equal(['RUNNING', 'RUNNING', 'RUNNING']);
      expect(await controls()).to.deep.equal([
        `stop ${APACHE}`,
        `stop ${JBOSS_KEY}`,
        `stop ${NICE}`,
        'pg_dumpall',
        `start ${NICE}`,
        `start ${JBOSS_KEY}`,
        `start ${APACHE}`,
      ]);
      const output = result.json<{ archive: string; services: { stopped: string[]; alreadyStopped: string[] } }>();
      expect(output.services).to.deep.equal({ stopped: CUPM_SERVICES, alreadyStopped: [] });
      expect(await archives()).to.include(path.basename(output.archive));
    });

    it('starts the Wine services again when the dump fails, and keeps no archive', async function () {
      this.timeout(300_000);
      await writeFile(failFlag, '');
      const before = await archives();
      const result = await runCli(['backup'], { env: cliEnv() });

      expect(result.exitCode, result.stderr).to.equal(1);
      expect(result.stderr).to.include('pg_dumpall exited with code 1').and.include('could not connect to server (simulated)');
      expect(await statesDuringDump()).to.deep.equal([`${APACHE}\tSTOPPED`, `${JBOSS_KEY}\tSTOPPED`, `${NICE}\tSTOPPED`]);
      expect(await statesOf(KEY_NAMES)).to.deep.equal(['RUNNING', 'RUNNING', 'RUNNING']);
      expect((await controls()).slice(-4)).to.deep.equal(['pg_dumpall', `start ${NICE}`, `start ${JBOSS_KEY}`, `start ${APACHE}`]);
      expect(await archives()).to.deep.equal(before);
    });

    it('exits 2 naming a configured service that does not exist, before stopping any service', async function () {
      this.timeout(300_000);
      const result = await runCli(['backup'], { env: cliEnv({ CUPM_SERVICES: `${APACHE},cupm MissingService` }) });

      expect(result.exitCode, result.stderr).to.equal(2);
      expect(result.stderr).to.include('"cupm MissingService" does not exist').and.include('CUPM_SERVICES');
      expect(await wine.state(APACHE)).to.equal('RUNNING');
      // Every service is looked up before any is stopped: a misspelt name costs no restart.
      expect(await controls()).to.deep.equal([]);
    });

    it('exits 2 saying sc.exe could not be run when it is not on PATH, and touches nothing', async function () {
      this.timeout(300_000);
      const result = await runCli(['backup'], { env: cliEnv({ PATH: process.env.PATH ?? '/usr/bin:/bin' }) });

      expect(result.exitCode, result.stderr).to.equal(2);
      expect(result.stderr).to.include('Could not run sc.exe').and.include('not found');
      expect(await statesOf(KEY_NAMES)).to.deep.equal(['RUNNING', 'RUNNING', 'RUNNING']);
      expect(await wine.calls()).to.deep.equal([]);
    });
  });
});
