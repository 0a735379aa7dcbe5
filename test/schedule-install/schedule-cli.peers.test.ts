import { execa } from 'execa';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { markerLine } from '../../src/schedule/install/crontab.js';
import { BIN_PATH, SCHEDULE_NAME } from '../../src/schedule/install/index.js';
import { appendHistory } from '../../src/schedule/history.js';
import { BIN, runCli } from '../support/cli.js';
import { failedRun, offsiteFailedRun, okRun } from '../support/nightly-records.js';
import { expect } from '../support/expect.js';

/** The same system user the crontab tests use: its crontab is the tests' to change. */
const CRON_USER = 'cupm-crontab-test';

async function ensureCronUser(): Promise<{ uid: number; gid: number }> {
  if ((await execa('id', [CRON_USER], { reject: false })).exitCode !== 0) {
    await execa('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', CRON_USER]);
  }
  const uid = Number((await execa('id', ['-u', CRON_USER])).stdout);
  const gid = Number((await execa('id', ['-g', CRON_USER])).stdout);
  return { uid, gid };
}

describe('cupm-backup schedule install | status | remove (command line)', () => {
  let work: string;

  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cupm-schedule-cli-'));
    await chmod(work, 0o755);
  });
  afterEach(async () => {
    await execa('crontab', ['-u', CRON_USER, '-r'], { reject: false });
    await rm(work, { recursive: true, force: true });
  });

  it('--print shows the crontab line it would add, warns of settings only this shell has, and changes nothing', async () => {
    const before = await execa('crontab', ['-l'], { reject: false });

    const result = await runCli(['schedule', 'install', '--print', '--no-check', '--at', '4:30'], {
      env: { CUPM_SCHEDULER: 'cron', CUPM_BACKUP_DIR: path.join(work, 'backups'), PGPASSWORD: 'never-shown-7' },
      cwd: work,
    });

    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`     ${markerLine(SCHEDULE_NAME)}\n`);
    expect(result.stdout).to.include(
      `     30 4 * * * cd ${work} && ${process.execPath} -- ${BIN_PATH} nightly >${work}/backups/cupm-backup-nightly.console.txt 2>&1\n`,
    );
    expect(result.stdout).to.include(
      "warning: these settings come from this shell's environment, which a scheduled run does not have: CUPM_BACKUP_DIR, CUPM_SCHEDULER, PGPASSWORD; put them in ./cupm-backup.env",
    );
    expect(result.stdout + result.stderr).not.to.include('never-shown-7');
    const after = await execa('crontab', ['-l'], { reject: false });
    expect(after.stdout).to.equal(before.stdout);
    expect(await execa('ls', [work]).then((r) => r.stdout)).to.equal('');
  });

  it('--print --json lists the systemd units and commands as data', async () => {
    const envFile = path.join(work, 'cupm-backup.env');
    await writeFile(envFile, `CUPM_SCHEDULER=systemd\nCUPM_SCHEDULE_AT=01:45\nCUPM_BACKUP_DIR=${work}/backups\n`);

    const result = await runCli(['schedule', 'install', '--print', '--no-check', '--json', '--env-file', envFile], { cwd: work });

    expect(result.exitCode, result.stderr).to.equal(0);
    const plan = result.json<{
      print: boolean;
      scheduler: string;
      warnings: string[];
      actions: Array<{ kind: string; file?: string; content?: string; argv?: string[] }>;
    }>();
    expect(plan).to.include({ print: true, scheduler: 'systemd' });
    expect(plan.warnings).to.deep.equal([]);
    expect(plan.actions.map((a) => a.file ?? a.argv!.join(' '))).to.deep.equal([
      '/etc/systemd/system/cupm-backup-nightly.service',
      '/etc/systemd/system/cupm-backup-nightly.timer',
      'systemctl daemon-reload',
      'systemctl enable --now cupm-backup-nightly.timer',
    ]);
    expect(plan.actions[0]!.content).to.include(`ExecStart=${process.execPath} -- ${BIN_PATH} nightly --env-file ${envFile}\n`);
    expect(plan.actions[1]!.content).to.include('OnCalendar=*-*-* 01:45:00\n');
  });

  it('an administrator installs the schedule, sees it in status, and removes it again (real crontab)', async () => {
    const { uid, gid } = await ensureCronUser();
    const home = path.join(work, 'admin');
    await mkdir(home);
    const envFile = path.join(home, 'cupm-backup.env');
    await writeFile(envFile, `CUPM_BACKUP_DIR=${home}/backups\nCUPM_INSTALL_DIR=${home}/CUPM\n`);
    await chown(home, uid, gid);
    await chown(envFile, uid, gid);
    const asAdmin = (...args: string[]) =>
      execa('runuser', ['-u', CRON_USER, '--', BIN, ...args], {
        cwd: home,
        reject: false,
        extendEnv: false,
        env: { PATH: process.env.PATH ?? '', HOME: home },
      });

    const installed = await asAdmin('schedule', 'install', '--no-check', '--at', '03:15', '--env-file', envFile);
    expect(installed.exitCode, installed.stderr).to.equal(0);
    expect(installed.stdout).to.equal(
      `Installed: crontab "cupm-backup-nightly" runs \`cupm-backup nightly\` every day at 03:15 (backup folder ${home}/backups).`,
    );
    expect(installed.stderr).to.include('Install the crontab line "cupm-backup-nightly"');
    const crontab = (await execa('crontab', ['-u', CRON_USER, '-l'])).stdout;
    expect(crontab).to.include(
      `15 3 * * * cd ${home} && ${process.execPath} -- ${BIN_PATH} nightly --env-file ${envFile} >${home}/backups/cupm-backup-nightly.console.txt 2>&1`,
    );

    const status = await asAdmin('schedule', 'status', '--env-file', envFile, '--json');
    expect(status.exitCode, status.stderr).to.equal(0);
    expect(JSON.parse(status.stdout)).to.deep.include({
      scheduler: 'cron',
      installed: true,
      at: '03:15',
      problems: ['No cron daemon seems to be running: the line will not run until cron is started.'],
    });
    const human = await asAdmin('schedule', 'status', '--env-file', envFile);
    expect(human.stdout).to.match(/^crontab "cupm-backup-nightly": installed, every day at 03:15\.\n {2}runs {8}cd /);

    const removed = await asAdmin('schedule', 'remove', '--env-file', envFile);
    expect(removed.exitCode, removed.stderr).to.equal(0);
    expect(removed.stdout).to.equal('Removed: crontab "cupm-backup-nightly".');
    expect((await execa('crontab', ['-u', CRON_USER, '-l'])).stdout).to.equal('');
    const none = await asAdmin('schedule', 'status', '--env-file', envFile);
    expect(none.stdout).to.equal('crontab "cupm-backup-nightly": not installed (`cupm-backup schedule install` installs it).');
  });

  it('schedule status --all: the one fleet job, then one row per server with its last nightly run; exit code: the worst (real crontab)', async () => {
    const { uid, gid } = await ensureCronUser();
    const home = path.join(work, 'admin');
    const serversDir = path.join(home, 'servers');
    await mkdir(serversDir, { recursive: true });
    const backupsOf = (name: string) => path.join(home, `backups-${name}`);
    for (const name of ['cupm01', 'cupm02', 'cupm03']) {
      await writeFile(
        path.join(serversDir, `${name}.env`),
        `CUPM_BACKUP_DIR=${backupsOf(name)}\nPGHOST=db-${name}\nPGPASSWORD=pw-${name}-secret\n`,
      );
    }
    // cupm01's last night went well, cupm02's ended with a warning; cupm03 has not run yet.
    await mkdir(backupsOf('cupm01'));
    await appendHistory(backupsOf('cupm01'), failedRun('2026-12-02T02:00:00.000Z'));
    await appendHistory(backupsOf('cupm01'), okRun('2026-12-03T02:00:00.000Z'));
    await mkdir(backupsOf('cupm02'));
    await appendHistory(backupsOf('cupm02'), offsiteFailedRun('2026-12-03T02:10:00.000Z', { exitCode: 6 }));
    // The administrator's files: the job (and status) run as that user.
    const own = () => execa('chown', ['-R', `${uid}:${gid}`, home]);
    await own();
    const asAdmin = (...args: string[]) =>
      execa('runuser', ['-u', CRON_USER, '--', BIN, ...args], {
        cwd: home,
        reject: false,
        extendEnv: false,
        env: { PATH: process.env.PATH ?? '', HOME: home, CUPM_SCHEDULER: 'cron' },
      });

    const installed = await asAdmin('schedule', 'install', '--all', '--parallel', '2', '--at', '03:15');
    expect(installed.exitCode, installed.stderr).to.equal(0);

    const human = await asAdmin('schedule', 'status', '--all');
    expect(human.exitCode, human.stderr).to.equal(6);
    const lines = human.stdout.split('\n');
    expect(lines[0]).to.equal('crontab "cupm-backup-nightly": installed, every day at 03:15.');
    expect(lines.find((l) => l.startsWith('  runs '))).to.include(`nightly --all --servers-dir ${serversDir} --parallel 2`);
    // Installed with --parallel 2: that is a choice, not a difference from what install would write.
    expect(human.stdout).not.to.include('differs');
    const header = lines.findIndex((l) => l.startsWith('SERVER'));
    expect(lines[header]).to.match(/^SERVER\s+LAST RUN\s+STARTED\s+EXIT$/);
    expect(lines[header + 1]).to.match(/^cupm01\s+OK\s+2026-12-03T02:00:00\.000Z\s+0$/);
    expect(lines[header + 2]).to.match(/^cupm02\s+WARNING\s+2026-12-03T02:10:00\.000Z\s+6$/);
    expect(lines[header + 3]).to.match(/^cupm03\s+none recorded\s+-\s+0$/);
    expect(human.stdout + human.stderr).not.to.include('secret');

    const json = await asAdmin('schedule', 'status', '--all', '--json');
    expect(json.exitCode, json.stderr).to.equal(6);
    const parsed = JSON.parse(json.stdout) as {
      exitCode: number;
      schedule: { installed: boolean; at: string };
      servers: Array<{ server: string; exitCode: number; result: { lastRun: { outcome: string } | null } }>;
    };
    expect(parsed.exitCode).to.equal(6);
    expect(parsed.schedule).to.deep.include({ installed: true, at: '03:15' });
    expect(parsed.servers.map((s) => [s.server, s.exitCode, s.result.lastRun?.outcome ?? null])).to.deep.equal([
      ['cupm01', 0, 'ok'],
      ['cupm02', 6, 'warning'],
      ['cupm03', 0, null],
    ]);

    // A server whose last run failed makes the whole answer a failure.
    await appendHistory(backupsOf('cupm01'), failedRun('2026-12-04T02:00:00.000Z'));
    await own();
    expect((await asAdmin('schedule', 'status', '--all')).exitCode).to.equal(1);

    expect((await asAdmin('schedule', 'remove')).exitCode).to.equal(0);
    const none = await asAdmin('schedule', 'status', '--all');
    expect(none.stdout.split('\n')[0]).to.equal(
      'crontab "cupm-backup-nightly": not installed (`cupm-backup schedule install` installs it).',
    );
  });

  it('a host with neither systemd nor cron: exit 2, pointing at the daemon', async () => {
    // A PATH with node and nothing else: no crontab to be found.
    const bin = path.join(work, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, path.join(bin, 'node'));

    const result = await runCli(['schedule', 'install', '--print'], {
      env: { PATH: bin, CUPM_BACKUP_DIR: path.join(work, 'backups') },
      cwd: work,
    });

    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include('This host has neither a running systemd nor cron');
    expect(result.stderr).to.include('cupm-backup daemon --cron "0 2 * * *"');
  });

  it('a time that is not HH:MM is a usage error (exit 2)', async () => {
    const result = await runCli(['schedule', 'install', '--at', '25:00', '--print'], { env: { CUPM_SCHEDULER: 'cron' }, cwd: work });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include('must be a time HH:MM (00:00 to 23:59), got "25:00"');
  });
});
