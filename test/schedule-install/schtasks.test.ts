import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError, CupmError, EXIT } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import type { CommandOutput } from '../../src/schedule/install/host.js';
import { applySchedulePlan, formatSchedulePlan, scheduleRequest, type ScheduleRequest } from '../../src/schedule/install/index.js';
import {
  describeLastResult,
  parseSchtasksQuery,
  parseStartTime,
  SchtasksScheduler,
  TR_LIMIT,
} from '../../src/schedule/install/schtasks.js';
import { expect } from '../support/expect.js';
import { failed, ok, recordingHost, type RecordingHost } from '../support/recording-host.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/schtasks/', import.meta.url));

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

/**
 * The Task Scheduler as schtasks.exe shows it, answered from the recorded outputs: it knows one
 * task, which /Create makes and /Delete removes; /Query shows it with `query` (a fixture name).
 */
function taskScheduler(options: { installed?: boolean; query?: string; accessDenied?: boolean } = {}) {
  const state = { installed: options.installed ?? false };
  const answer = async (argv: string[]): Promise<CommandOutput> => {
    const verb = argv[1];
    if (verb === '/Create') {
      if (options.accessDenied) return failed(1, await fixture('access-denied.stderr.txt'));
      state.installed = true;
      return ok(await fixture('create-success.txt'));
    }
    if (verb === '/Query') {
      return state.installed ? ok(await fixture(options.query ?? 'query-never-run.txt')) : failed(1, await fixture('not-found.stderr.txt'));
    }
    if (verb === '/Delete') {
      if (options.accessDenied) return failed(1, await fixture('access-denied.stderr.txt'));
      if (!state.installed) return failed(1, await fixture('not-found.stderr.txt'));
      state.installed = false;
      return ok(await fixture('delete-success.txt'));
    }
    return failed(1, `ERROR: Invalid argument/option - '${verb}'.\r\n`);
  };
  return { state, answer };
}

/** A CUPM server's configuration on Windows, with secrets in it that must never reach the wrapper. */
function windowsRequest(overrides: { backupDir?: string; workDir?: string } = {}): ScheduleRequest {
  const config = loadConfig({
    env: {
      CUPM_BACKUP_DIR: overrides.backupDir ?? 'D:\\CUPM Backups',
      PGPASSWORD: 'pg-secret-Zq9',
      CUPM_SMTP_URL: 'smtp://cupm:smtp-secret-Xw4@mail.example.com:587',
      CUPM_NOTIFY_TO: 'ops@example.com',
    },
    cwd: 'C:\\CUPM tools',
    platform: 'win32',
  });
  const workDir = overrides.workDir ?? 'C:\\CUPM tools';
  return scheduleRequest(config, {
    workDir,
    program: 'C:\\Program Files\\nodejs\\node.exe',
    args: ['C:\\Program Files\\cupm-backup\\bin\\cupm-backup', 'nightly', '--env-file', `${workDir}\\cupm-backup.env`],
  });
}

const EXPECTED_WRAPPER = [
  '@echo off',
  'rem Written by "cupm-backup schedule install" for the Task Scheduler task "cupm-backup-nightly".',
  'rem It runs the nightly backup. Settings and passwords stay in the env file; none is written here.',
  'rem Remove it with "cupm-backup schedule remove".',
  'cd /d "C:\\CUPM tools"',
  '"C:\\Program Files\\nodejs\\node.exe" "C:\\Program Files\\cupm-backup\\bin\\cupm-backup" nightly --env-file "C:\\CUPM tools\\cupm-backup.env" > "D:\\CUPM Backups\\cupm-backup-nightly.console.txt" 2>&1',
  'exit /b %ERRORLEVEL%',
  '',
].join('\r\n');

const CREATE =
  'schtasks.exe /Create /TN cupm-backup-nightly /SC DAILY /ST 02:00 /RU SYSTEM /RL HIGHEST /F /TR "D:\\CUPM Backups\\cupm-backup-nightly.cmd"';

