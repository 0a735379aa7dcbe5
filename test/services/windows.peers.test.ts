import { expect } from 'chai';
import { execa } from 'execa';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, CupmError, JobFailedError } from '../../src/errors.js';
import { ServiceNotFoundError, ServiceTimeoutError } from '../../src/services/service-manager.js';
import { WindowsServiceManager } from '../../src/services/windows.js';
import { decodeScOutput, parseGetKeyName, parseRegDisplayNames, parseScError, parseScQuery } from '../../src/system/windows-output.js';
import { ctrlCDuring } from '../support/ctrl-c-during-command.js';
import { createFakeSc, type FakeSc, type FakeScService } from '../support/fake-sc/fake-sc.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/sc/', import.meta.url));

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

describe('sc.exe output parsing (recorded fixtures)', () => {
  const queries = [
    { file: 'query-running.txt', code: 4, state: 'running', label: 'RUNNING', name: 'cupmJBoss', win32: 0 },
    { file: 'query-running-lf.txt', code: 4, state: 'running', label: 'RUNNING', name: 'cupmJBoss', win32: 0 },
    { file: 'query-running-interactive.txt', code: 4, state: 'running', label: 'RUNNING', name: 'Apache', win32: 0 },
    { file: 'query-stopped.txt', code: 1, state: 'stopped', label: 'STOPPED', name: 'cupmJBoss', win32: 0 },
    { file: 'query-start-pending.txt', code: 2, state: 'pending', label: 'START_PENDING', name: 'cupmJBoss', win32: 0 },
    { file: 'query-stop-pending.txt', code: 3, state: 'pending', label: 'STOP_PENDING', name: 'cupmJBoss', win32: 0 },
    { file: 'query-continue-pending.txt', code: 5, state: 'pending', label: 'CONTINUE_PENDING', name: 'Apache', win32: 0 },
    { file: 'query-pause-pending.txt', code: 6, state: 'pending', label: 'PAUSE_PENDING', name: 'Apache', win32: 0 },
    { file: 'query-paused.txt', code: 7, state: 'pending', label: 'PAUSED', name: 'Apache', win32: 0 },
    { file: 'query-stopped-exit-1067.txt', code: 1, state: 'stopped', label: 'STOPPED', name: 'cupmJBoss', win32: 1067 },
    { file: 'query-stopped-service-specific.txt', code: 1, state: 'stopped', label: 'STOPPED', name: 'pgsql-8.2', win32: 1066 },
    { file: 'stop-stop-pending.txt', code: 3, state: 'pending', label: 'STOP_PENDING', name: 'cupmJBoss', win32: 0 },
    { file: 'start-start-pending.txt', code: 2, state: 'pending', label: 'START_PENDING', name: 'cupmJBoss', win32: 0 },
    { file: 'ja/query-stop-pending.txt', code: 3, state: 'pending', label: 'STOP_PENDING', name: 'cupm JBossService', win32: 0 },
  ] as const;

  for (const expected of queries) {
    it(`reads the state of ${expected.file} as ${expected.label}`, async () => {
      const status = parseScQuery(await fixture(expected.file));
      expect(status).to.deep.include({
        serviceName: expected.name,
        code: expected.code,
        state: expected.state,
        label: expected.label,
        win32ExitCode: expected.win32,
      });
    });
  }

  it('keeps the service-specific exit code of a service that stopped with an error', async () => {
    expect(parseScQuery(await fixture('query-stopped-service-specific.txt'))?.serviceExitCode).to.equal(1);
  });

  it('reads the state from its number, so a localized state word changes nothing', async () => {
    const localized = (await fixture('query-stop-pending.txt')).replace('STOP_PENDING', '停止待ち');
    expect(parseScQuery(localized)).to.deep.include({ code: 3, state: 'pending', label: 'STOP_PENDING' });
  });

  it('finds no state in failure output or in text that is not sc.exe output', async () => {
    expect(parseScQuery(await fixture('query-1060.txt'))).to.equal(undefined);
    expect(parseScQuery('Usage: sc.exe <server> [command] [service name] ...')).to.equal(undefined);
    expect(parseScQuery('        STATE              : 9  WHATEVER \r\n')).to.equal(undefined);
  });

  const failures = [
    {
      file: 'query-1060.txt',
      operation: 'EnumQueryServicesStatus:OpenService',
      code: 1060,
      message: 'The specified service does not exist as an installed service.',
    },
    {
      file: 'stop-1060.txt',
      operation: 'OpenService',
      code: 1060,
      message: 'The specified service does not exist as an installed service.',
    },
    { file: 'stop-1062.txt', operation: 'ControlService', code: 1062, message: 'The service has not been started.' },
    { file: 'stop-1061.txt', operation: 'ControlService', code: 1061, message: 'The service cannot accept control messages at this time.' },
    {
      file: 'stop-1051.txt',
      operation: 'ControlService',
      code: 1051,
      message: 'A stop control has been sent to a service that other running services are dependent on.',
    },
    { file: 'stop-openservice-5.txt', operation: 'OpenService', code: 5, message: 'Access is denied.' },
    { file: 'start-1056.txt', operation: 'StartService', code: 1056, message: 'An instance of the service is already running.' },
    {
      file: 'start-1058.txt',
      operation: 'StartService',
      code: 1058,
      message: 'The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.',
    },
    {
      file: 'start-1053.txt',
      operation: 'StartService',
      code: 1053,
      message: 'The service did not respond to the start or control request in a timely fashion.',
    },
    {
      file: 'getkeyname-1060.txt',
      operation: 'GetServiceKeyName',
      code: 1060,
      message: 'The specified service does not exist as an installed service.',
    },
    {
      file: 'ja/query-1060.txt',
      operation: 'EnumQueryServicesStatus:OpenService',
      code: 1060,
      message: '指定されたサービスはインストールされたサービスとして存在しません。',
    },
    { file: 'ja/stop-1062.txt', operation: 'ControlService', code: 1062, message: 'サービスは開始されていません。' },
    { file: 'ja/start-1056.txt', operation: 'StartService', code: 1056, message: 'サービスのインスタンスは既に実行されています。' },
    { file: 'ja/stop-openservice-5.txt', operation: 'OpenService', code: 5, message: 'アクセスが拒否されました。' },
  ];

  for (const expected of failures) {
    it(`reads error ${expected.code} and its message from ${expected.file}`, async () => {
      expect(parseScError(await fixture(expected.file))).to.deep.equal({
        operation: expected.operation,
        code: expected.code,
        message: expected.message,
      });
    });
  }

  it('finds no error in successful output', async () => {
    expect(parseScError(await fixture('query-running.txt'))).to.equal(undefined);
    expect(parseScError(await fixture('getkeyname-success.txt'))).to.equal(undefined);
  });

  it('reads the key name from sc getkeyname, also one with spaces', async () => {
    expect(parseGetKeyName(await fixture('getkeyname-success.txt'))).to.equal('cupmJBoss');
    expect(parseGetKeyName(await fixture('ja/getkeyname-success.txt'))).to.equal('cupm JBossService');
    expect(parseGetKeyName(await fixture('getkeyname-1060.txt'))).to.equal(undefined);
  });

  it('keeps the recorded fixtures byte for byte with CRLF line ends, as sc.exe writes them', async () => {
    const files = [...(await readdir(FIXTURES)), ...(await readdir(path.join(FIXTURES, 'ja'))).map((f) => `ja/${f}`)];
    const texts = files.filter((f) => f.endsWith('.txt') && f !== 'query-running-lf.txt');
    expect(texts.length).to.be.greaterThan(20);
    for (const file of texts) {
      const text = await fixture(file);
      expect(text, file).to.include('\r\n');
      expect(text.replaceAll('\r\n', ''), file).not.to.include('\n');
    }
  });

  const wine = [
    { file: 'wine/query-stopped.txt', code: 1, state: 'stopped' },
    { file: 'wine/start-running.txt', code: 4, state: 'running' },
    { file: 'wine/query-running.txt', code: 4, state: 'running' },
    { file: 'wine/stop-stopped.txt', code: 1, state: 'stopped' },
  ] as const;
  for (const expected of wine) {
    it(`reads Wine's sc.exe output too (${expected.file}: no blank first line, no flags line)`, async () => {
      expect(parseScQuery(await fixture(expected.file))).to.deep.include({
        serviceName: 'CupmJBoss',
        code: expected.code,
        state: expected.state,
      });
    });
  }

  it('decodes cp932 output from Japanese Windows, and UTF-8 unchanged', () => {
    const cp932 = Buffer.from('8341834e835a835882aa8b9194db82b382ea82dc82b582bd8142', 'hex');
    expect(decodeScOutput(cp932)).to.equal('アクセスが拒否されました。');
    expect(decodeScOutput(Buffer.from('[SC] OpenService FAILED 5:\r\n', 'utf8'))).to.equal('[SC] OpenService FAILED 5:\r\n');
  });
});

