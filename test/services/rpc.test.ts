import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quote } from 'shell-quote';
import { ConfigError, CupmError, JobFailedError } from '../../src/errors.js';
import { parseNetRpcError, parseNetRpcList, parseNetRpcStatus, RpcServiceManager } from '../../src/services/rpc.js';
import { ServiceNotFoundError, ServiceTimeoutError } from '../../src/services/service-manager.js';
import type { CommandResult, CommandRunner, RunOptions } from '../../src/system/command-runner.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/net-rpc/', import.meta.url));
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');

const PASSWORD = 'Secr3t pass%word';

/**
 * A Windows server as `net rpc service` reports it, from recorded output: each call is answered by
 * `answer(verb, name)` (the next entry of a per-verb script), and every call is kept.
 */
class ScriptedNet implements CommandRunner {
  readonly calls: { args: readonly string[]; options: RunOptions | undefined }[] = [];
  constructor(private readonly script: Record<string, Array<Partial<CommandResult>>>) {}

  async run(_file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.calls.push({ args, options });
    const key = verbOf(args);
    const queue = this.script[key];
    if (!queue || queue.length === 0) throw new Error(`no recorded answer left for net rpc service ${key}`);
    // The last answer repeats: a state that never changes.
    const next = queue.length > 1 ? queue.shift()! : queue[0]!;
    return { exitCode: 0, stdout: '', stderr: '', ...next };
  }

  verbs(): string[] {
    return this.calls.map((call) => verbOf(call.args));
  }
}

/** `status NAME`, `list`: the verb and the service of `net rpc service VERB [NAME] -S HOST ...`. */
function verbOf(args: readonly string[]): string {
  return args[3] === undefined || args[3] === '-S' ? args[2]! : `${args[2]} ${args[3]}`;
}

const out = (file: string): Partial<CommandResult> => ({ stdout: fixture(file) });
const err = (file: string): Partial<CommandResult> => ({ stderr: fixture(file), exitCode: 255 });

async function rejectionOf(fn: () => Promise<unknown>): Promise<CupmError> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof CupmError) return error;
    throw error;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('net rpc service output (recorded, wording of Samba net_rpc_service.c)', () => {
  it('reads every state word, the last one after the dots of a stop, and the display name', () => {
    expect(parseNetRpcStatus(fixture('status-running.txt'))).to.deep.equal({
      state: 'running',
      label: 'RUNNING',
      displayName: 'Print Spooler',
    });
    expect(parseNetRpcStatus(fixture('status-stopped.txt'))?.label).to.equal('STOPPED');
    expect(parseNetRpcStatus(fixture('status-start-pending.txt'))).to.deep.include({ state: 'pending', label: 'START_PENDING' });
    expect(parseNetRpcStatus(fixture('status-stop-pending.txt'))).to.deep.include({ state: 'pending', label: 'STOP_PENDING' });
    expect(parseNetRpcStatus(fixture('status-resume-pending.txt'))?.label).to.equal('CONTINUE_PENDING');
    expect(parseNetRpcStatus(fixture('status-pause-pending.txt'))?.label).to.equal('PAUSE_PENDING');
    expect(parseNetRpcStatus(fixture('status-paused.txt'))).to.deep.include({ state: 'pending', label: 'PAUSED' });
    expect(parseNetRpcStatus(fixture('stop-stop-pending.txt'))?.label).to.equal('STOP_PENDING');
    expect(parseNetRpcStatus(fixture('stop-stopped.txt'))?.label).to.equal('STOPPED');
    expect(parseNetRpcStatus('cupmJBoss service is Unknown State [9].\n')).to.deep.include({ state: 'pending', label: 'UNKNOWN_STATE_9' });
    expect(parseNetRpcStatus(fixture('open-does-not-exist.stderr.txt'))).to.equal(undefined);
  });

  it('reads error codes and the service list', () => {
    expect(parseNetRpcError(fixture('open-access-denied.stderr.txt'))).to.equal('WERR_ACCESS_DENIED');
    expect(parseNetRpcError(fixture('connect-logon-failure.stderr.txt'))).to.equal('NT_STATUS_LOGON_FAILURE');
    expect(parseNetRpcList(fixture('list.txt'))).to.deep.include({ keyName: 'pgsql-8.2', displayName: 'PostgreSQL Database Server 8.2' });
  });
});