describe('schtasks.exe output (recorded)', () => {
  it('reads the task that was installed and has not run yet', async () => {
    const task = parseSchtasksQuery(await fixture('query-never-run.txt'));
    expect(task).to.deep.include({
      taskName: '\\cupm-backup-nightly',
      nextRunTime: '11/26/2026 2:00:00 AM',
      status: 'Ready',
      lastRunTime: '11/30/1999 12:00:00 AM',
      lastResult: '267011',
      taskToRun: '"D:\\CUPM Backups\\cupm-backup-nightly.cmd"',
      runAsUser: 'SYSTEM',
      scheduleType: 'Daily',
      startTime: '2:00:00 AM',
      taskState: 'Enabled',
    });
    expect(task!.fields.find((f) => f.label === 'Stop Task If Runs X Hours and X Mins')?.value).to.equal('72:00:00');
    expect(task!.fields.find((f) => f.label === 'Repeat: Until: Duration')?.value).to.equal('Disabled');
  });

  it('reads a Russian Windows task: localized dates, 24-hour time and account', async () => {
    const task = parseSchtasksQuery(await fixture('query-ru.txt'));
    expect(task).to.deep.include({ runAsUser: 'СИСТЕМА', startTime: '2:00:00', nextRunTime: '26.11.2026 2:00:00' });
    expect(parseStartTime(task!.startTime!)).to.equal('02:00');
  });

  it('reads the fields by their place when the labels are translated', async () => {
    const english = await fixture('query-last-run-failed.txt');
    // Translate every label, keeping the padded column: only the order is left to go by.
    const translated = english.replace(
      /^([^\r\n:][^\r\n]*?:)( +)/gm,
      (_, label: string, pad: string) => `${'X'.repeat(label.length - 1)}:${pad}`,
    );
    expect(translated).not.to.include('Last Result');
    const task = parseSchtasksQuery(translated);
    expect(task).to.deep.include({
      nextRunTime: '11/27/2026 2:00:00 AM',
      status: 'Ready',
      lastRunTime: '11/26/2026 2:00:01 AM',
      lastResult: '1',
      taskToRun: '"D:\\CUPM Backups\\cupm-backup-nightly.cmd"',
      runAsUser: 'SYSTEM',
      startTime: '2:00:00 AM',
    });
  });

  it('finds no task in an error message', async () => {
    expect(parseSchtasksQuery(await fixture('not-found.stderr.txt'))).to.equal(undefined);
  });

  it('tells the Last Result in words: its own codes, and cupm-backup exit codes', () => {
    expect(describeLastResult('0')).to.equal('succeeded (0)');
    expect(describeLastResult('267011')).to.equal('has not run yet (0x41303)');
    expect(describeLastResult('267009')).to.equal('running now (0x41301)');
    expect(describeLastResult('4')).to.equal('exit code 4: refused by a safety check (another job held the lock, live sessions, disk)');
    expect(describeLastResult('6')).to.match(/^exit code 6: partly done/);
    expect(describeLastResult('-2147020576')).to.equal('error -2147020576 (0x800710E0)');
  });

  it('reads start times in 12- and 24-hour forms', () => {
    expect(parseStartTime('2:00:00 AM')).to.equal('02:00');
    expect(parseStartTime('12:30:00 AM')).to.equal('00:30');
    expect(parseStartTime('1:05:00 PM')).to.equal('13:05');
    expect(parseStartTime('23:15:00')).to.equal('23:15');
    expect(parseStartTime('오전 8:30:00')).to.equal(undefined);
  });

  it('keeps the recorded fixtures with CRLF line ends, as schtasks.exe writes them', async () => {
    for (const name of (await readdir(FIXTURES)).filter((f) => f.endsWith('.txt'))) {
      const text = await fixture(name);
      expect(text.replace(/\r\n/g, ''), name).not.to.include('\n');
    }
  });
});