describe('reg.exe output parsing (display names)', () => {
  const REG = fileURLToPath(new URL('../fixtures/reg/query-services-displayname-wine.txt', import.meta.url));

  it('lists each service key with its display name', async () => {
    const services = parseRegDisplayNames(await readFile(REG, 'utf8'));
    expect(services).to.deep.include({ keyName: 'CupmJBoss', displayName: 'cupm JBossService' });
    expect(services).to.deep.include({ keyName: 'Spooler', displayName: 'Print Spooler' });
    expect(services).to.deep.include({ keyName: 'RpcSs', displayName: 'Remote Procedure Call (RPC)' });
    // Keys without a DisplayName value (Apache, created without one) are not listed by reg.exe.
    expect(services.map((s) => s.keyName)).not.to.include('Apache');
  });

  it("reads the tab-separated lines of Windows 2003's reg.exe 3.0 and ignores subkeys and the summary", async () => {
    const windows2003 = [
      '',
      '! REG.EXE VERSION 3.0',
      '',
      'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\cupm NiceService',
      '    DisplayName\tREG_SZ\tcupm NICEService',
      '',
      'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\cupmJBoss\\Parameters',
      '    DisplayName\tREG_SZ\tnot a service',
      '',
      'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Apache2',
      '    DisplayName\tREG_EXPAND_SZ\tApache2',
      '',
      '検索の終わり: 2 件見つかりました。',
    ].join('\r\n');
    expect(parseRegDisplayNames(windows2003)).to.deep.equal([
      { keyName: 'cupm NiceService', displayName: 'cupm NICEService' },
      { keyName: 'Apache2', displayName: 'Apache2' },
    ]);
  });
});