describe('the rpc service driver on recorded answers (states Samba cannot produce)', () => {
  // The driver resolves the host before it runs net: a name that resolves here.
  const host = 'localhost';
  const make = (net: ScriptedNet, timeoutSeconds = 30) =>
    new RpcServiceManager({ host, user: 'CUPM01\\Administrator', password: PASSWORD, timeoutSeconds, pollMs: 10, runner: net });

  it('polls a stop that returns STOP_PENDING until STOPPED', async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [out('status-running-jboss.txt'), out('status-stop-pending.txt'), out('status-stopped.txt')],
      'stop cupmJBoss': [out('stop-stop-pending.txt')],
    });
    await make(net).stop('cupmJBoss');
    expect(net.verbs()).to.deep.equal(['status cupmJBoss', 'stop cupmJBoss', 'status cupmJBoss', 'status cupmJBoss']);
  });

  it('a stop that stays STOP_PENDING fails after CUPM_SERVICE_TIMEOUT naming the last state', async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [out('status-running-jboss.txt'), out('status-stop-pending.txt')],
      'stop cupmJBoss': [out('stop-stop-pending.txt')],
    });
    const error = await rejectionOf(() => make(net, 1).stop('cupmJBoss'));
    expect(error).to.be.instanceOf(ServiceTimeoutError);
    expect(error.message).to.contain('STOP_PENDING').and.contain('1 s');
  });

  it('waits out a START_PENDING before it sends the stop', async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [
        out('status-start-pending.txt'),
        out('status-start-pending.txt'),
        out('status-running-jboss.txt'),
        out('status-stopped.txt'),
      ],
      'stop cupmJBoss': [out('stop-stop-pending.txt')],
    });
    await make(net).stop('cupmJBoss');
    expect(net.verbs().indexOf('stop cupmJBoss')).to.equal(3);
  });

  it('a start still pending after net gave up watching is polled until RUNNING; a paused service is resumed', async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [out('status-stopped.txt'), out('status-start-pending.txt'), out('status-running-jboss.txt')],
      'start cupmJBoss': [{ stdout: fixture('start-pending.stdout.txt'), stderr: fixture('start-pending.stderr.txt') }],
    });
    await make(net).start('cupmJBoss');
    const paused = new ScriptedNet({
      'status cupmJBoss': [out('status-paused.txt'), out('status-running-jboss.txt')],
      'resume cupmJBoss': [out('start-started.txt')],
    });
    await make(paused).start('cupmJBoss');
    expect(paused.verbs()).to.include('resume cupmJBoss');
  });

  it('a service that stops again while starting fails at once', async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [out('status-stopped.txt'), out('status-start-pending.txt'), out('status-stopped.txt')],
      'start cupmJBoss': [{ stdout: fixture('start-pending.stdout.txt'), stderr: fixture('start-pending.stderr.txt') }],
    });
    const error = await rejectionOf(() => make(net).start('cupmJBoss'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error.message).to.match(/stopped again while starting/);
  });

  it("ALREADY_RUNNING and NOT_ACTIVE are someone else's change: the poll confirms it", async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [
        out('status-stopped.txt'),
        out('status-running-jboss.txt'),
        out('status-running-jboss.txt'),
        out('status-stopped.txt'),
      ],
      'start cupmJBoss': [err('start-already-running.stderr.txt')],
      'stop cupmJBoss': [err('stop-not-active.stderr.txt')],
    });
    await make(net).start('cupmJBoss');
    await make(net).stop('cupmJBoss');
  });

  it('dependent services running: a failure with the order to fix', async () => {
    const net = new ScriptedNet({
      'status cupmJBoss': [out('status-running-jboss.txt')],
      'stop cupmJBoss': [err('stop-dependent-running.stderr.txt')],
    });
    const error = await rejectionOf(() => make(net).stop('cupmJBoss'));
    expect(error).to.be.instanceOf(JobFailedError);
    expect(error.message).to.contain('WERR_DEPENDENT_SERVICES_RUNNING');
    expect(error.hint).to.match(/CUPM_SERVICES/);
  });

  it('finds a display name in net rpc service list, and says when no service has it', async () => {
    const net = new ScriptedNet({
      'status cupm JBossService': [err('open-does-not-exist.stderr.txt')],
      'status cupmJBoss': [out('status-running-jboss.txt')],
      'status cupm Nothing': [err('open-does-not-exist.stderr.txt')],
      list: [out('list.txt')],
    });
    const driver = make(net);
    expect(await driver.status('cupm JBossService')).to.equal('running');
    expect(await driver.status('cupm JBossService')).to.equal('running');
    expect(
      net.verbs().filter((v) => v === 'list'),
      'resolved once',
    ).to.have.length(1);
    const error = await rejectionOf(() => driver.status('cupm Nothing'));
    expect(error).to.be.instanceOf(ServiceNotFoundError);
    expect(error.exitCode).to.equal(2);
  });

  it('passes the account through the environment: never the argument list', async () => {
    const net = new ScriptedNet({ 'status cupmJBoss': [out('status-running-jboss.txt')] });
    await make(net).status('cupmJBoss');
    const [call] = net.calls;
    expect(call!.args.join(' ')).not.to.contain(PASSWORD).and.not.to.contain('Administrator');
    expect(call!.args).to.include.members(['-S', host]);
    expect(call!.options?.env).to.deep.include({ USER: 'CUPM01\\Administrator', PASSWD: PASSWORD });
  });

  it('a logon failure is a configuration error whatever the verb', async () => {
    const net = new ScriptedNet({ 'status cupmJBoss': [err('connect-logon-failure.stderr.txt')] });
    const error = await rejectionOf(() => make(net).status('cupmJBoss'));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.hint).to.match(/CUPM_SERVER_PASSWORD/);
  });
});

