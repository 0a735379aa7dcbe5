import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, CupmError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { localHost } from '../../src/schedule/install/host.js';
import { applySchedulePlan, BIN_PATH, formatSchedulePlan, SCHEDULE_NAME, type ScheduleRequest } from '../../src/schedule/install/index.js';
import { SystemdScheduler } from '../../src/schedule/install/systemd.js';
import { expect } from '../support/expect.js';
import { failed, ok, recordingHost, type Answer, type RecordingHost } from '../support/recording-host.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/systemctl/', import.meta.url));
const NOT_BOOTED =
  "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n";

/** systemd's own reader of unit files: exit 0 and no output when it accepts them. */
async function systemdVerify(...files: string[]): Promise<{ exitCode: number; output: string }> {
  const result = await execa('systemd-analyze', ['verify', '--man=no', ...files], {
    reject: false,
    all: true,
    cwd: path.dirname(files[0]!),
  });
  return { exitCode: result.exitCode ?? -1, output: result.all ?? '' };
}

describe('schedule install on Linux with systemd (timer + oneshot service)', () => {
  let root: string;
  let unitDir: string;
  let host: RecordingHost;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cupm-systemd-'));
    unitDir = path.join(root, 'etc-systemd-system');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function request(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
    return {
      name: SCHEDULE_NAME,
      at: { hour: 2, minute: 0 },
      command: {
        workDir: path.join(root, 'cupm'),
        program: process.execPath,
        args: [BIN_PATH, 'nightly', '--env-file', path.join(root, 'cupm', 'cupm-backup.env')],
      },
      backupDir: path.join(root, 'backups'),
      ...overrides,
    };
  }

  function scheduler(answer: Answer = () => ok()): SystemdScheduler {
    host = recordingHost({ answer, files: 'disk' });
    return new SystemdScheduler(host, { unitDir });
  }

  it('writes a timer and a oneshot service that systemd accepts, reloads, and enables the timer --now', async () => {
    const backend = scheduler();

    await applySchedulePlan(await backend.planInstall(request()), host, silentReporter, 'schedule install');

    const service = path.join(unitDir, 'cupm-backup-nightly.service');
    const timer = path.join(unitDir, 'cupm-backup-nightly.timer');
    expect(host.calls.map((c) => (c.kind === 'run' ? c.argv.join(' ') : `${c.kind} ${'file' in c ? c.file : ''}`))).to.deep.equal([
      `write ${service}`,
      `write ${timer}`,
      'systemctl daemon-reload',
      'systemctl enable --now cupm-backup-nightly.timer',
    ]);
    const timerText = await readFile(timer, 'utf8');
    expect(timerText).to.include('\n[Timer]\nOnCalendar=*-*-* 02:00:00\nPersistent=true\n');
    expect(timerText).to.include('\n[Install]\nWantedBy=timers.target\n');
    const serviceText = await readFile(service, 'utf8');
    expect(serviceText).to.include('\nType=oneshot\n');
    expect(serviceText).to.include(`\nWorkingDirectory=${path.join(root, 'cupm')}\n`);
    expect(serviceText).to.include(
      `\nExecStart=${process.execPath} ${BIN_PATH} nightly --env-file ${path.join(root, 'cupm', 'cupm-backup.env')}\n`,
    );
    expect(serviceText).not.to.include('[Install]');
    expect((await stat(service)).mode & 0o777).to.equal(0o644);
    expect(await systemdVerify(timer, service)).to.deep.equal({ exitCode: 0, output: '' });
  });

  it('quotes paths with spaces, %, $, quotes and backslashes the way systemd reads them', async () => {
    // Node.js reached through a folder with a space, a % and a $: systemd must find it there.
    const odd = path.join(root, 'Node 100% $HOME');
    await mkdir(odd, { recursive: true });
    await symlink(process.execPath, path.join(odd, 'node'));
    const program = path.join(odd, 'node');
    const envFile = path.join(root, `conf "x" \\ 50% $PATH.env`);
    const backend = scheduler();

    await applySchedulePlan(
      await backend.planInstall(request({ command: { workDir: odd, program, args: [BIN_PATH, 'nightly', '--env-file', envFile] } })),
      host,
      silentReporter,
      'schedule install',
    );

    const serviceText = await readFile(path.join(unitDir, 'cupm-backup-nightly.service'), 'utf8');
    expect(serviceText).to.include(
      `ExecStart="${root}/Node 100%% $HOME/node" ${BIN_PATH} nightly --env-file "${root}/conf \\"x\\" \\\\ 50%% $$PATH.env"\n`,
    );
    expect(serviceText).to.include(`WorkingDirectory=${root}/Node 100%% $HOME\n`);
    const verified = await systemdVerify(
      path.join(unitDir, 'cupm-backup-nightly.timer'),
      path.join(unitDir, 'cupm-backup-nightly.service'),
    );
    expect(verified).to.deep.equal({ exitCode: 0, output: '' });
  });

  it('refuses, before writing anything, a program path systemd will not run (quote or backslash)', async () => {
    const backend = scheduler();
    const error = await backend
      .planInstall(request({ command: { workDir: root, program: `${root}/it's/node`, args: ['nightly'] } }))
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).message).to.include('systemd cannot run a program whose path holds a quote or a backslash');
    expect(host.calls).to.deep.equal([]);
  });

  it('systemd itself rejects a program path that is not where the unit says (the check above is real)', async () => {
    const backend = scheduler();
    await applySchedulePlan(
      await backend.planInstall(request({ command: { workDir: root, program: path.join(root, 'no such', 'node'), args: ['nightly'] } })),
      host,
      silentReporter,
      'schedule install',
    );
    const verified = await systemdVerify(path.join(unitDir, 'cupm-backup-nightly.service'));
    expect(verified.exitCode).not.to.equal(0);
    expect(verified.output).to.include('is not executable');
  });

  it('runs at the time given', async () => {
    const backend = scheduler();
    const plan = await backend.planInstall(request({ at: { hour: 23, minute: 45 } }));
    const timer = plan.actions.find((a) => a.kind === 'write' && a.file.endsWith('.timer'));
    expect(timer?.kind === 'write' && timer.content).to.include('OnCalendar=*-*-* 23:45:00\n');
  });

  it('undoes everything when enabling the timer fails: disable, units removed, systemd reloaded', async () => {
    const backend = scheduler((argv) => (argv[1] === 'enable' ? failed(1, NOT_BOOTED) : ok()));

    let error: unknown;
    try {
      await applySchedulePlan(await backend.planInstall(request()), host, silentReporter, 'schedule install');
    } catch (e) {
      error = e;
    }

    expect(error).to.be.instanceOf(CupmError);
    expect((error as CupmError).state).to.equal('every change was undone');
    expect((error as CupmError).describe()).to.include(
      'systemctl enable --now cupm-backup-nightly.timer failed (exit code 1): System has not been booted with systemd',
    );
    expect(
      host.calls.map((c) => (c.kind === 'run' ? c.argv.slice(1).join(' ') : `${c.kind} ${'file' in c ? path.basename(c.file) : ''}`)),
    ).to.deep.equal([
      'write cupm-backup-nightly.service',
      'write cupm-backup-nightly.timer',
      'daemon-reload',
      'enable --now cupm-backup-nightly.timer',
      'disable --now cupm-backup-nightly.timer',
      'remove cupm-backup-nightly.timer',
      'remove cupm-backup-nightly.service',
      'daemon-reload',
    ]);
    expect(await readFile(path.join(unitDir, 'cupm-backup-nightly.timer'), 'utf8').catch(() => 'gone')).to.equal('gone');
  });

  it('--print shows both units whole and the systemctl commands, and changes nothing', async () => {
    const backend = scheduler();
    const lines = formatSchedulePlan(await backend.planInstall(request()));
    expect(lines).to.include(`1. Write ${unitDir}/cupm-backup-nightly.service (mode 644):`);
    expect(lines).to.include('     OnCalendar=*-*-* 02:00:00');
    expect(lines).to.include('     Persistent=true');
    expect(lines).to.include('3. Run: systemctl daemon-reload');
    expect(lines).to.include('4. Run: systemctl enable --now cupm-backup-nightly.timer');
    expect(host.calls).to.deep.equal([]);
    expect(await stat(unitDir).catch(() => 'absent')).to.equal('absent');
  });

  it('status reads the timer and the last run from systemctl show', async () => {
    const backend = scheduler(async (argv) =>
      ok(
        await readFile(
          path.join(
            FIXTURES,
            argv[1] !== 'show'
              ? 'show-nightly-timer-waiting.txt'
              : argv[2]!.endsWith('.timer')
                ? 'show-nightly-timer-waiting.txt'
                : 'show-nightly-service-exit-6.txt',
          ),
          'utf8',
        ),
      ),
    );
    await applySchedulePlan(await backend.planInstall(request()), host, silentReporter, 'schedule install');

    const status = await backend.status(request());

    expect(host.commands().slice(-2)).to.deep.equal([
      'systemctl show cupm-backup-nightly.timer --property=LoadState,ActiveState,SubState,UnitFileState,NextElapseUSecRealtime,LastTriggerUSec',
      'systemctl show cupm-backup-nightly.service --property=ActiveState,Result,ExecMainStatus,ExecMainExitTimestamp',
    ]);
    expect(status).to.deep.include({
      installed: true,
      at: '02:00',
      state: 'active/waiting',
      nextRun: 'Thu 2026-11-26 02:00:00 UTC',
      lastRun: 'Wed 2026-11-25 02:00:00 UTC',
      output: 'journalctl -u cupm-backup-nightly.service',
    });
    expect(status.lastResult).to.match(/^exit code 6: partly done/);
    expect(status.problems).to.deep.equal([]);
  });

  it('status names a disabled, stopped timer that has never run', async () => {
    const backend = scheduler(async (argv) =>
      ok(
        await readFile(
          path.join(
            FIXTURES,
            argv[1] !== 'show'
              ? 'show-nightly-timer-disabled.txt'
              : argv[2]!.endsWith('.timer')
                ? 'show-nightly-timer-disabled.txt'
                : 'show-nightly-service-never-run.txt',
          ),
          'utf8',
        ),
      ),
    );
    await applySchedulePlan(await backend.planInstall(request()), host, silentReporter, 'schedule install');
    const status = await backend.status(request());
    expect(status).to.deep.include({ nextRun: null, lastRun: null, lastResult: 'has not run yet' });
    expect(status.problems.join('\n')).to.include('cupm-backup-nightly.timer is disabled: it will not start at boot');
    expect(status.problems.join('\n')).to.include('cupm-backup-nightly.timer is inactive: it will not fire');
  });

  it('status on a host where systemd is not running says the timer will not run (real systemctl)', async () => {
    const backend = new SystemdScheduler(localHost(), { unitDir });
    await applySchedulePlan(
      await backend.planInstall(request()),
      recordingHost({ answer: () => ok(), files: 'disk' }),
      silentReporter,
      'schedule install',
    );

    const status = await backend.status(request());

    expect(status.installed).to.equal(true);
    expect(status.problems.join('\n')).to.include('it will not run while systemd is not running');
    expect(status.problems.join('\n')).to.include('System has not been booted with systemd');
  });

  it('status notices units that differ from what this installation writes', async () => {
    const backend = scheduler(() => failed(1, NOT_BOOTED));
    await applySchedulePlan(
      await backend.planInstall(request()),
      recordingHost({ answer: () => ok(), files: 'disk' }),
      silentReporter,
      'schedule install',
    );
    expect((await backend.status(request({ at: { hour: 3, minute: 30 } }))).problems.join('\n')).not.to.include('differ from');
    const moved = await backend.status(request({ command: { ...request().command, workDir: '/srv/elsewhere' } }));
    expect(moved.at).to.equal('02:00');
    expect(moved.problems.join('\n')).to.include('differ from what this installation would write');
  });

  it('remove disables the timer, removes both units and reloads systemd', async () => {
    const backend = scheduler();
    await applySchedulePlan(await backend.planInstall(request()), host, silentReporter, 'schedule install');
    host.calls.length = 0;

    await applySchedulePlan(await backend.planRemove(request()), host, silentReporter, 'schedule remove');

    expect(
      host.calls.map((c) => (c.kind === 'run' ? c.argv.slice(1).join(' ') : `${c.kind} ${'file' in c ? path.basename(c.file) : ''}`)),
    ).to.deep.equal([
      'disable --now cupm-backup-nightly.timer',
      'remove cupm-backup-nightly.timer',
      'remove cupm-backup-nightly.service',
      'daemon-reload',
    ]);
    expect((await backend.planRemove(request())).actions).to.deep.equal([]);
  });
});