describe('WindowsServiceManager driving sc.exe', () => {
  const JBOSS: FakeScService = { keyName: 'cupmJBoss', displayName: 'cupm JBossService', state: 'RUNNING' };
  let fake: FakeSc | undefined;
  let savedPath: string | undefined;

  async function setUp(services: FakeScService[], options: { locale?: 'en' | 'ja'; timeoutSeconds?: number } = {}) {
    fake = await createFakeSc({ services, ...(options.locale ? { locale: options.locale } : {}) });
    const manager = new WindowsServiceManager({ timeoutSeconds: options.timeoutSeconds ?? 30, scExe: fake.scExe, pollMs: 10 });
    return { fake, manager };
  }

  afterEach(async () => {
    if (savedPath !== undefined) process.env.PATH = savedPath;
    savedPath = undefined;
    await fake?.cleanup();
    fake = undefined;
  });

  it('prints exactly what the recorded sc.exe printed (the stand-in is faithful)', async () => {
    const { fake } = await setUp([{ ...JBOSS }, { keyName: 'Apache', state: 'STOPPED' }]);
    const run = async (...args: string[]) =>
      Buffer.from((await execa(fake.scExe, args, { reject: false, encoding: 'buffer', stripFinalNewline: false })).stdout).toString('utf8');
    expect(await run('query', 'cupmJBoss')).to.equal(await fixture('query-running.txt'));
    expect(await run('query', 'Apache')).to.equal((await fixture('query-stopped.txt')).replace('cupmJBoss', 'Apache'));
    expect(await run('query', 'nosuch')).to.equal(await fixture('query-1060.txt'));
    expect(await run('stop', 'Apache')).to.equal(await fixture('stop-1062.txt'));
    expect(await run('start', 'cupmJBoss')).to.equal(await fixture('start-1056.txt'));
    expect(await run('getkeyname', 'cupm JBossService')).to.equal(await fixture('getkeyname-success.txt'));
    expect(await run('getkeyname', 'nosuch')).to.equal(await fixture('getkeyname-1060.txt'));
  });

  it('reports a running service as running and a stopped one as stopped', async () => {
    const { manager } = await setUp([{ ...JBOSS }, { keyName: 'Apache', state: 'STOPPED' }]);
    expect(await manager.status('cupmJBoss')).to.equal('running');
    expect(await manager.status('Apache')).to.equal('stopped');
  });

  it('stops a service whose stop returns while it is still STOP_PENDING', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, pendingQueries: 3 }]);
    await manager.stop('cupmJBoss');

    const calls = await fake.calls();
    const stopAt = calls.findIndex((call) => call.args[0] === 'stop');
    expect(calls[stopAt]?.state).to.equal('STOP_PENDING');
    const after = calls.slice(stopAt + 1).map((call) => call.state);
    // It kept asking through every STOP_PENDING answer and returned on the first STOPPED.
    expect(after).to.deep.equal(['STOP_PENDING', 'STOP_PENDING', 'STOP_PENDING', 'STOPPED']);
    expect(await manager.status('cupmJBoss')).to.equal('stopped');
  });

  it('starts a stopped service and returns only once it is RUNNING', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, state: 'STOPPED', pendingQueries: 2 }]);
    await manager.start('cupmJBoss');

    const calls = await fake.calls();
    expect(calls.at(-1)?.state).to.equal('RUNNING');
    expect(calls.filter((call) => call.state === 'START_PENDING')).to.have.length(3); // start + 2 queries
    expect(await manager.status('cupmJBoss')).to.equal('running');
  });

  it('finds a service by its display name through sc getkeyname, and asks only once', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS }]);
    await manager.stop('cupm JBossService');
    await manager.start('cupm JBossService');

    expect(await fake.callsOf('getkeyname')).to.have.length(1);
    expect((await fake.callsOf('stop')).map((call) => call.args)).to.deep.equal([['stop', 'cupmJBoss']]);
    expect((await fake.callsOf('start')).map((call) => call.args)).to.deep.equal([['start', 'cupmJBoss']]);
    expect(await manager.status('cupm JBossService')).to.equal('running');
  });

  it('matches service names case-insensitively, as Windows does', async () => {
    const { manager } = await setUp([{ ...JBOSS }, { keyName: 'Apache', displayName: 'Apache2', state: 'RUNNING' }]);
    await manager.stop('CUPM jbossservice');
    expect(await manager.status('cupmjboss')).to.equal('stopped');
    expect(await manager.status('APACHE')).to.equal('running');
    expect(await manager.status('apache2')).to.equal('running');
  });

  it('says a service that is neither a key name nor a display name does not exist (exit 2)', async () => {
    const { manager } = await setUp([{ ...JBOSS }]);
    const error = await rejectionOf(() => manager.stop('cupm NiceService'));
    expect(error).to.be.instanceOf(ServiceNotFoundError);
    expect((error as CupmError).exitCode).to.equal(2);
    expect((error as Error).message)
      .to.include('"cupm NiceService"')
      .and.include('1060');
    expect((error as CupmError).hint).to.include('CUPM_SERVICES');
  });

  it('gives up on a service stuck in STOP_PENDING at the timeout, naming it and its state', async () => {
    const { manager } = await setUp([{ ...JBOSS, stuckStopping: true }], { timeoutSeconds: 1 });
    const error = await rejectionOf(() => manager.stop('cupm JBossService'));
    expect(error).to.be.instanceOf(ServiceTimeoutError);
    expect((error as CupmError).exitCode).to.equal(1);
    expect((error as Error).message)
      .to.include('"cupm JBossService"')
      .and.include('STOP_PENDING')
      .and.include('1 s');
    expect((error as CupmError).hint).to.include('CUPM_SERVICE_TIMEOUT');
  });

  it('leaves a stopped service alone when asked to stop it', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, state: 'STOPPED' }]);
    await manager.stop('cupmJBoss');
    expect(await fake.callsOf('stop')).to.have.length(0);
  });

  it('leaves a running service alone when asked to start it', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS }]);
    await manager.start('cupmJBoss');
    expect(await fake.callsOf('start')).to.have.length(0);
  });

  it('treats "not started" (1062) from a service that stopped meanwhile as stopped', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, stopsBeforeControl: true }]);
    await manager.stop('cupmJBoss');
    expect((await fake.callsOf('stop')).map((call) => call.exitCode)).to.deep.equal([1062]);
    expect(await manager.status('cupmJBoss')).to.equal('stopped');
  });

  it('treats "already running" (1056) from a service started meanwhile as running', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, state: 'STOPPED', startsBeforeControl: true }]);
    await manager.start('cupmJBoss');
    expect((await fake.callsOf('start')).map((call) => call.exitCode)).to.deep.equal([1056]);
    expect(await manager.status('cupmJBoss')).to.equal('running');
  });

  it('lets a service that is still starting finish before it stops it', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, state: 'START_PENDING', pendingQueries: 2 }]);
    await manager.stop('cupmJBoss');
    const stops = await fake.callsOf('stop');
    // A stop sent during START_PENDING would have failed with 1061.
    expect(stops.map((call) => call.exitCode)).to.deep.equal([0]);
    expect(await manager.status('cupmJBoss')).to.equal('stopped');
  });

  it('resumes a paused service with continue when asked to start it', async () => {
    const { fake, manager } = await setUp([{ keyName: 'Apache', state: 'PAUSED' }]);
    await manager.start('Apache');
    expect(await fake.callsOf('continue')).to.have.length(1);
    expect(await fake.callsOf('start')).to.have.length(0);
    expect(await manager.status('Apache')).to.equal('running');
  });

  it('reports a service that exits while starting with its exit code, without waiting for the timeout', async () => {
    const { manager } = await setUp([{ ...JBOSS, state: 'STOPPED', failsWithExitCode: 1067 }], { timeoutSeconds: 600 });
    const error = await rejectionOf(() => manager.start('cupm JBossService'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error).not.to.be.instanceOf(ServiceTimeoutError);
    expect((error as Error).message)
      .to.include('"cupm JBossService" (key name cupmJBoss)')
      .and.include('WIN32_EXIT_CODE 1067');
    expect((error as CupmError).hint).to.include('event log');
  });

  it('explains a refused stop (error 5) and says to run elevated', async () => {
    const { manager } = await setUp([{ ...JBOSS, accessDenied: true }]);
    const error = await rejectionOf(() => manager.stop('cupmJBoss'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect((error as Error).message).to.include('OpenService FAILED 5: Access is denied.');
    expect((error as CupmError).hint).to.include('Run as administrator');
  });

  it('shows the Japanese message of a Japanese Windows readably, and still acts on the numbers', async () => {
    const { manager } = await setUp([{ ...JBOSS, accessDenied: true }], { locale: 'ja' });
    const error = await rejectionOf(() => manager.stop('cupmJBoss'));
    expect((error as Error).message).to.include('OpenService FAILED 5: アクセスが拒否されました。');

    const notFound = await rejectionOf(() => manager.status('cupm NiceService'));
    expect(notFound).to.be.instanceOf(ServiceNotFoundError);
  });

  it('deletes a stopped service: gone at once when nobody holds it', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, state: 'STOPPED' }]);
    expect(await manager.delete('cupm JBossService')).to.equal('deleted');
    expect((await fake.callsOf('delete')).map((call) => call.args)).to.deep.equal([['delete', 'cupmJBoss']]);
    expect(await rejectionOf(() => manager.status('cupmJBoss'))).to.be.instanceOf(ServiceNotFoundError);
  });

  it('reports a deleted service still held open (a Services console) as marked for deletion, also on the 1072 answer', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS, state: 'STOPPED', handleOpen: true }]);
    expect(await manager.delete('cupmJBoss')).to.equal('marked-for-deletion');
    expect(await manager.delete('cupmJBoss')).to.equal('marked-for-deletion');
    expect((await fake.callsOf('delete')).map((call) => call.exitCode)).to.deep.equal([0, 1072]);
  });

  it('refuses to delete a service that is not stopped, and calls an absent one absent', async () => {
    const { fake, manager } = await setUp([{ ...JBOSS }]);
    const error = await rejectionOf(() => manager.delete('cupm JBossService'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect((error as Error).message).to.include('RUNNING');
    expect(await manager.delete('cupm NiceService')).to.equal('absent');
    expect(await fake.callsOf('delete')).to.have.length(0);
  });

  it('stops a service through the sc.exe found on PATH by default', async () => {
    const { fake } = await setUp([{ ...JBOSS }]);
    savedPath = process.env.PATH;
    process.env.PATH = `${fake.binDir}${path.delimiter}${savedPath ?? ''}`;
    const manager = new WindowsServiceManager({ timeoutSeconds: 30, pollMs: 10 });
    await manager.stop('cupm JBossService');
    expect(await manager.status('cupm JBossService')).to.equal('stopped');
  });

  it('says clearly that sc.exe could not be run when it is not on PATH', async () => {
    const emptyDir = await mkdtemp(path.join(tmpdir(), 'cupm-no-sc-'));
    try {
      savedPath = process.env.PATH;
      process.env.PATH = emptyDir;
      const error = await rejectionOf(() => new WindowsServiceManager({ timeoutSeconds: 5 }).status('cupm JBossService'));
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as CupmError).exitCode).to.equal(2);
      expect((error as Error).message)
        .to.include('Could not run sc.exe')
        .and.include('not found');
      expect((error as CupmError).hint).to.include('CUPM_SERVICE_MANAGER');
    } finally {
      await rm(emptyDir, { recursive: true, force: true });
    }
  });
});