describe('the rpc service driver running a stand-in net (the real runner)', () => {
  it("finds a display name in a service list longer than a shielded run's default 64 KiB (a big server)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cupm-net-standin-'));
    try {
      const others = Array.from({ length: 2000 }, (_, n) => `svc${n}`.padEnd(24) + `"Some Windows Service ${n}"`).join('\n');
      await writeFile(path.join(dir, 'list.txt'), `${others}\ncupmJBoss               "cupm JBossService"\n`);
      expect((await stat(path.join(dir, 'list.txt'))).size).to.be.greaterThan(64 * 1024);
      // net rpc service VERB [NAME] -S HOST ...: only cupmJBoss is known by its key name.
      const net = path.join(dir, 'net');
      await writeFile(
        net,
        [
          '#!/bin/sh',
          'case "$3" in',
          `  list) cat ${quote([path.join(dir, 'list.txt')])} ;;`,
          `  status) if [ "$4" = cupmJBoss ]; then cat ${quote([path.join(FIXTURES, 'status-running-jboss.txt')])}; else cat ${quote([path.join(FIXTURES, 'open-does-not-exist.stderr.txt')])} >&2; exit 255; fi ;;`,
          '  *) exit 1 ;;',
          'esac',
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      const driver = new RpcServiceManager({
        host: '127.0.0.1',
        user: 'Administrator',
        password: PASSWORD,
        timeoutSeconds: 30,
        netExe: net,
      });
      expect(await driver.status('cupm JBossService')).to.equal('running');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