describe('schedule install on Windows (Task Scheduler through schtasks.exe)', () => {
  let host: RecordingHost;

  function scheduler(options: Parameters<typeof taskScheduler>[0] = {}) {
    const fake = taskScheduler(options);
    host = recordingHost({ answer: fake.answer, files: 'memory' });
    return { backend: new SchtasksScheduler(host), state: fake.state };
  }

  it('writes the .cmd wrapper, then creates a daily SYSTEM task pointing at it', async () => {
    const { backend, state } = scheduler();
    const request = windowsRequest();

    await applySchedulePlan(await backend.planInstall(request), host, silentReporter, 'schedule install');

    expect(host.calls.map((c) => c.kind)).to.deep.equal(['write', 'run']);
    expect(host.calls[0]).to.deep.include({ kind: 'write', file: 'D:\\CUPM Backups\\cupm-backup-nightly.cmd' });
    expect(host.files.get('D:\\CUPM Backups\\cupm-backup-nightly.cmd')).to.equal(EXPECTED_WRAPPER);
    expect(host.calls[1]).to.deep.equal({
      kind: 'run',
      argv: [
        'schtasks.exe',
        '/Create',
        '/TN',
        'cupm-backup-nightly',
        '/SC',
        'DAILY',
        '/ST',
        '02:00',
        '/RU',
        'SYSTEM',
        '/RL',
        'HIGHEST',
        '/F',
        '/TR',
        '"D:\\CUPM Backups\\cupm-backup-nightly.cmd"',
      ],
    });
    expect(state.installed).to.equal(true);
  });

  it('writes no setting and no password into the wrapper', async () => {
    const { backend } = scheduler();
    const plan = await backend.planInstall(windowsRequest());
    const text = JSON.stringify(plan);
    expect(text).not.to.include('pg-secret-Zq9');
    expect(text).not.to.include('smtp-secret-Xw4');
    expect(text).not.to.match(/\bset\s/i);
  });

  it('doubles % in paths, which cmd.exe would otherwise expand', async () => {
    const { backend } = scheduler();
    const plan = await backend.planInstall(windowsRequest({ workDir: 'C:\\100% CUPM' }));
    const wrapper = plan.actions[0]!.kind === 'write' ? plan.actions[0]!.content : '';
    expect(wrapper).to.include('cd /d "C:\\100%% CUPM"\r\n');
    expect(wrapper).to.include('--env-file "C:\\100%% CUPM\\cupm-backup.env"');
    expect(wrapper).to.include('exit /b %ERRORLEVEL%');
  });

  it('runs at the time given (--at / CUPM_SCHEDULE_AT)', async () => {
    const { backend } = scheduler();
    const plan = await backend.planInstall({ ...windowsRequest(), at: { hour: 23, minute: 5 } });
    const create = plan.actions.find((a) => a.kind === 'run');
    expect(create?.kind === 'run' && create.argv.slice(5, 8)).to.deep.equal(['DAILY', '/ST', '23:05']);
  });

  it(`refuses, before touching anything, a wrapper path longer than /TR takes (${TR_LIMIT} characters)`, async () => {
    const { backend } = scheduler();
    const longDir = `D:\\${'Backups of the CUPM provisioning server\\'.repeat(6)}`;
    const error = await rejectionOf(() => backend.planInstall(windowsRequest({ backupDir: longDir })));
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).message).to.match(/would be 2\d\d characters long; schtasks accepts at most 261 \(\/TR\)/);
    expect((error as ConfigError).hint).to.include('shorter backup folder');
    expect(host.calls).to.deep.equal([]);
  });

  it('takes back the wrapper when schtasks refuses (not an elevated prompt), and says what to do', async () => {
    const { backend, state } = scheduler({ accessDenied: true });

    const error = await rejectionOf(async () =>
      applySchedulePlan(await backend.planInstall(windowsRequest()), host, silentReporter, 'schedule install'),
    );

    expect(error).to.be.instanceOf(CupmError);
    const failure = error as CupmError;
    expect(failure.exitCode).to.equal(EXIT.failed);
    expect(failure.state).to.equal('every change was undone');
    expect(failure.describe()).to.include('ERROR: Access is denied.');
    expect(failure.describe()).to.include('[undone] Write the wrapper D:\\CUPM Backups\\cupm-backup-nightly.cmd');
    expect(host.calls.map((c) => c.kind)).to.deep.equal(['write', 'run', 'remove']);
    expect(host.files.size).to.equal(0);
    expect(state.installed).to.equal(false);
    const cause = (failure.cause as CupmError | undefined)?.hint ?? '';
    expect(cause).to.include('Run as administrator');
  });

  it('--print shows the wrapper and the exact schtasks command, and runs nothing', async () => {
    const { backend } = scheduler();
    const lines = formatSchedulePlan(await backend.planInstall(windowsRequest()));
    expect(lines[0]).to.equal('Task Scheduler task "cupm-backup-nightly": every day at 02:00, as SYSTEM with the highest privileges.');
    expect(lines).to.include('1. Write D:\\CUPM Backups\\cupm-backup-nightly.cmd (mode 755):');
    expect(lines).to.include('     cd /d "C:\\CUPM tools"');
    expect(lines).to.include(
      `2. Run: ${CREATE.replace('/TR "D:\\CUPM Backups\\cupm-backup-nightly.cmd"', '/TR "\\"D:\\CUPM Backups\\cupm-backup-nightly.cmd\\""')}`,
    );
    expect(host.calls).to.deep.equal([]);
  });

  it('status reads the task back: time, state, next run, and a never-run result', async () => {
    const { backend } = scheduler();
    const request = windowsRequest();
    await applySchedulePlan(await backend.planInstall(request), host, silentReporter, 'schedule install');

    const status = await backend.status(request);

    expect(host.commands().at(-1)).to.equal('schtasks.exe /Query /TN cupm-backup-nightly /V /FO LIST');
    expect(status).to.deep.include({
      scheduler: 'schtasks',
      installed: true,
      at: '02:00',
      state: 'Ready',
      nextRun: '11/26/2026 2:00:00 AM',
      lastResult: 'has not run yet (0x41303)',
      runs: '"D:\\CUPM Backups\\cupm-backup-nightly.cmd"',
      output: 'D:\\CUPM Backups\\cupm-backup-nightly.console.txt',
    });
    expect(status.problems).to.deep.equal([]);
  });

  it('status tells a failed last run by cupm-backup exit code', async () => {
    const { backend } = scheduler({ installed: true, query: 'query-last-run-failed.txt' });
    const request = windowsRequest();
    host.files.set('D:\\CUPM Backups\\cupm-backup-nightly.cmd', EXPECTED_WRAPPER);
    const status = await backend.status(request);
    expect(status.lastRun).to.equal('11/26/2026 2:00:01 AM');
    expect(status.lastResult).to.equal('exit code 1: failed (see the log in the backup folder)');
  });

  it('status names what is wrong: a missing or edited wrapper, a disabled task', async () => {
    const missing = scheduler({ installed: true, query: 'query-disabled.txt' });
    const status = await missing.backend.status(windowsRequest());
    expect(status.problems.join('\n')).to.include('The wrapper D:\\CUPM Backups\\cupm-backup-nightly.cmd is missing');
    expect(status.problems.join('\n')).to.include('The task is disabled');

    const edited = scheduler({ installed: true });
    host.files.set('D:\\CUPM Backups\\cupm-backup-nightly.cmd', EXPECTED_WRAPPER.replace('nightly', 'backup'));
    expect((await edited.backend.status(windowsRequest())).problems.join('\n')).to.include(
      'differs from what this installation would write',
    );
  });

  it('status says "not installed" when schtasks knows no such task', async () => {
    const { backend } = scheduler();
    const status = await backend.status(windowsRequest());
    expect(status.installed).to.equal(false);
    expect(status.problems).to.deep.equal([]);
  });

  it('remove deletes the task first, then the wrapper', async () => {
    const { backend, state } = scheduler();
    const request = windowsRequest();
    await applySchedulePlan(await backend.planInstall(request), host, silentReporter, 'schedule install');
    host.calls.length = 0;

    await applySchedulePlan(await backend.planRemove(request), host, silentReporter, 'schedule remove');

    expect(host.calls).to.deep.equal([
      { kind: 'run', argv: ['schtasks.exe', '/Query', '/TN', 'cupm-backup-nightly', '/V', '/FO', 'LIST'] },
      { kind: 'run', argv: ['schtasks.exe', '/Delete', '/TN', 'cupm-backup-nightly', '/F'] },
      { kind: 'remove', file: 'D:\\CUPM Backups\\cupm-backup-nightly.cmd' },
    ]);
    expect(state.installed).to.equal(false);
    expect(host.files.size).to.equal(0);
  });

  it('remove with nothing installed changes nothing', async () => {
    const { backend } = scheduler();
    const plan = await backend.planRemove(windowsRequest());
    expect(plan.actions).to.deep.equal([]);
    expect(plan.summary).to.deep.equal(['No Task Scheduler task "cupm-backup-nightly" is installed.']);
  });
});