describe('WindowsServiceManager from a Windows admin host (CUPM_SERVER)', () => {
  let fake: FakeSc | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await fake?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
    fake = undefined;
    dir = undefined;
  });

  /** A reg.exe that records its arguments and answers with `output` and `exitCode`. */
  async function fakeReg(output: string, exitCode: number): Promise<{ regExe: string; args: () => Promise<string[]> }> {
    dir = await mkdtemp(path.join(tmpdir(), 'cupm-fake-reg-'));
    const regExe = path.join(dir, 'reg.exe');
    await writeFile(path.join(dir, 'answer.txt'), output);
    await writeFile(regExe, `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args.txt"\ncat "${dir}/answer.txt"\nexit ${exitCode}\n`);
    await chmod(regExe, 0o755);
    return { regExe, args: async () => (await readFile(path.join(dir!, 'args.txt'), 'utf8')).split('\n').filter(Boolean) };
  }

  it('passes \\\\HOST to every sc.exe run, and to the registry path reg.exe reads display names from', async () => {
    fake = await createFakeSc({
      services: [{ keyName: 'cupmJBoss', displayName: 'cupm JBossService', state: 'RUNNING', pendingQueries: 1 }],
      getKeyName: false,
    });
    const reg = await fakeReg(
      '\r\n\\\\cupm01\\HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\cupmJBoss\r\n    DisplayName    REG_SZ    cupm JBossService\r\n\r\nEnd of search: 1 match(es) found.\r\n',
      0,
    );
    const manager = new WindowsServiceManager({ timeoutSeconds: 30, scExe: fake.scExe, regExe: reg.regExe, pollMs: 10, server: 'cupm01' });
    await manager.stop('cupm JBossService');
    expect(await manager.status('cupm JBossService')).to.equal('stopped');
    const calls = await fake.calls();
    expect(
      calls.every((call) => call.args[0] === '\\\\cupm01'),
      JSON.stringify(calls),
    ).to.equal(true);
    expect((await fake.callsOf('stop')).map((call) => call.args)).to.deep.equal([['\\\\cupm01', 'stop', 'cupmJBoss']]);
    expect(await reg.args()).to.deep.equal(['query', '\\\\cupm01\\HKLM\\SYSTEM\\CurrentControlSet\\Services', '/s', '/v', 'DisplayName']);
  });

  it("reads a display name from all reg.exe prints for a big server, past a shielded run's default 64 KiB", async () => {
    fake = await createFakeSc({
      services: [{ keyName: 'cupmJBoss', displayName: 'cupm JBossService', state: 'RUNNING' }],
      getKeyName: false,
    });
    const key = (name: string, displayName: string) =>
      `\r\n\\\\cupm01\\HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\${name}\r\n    DisplayName    REG_SZ    ${displayName}\r\n`;
    const others = Array.from({ length: 2000 }, (_, n) => key(`svc${n}`, `Some Windows Service ${n}`)).join('');
    const output = `${others}${key('cupmJBoss', 'cupm JBossService')}\r\nEnd of search: 2001 match(es) found.\r\n`;
    expect(output.length).to.be.greaterThan(128 * 1024);
    const reg = await fakeReg(output, 0);
    const manager = new WindowsServiceManager({ timeoutSeconds: 30, scExe: fake.scExe, regExe: reg.regExe, pollMs: 10, server: 'cupm01' });
    expect(await manager.status('cupm JBossService')).to.equal('running');
    expect((await fake.callsOf('query')).map((call) => call.args)).to.deep.equal([
      ['\\\\cupm01', 'query', 'cupm JBossService'],
      ['\\\\cupm01', 'query', 'cupmJBoss'],
    ]);
  });

  it("says the Remote Registry service must run when reg.exe cannot read the server's registry", async () => {
    fake = await createFakeSc({
      services: [{ keyName: 'cupmJBoss', displayName: 'cupm JBossService', state: 'RUNNING' }],
      getKeyName: false,
    });
    const reg = await fakeReg('ERROR: The network path was not found.\r\n', 1);
    const manager = new WindowsServiceManager({ timeoutSeconds: 30, scExe: fake.scExe, regExe: reg.regExe, pollMs: 10, server: 'cupm01' });
    const error = await rejectionOf(() => manager.status('cupm JBossService'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect((error as CupmError).hint)
      .to.match(/Remote Registry/)
      .and.to.contain('sc.exe \\\\cupm01 start RemoteRegistry');
    expect((error as CupmError).state).to.equal('nothing was changed');
  });
});

describe("WindowsServiceManager under the terminal's Ctrl-C", () => {
  it('a Ctrl-C while sc.exe stop runs does not kill it: the stop finishes, no other service is stopped, the stopped one is started again', async function () {
    this.timeout(120_000);
    const fake = await createFakeSc({
      services: [
        { keyName: 'Apache', state: 'RUNNING' },
        { keyName: 'cupmJBoss', displayName: 'cupm JBossService', state: 'RUNNING' },
      ],
    });
    try {
      const run = await ctrlCDuring('stop', fake.scExe, (scExe) => ({
        kind: 'windows',
        options: { timeoutSeconds: 60, scExe, pollMs: 50 },
        services: ['Apache', 'cupmJBoss'],
      }));
      expect(run.finished, 'the stop command ran to its end').to.deep.equal(['0']);
      expect(run.error?.message, run.stderr).to.equal('The job was cancelled (Ctrl-C or SIGTERM) while stopping the services.');
      expect(run.ran).to.equal(false);
      expect(run.lines).to.deep.equal(['Stopping Apache', 'Starting Apache']);
      expect((await fake.callsOf('stop')).map((call) => call.args)).to.deep.equal([['stop', 'Apache']]);
      expect((await fake.callsOf('start')).map((call) => call.args)).to.deep.equal([['start', 'Apache']]);
      const manager = new WindowsServiceManager({ timeoutSeconds: 30, scExe: fake.scExe, pollMs: 10 });
      expect(await manager.status('Apache')).to.equal('running');
      expect(await manager.status('cupmJBoss')).to.equal('running');
    } finally {
      await fake.cleanup();
    }
  });
});
