import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobFailedError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { CronScheduler, markerLine } from '../../src/schedule/install/crontab.js';
import { localHost } from '../../src/schedule/install/host.js';
import { applySchedulePlan, formatSchedulePlan, SCHEDULE_NAME, type ScheduleRequest } from '../../src/schedule/install/index.js';
import { expect } from '../support/expect.js';

/** A system user whose crontab the tests may own: the real crontab(1) writes the real spool. */
const CRON_USER = 'cupm-crontab-test';

async function ensureCronUser(): Promise<void> {
  const known = await execa('id', [CRON_USER], { reject: false });
  if (known.exitCode === 0) return;
  await execa('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', CRON_USER]);
}

async function crontabOf(user: string): Promise<string> {
  const result = await execa('crontab', ['-u', user, '-l'], { reject: false });
  return result.exitCode === 0 ? result.stdout + '\n' : '';
}

async function setCrontab(user: string, text: string): Promise<void> {
  await execa('crontab', ['-u', user, '-'], { input: text });
}

const OTHER_LINES = [
  '# m h  dom mon dow   command',
  'MAILTO=ops@example.com',
  '*/15 * * * * /usr/local/bin/check-disk --quiet  # keep',
  '30 4 * * 0 /usr/bin/find /var/tmp -mtime +7 -delete',
  '',
].join('\n');

describe('schedule install on Linux without systemd (a crontab line, real crontab)', () => {
  let root: string;

  before(async () => {
    await ensureCronUser();
  });

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cupm-cron-'));
    await execa('crontab', ['-u', CRON_USER, '-r'], { reject: false });
  });

  afterEach(async () => {
    await execa('crontab', ['-u', CRON_USER, '-r'], { reject: false });
    await rm(root, { recursive: true, force: true });
  });

  function request(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
    const workDir = path.join(root, 'cupm');
    return {
      name: SCHEDULE_NAME,
      at: { hour: 2, minute: 0 },
      command: {
        workDir,
        program: process.execPath,
        args: ['/opt/cupm-backup/bin/cupm-backup', 'nightly', '--env-file', path.join(workDir, 'cupm-backup.env')],
      },
      backupDir: path.join(root, 'backups'),
      ...overrides,
    };
  }

  function cron(daemonRunning = true): CronScheduler {
    return new CronScheduler(localHost(), { user: CRON_USER, daemonRunning: async () => daemonRunning });
  }

  it('adds a marked line that runs nightly every day at the time given', async () => {
    await applySchedulePlan(
      await cron().planInstall(request({ at: { hour: 2, minute: 5 } })),
      localHost(),
      silentReporter,
      'schedule install',
    );

    const installed = await crontabOf(CRON_USER);
    const workDir = path.join(root, 'cupm');
    expect(installed).to.equal(
      [
        markerLine(SCHEDULE_NAME),
        `5 2 * * * cd ${workDir} && ${process.execPath} /opt/cupm-backup/bin/cupm-backup nightly --env-file ${workDir}/cupm-backup.env >${root}/backups/cupm-backup-nightly.console.txt 2>&1`,
        '',
      ].join('\n'),
    );
    expect(await readFile(path.join(root, 'backups'), 'utf8').catch((e: NodeJS.ErrnoException) => e.code)).to.equal('EISDIR');
  });

  it('keeps every other line of the crontab as it was, and a second install replaces its own line', async () => {
    await setCrontab(CRON_USER, OTHER_LINES);

    await applySchedulePlan(await cron().planInstall(request()), localHost(), silentReporter, 'schedule install');
    await applySchedulePlan(
      await cron().planInstall(request({ at: { hour: 3, minute: 30 } })),
      localHost(),
      silentReporter,
      'schedule install',
    );

    const installed = await crontabOf(CRON_USER);
    expect(installed.startsWith(OTHER_LINES)).to.equal(true);
    const ours = installed.slice(OTHER_LINES.length).split('\n');
    expect(ours[0]).to.equal(markerLine(SCHEDULE_NAME));
    expect(ours[1]).to.match(/^30 3 \* \* \* cd /);
    expect(ours.slice(2)).to.deep.equal(['']);
  });

  it('writes a line /bin/sh runs as intended, whatever the paths hold (spaces, quotes, $, %)', async () => {
    // A stand-in for bin/cupm-backup that notes how it was started, prints, and exits like a
    // nightly whose off-site copy failed.
    const odd = path.join(root, `CUPM's "tools" $HOME 100%`);
    await mkdir(odd, { recursive: true });
    const recorder = path.join(odd, 'record.mjs');
    const notes = path.join(root, 'notes.json');
    await writeFile(
      recorder,
      `import fs from 'node:fs';\nfs.writeFileSync(${JSON.stringify(notes)}, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd() }));\nconsole.log('nightly output');\nconsole.error('nightly warning');\nprocess.exit(6);\n`,
    );
    await chmod(recorder, 0o755);
    const backupDir = path.join(root, 'back ups %d');
    const envFile = path.join(odd, 'cupm backup.env');
    // Node 20 itself looks for any --env-file argument's file, even one meant for the script.
    await writeFile(envFile, 'CUPM_BACKUP_DIR=/nonexistent\n');
    const scheduler = cron();
    const req = request({
      command: { workDir: odd, program: process.execPath, args: [recorder, 'nightly', '--env-file', envFile] },
      backupDir,
    });

    await applySchedulePlan(await scheduler.planInstall(req), localHost(), silentReporter, 'schedule install');

    // What cron does with the line (crontab(5)): the sixth field on is the command, an escaped
    // \\% becomes %, and /bin/sh runs it.
    const line = (await crontabOf(CRON_USER)).split('\n')[1]!;
    const command = line.split(' ').slice(5).join(' ').replace(/\\%/g, '%');
    expect(line, 'cron would cut the line at an unescaped %').not.to.match(/(^|[^\\])%/);
    // cron's environment: little more than PATH and HOME.
    const run = await execa('/bin/sh', ['-c', command], {
      reject: false,
      extendEnv: false,
      env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', SHELL: '/bin/sh' },
    });
    expect(run.exitCode, run.stderr).to.equal(6);
    expect(JSON.parse(await readFile(notes, 'utf8'))).to.deep.equal({ argv: ['nightly', '--env-file', envFile], cwd: odd });
    expect(await readFile(path.join(backupDir, 'cupm-backup-nightly.console.txt'), 'utf8')).to.equal('nightly output\nnightly warning\n');
  });

  it('--print shows the whole new crontab and changes nothing', async () => {
    await setCrontab(CRON_USER, OTHER_LINES);
    const lines = formatSchedulePlan(await cron().planInstall(request()));
    expect(lines[0]).to.equal(`A line in the crontab of ${CRON_USER}: every day at 02:00, \`cupm-backup nightly\` in ${root}/cupm.`);
    expect(lines).to.include(`2. Run: crontab -u ${CRON_USER} -`);
    expect(lines).to.include('     MAILTO=ops@example.com');
    expect(lines).to.include(`     ${markerLine(SCHEDULE_NAME)}`);
    expect(await crontabOf(CRON_USER)).to.equal(OTHER_LINES);
  });

  it('warns that nothing will run the line when no cron daemon is running', async () => {
    const plan = await cron(false).planInstall(request());
    expect(plan.warnings.join('\n')).to.include('no cron daemon seems to be running on this host');
    expect(plan.warnings.join('\n')).to.include('cupm-backup daemon');
    expect((await cron(true).planInstall(request())).warnings).to.deep.equal([]);
  });

  it('status reads the line back: time, command, and whether cron runs', async () => {
    await applySchedulePlan(
      await cron().planInstall(request({ at: { hour: 1, minute: 15 } })),
      localHost(),
      silentReporter,
      'schedule install',
    );

    const status = await cron().status(request({ at: { hour: 1, minute: 15 } }));
    expect(status).to.deep.include({
      scheduler: 'cron',
      installed: true,
      at: '01:15',
      state: 'cron is running',
      output: `${root}/backups/cupm-backup-nightly.console.txt`,
    });
    expect(status.runs).to.match(/^cd .* nightly --env-file /);
    expect(status.problems).to.deep.equal([]);

    // Installed at 01:15 by --at: another CUPM_SCHEDULE_AT now is no problem; another install is.
    expect((await cron().status(request({ at: { hour: 2, minute: 0 } }))).problems).to.deep.equal([]);
    const moved = await cron(false).status(request({ command: { ...request().command, workDir: '/srv/elsewhere' } }));
    expect(moved.problems.join('\n')).to.include('differs from what this installation would write');
    expect(moved.problems.join('\n')).to.include('No cron daemon seems to be running');

    await execa('crontab', ['-u', CRON_USER, '-r']);
    expect((await cron().status(request())).installed).to.equal(false);
  });

  it('remove takes out only its own line', async () => {
    await setCrontab(CRON_USER, OTHER_LINES);
    await applySchedulePlan(await cron().planInstall(request()), localHost(), silentReporter, 'schedule install');

    await applySchedulePlan(await cron().planRemove(request()), localHost(), silentReporter, 'schedule remove');

    expect(await crontabOf(CRON_USER)).to.equal(OTHER_LINES);
    const again = await cron().planRemove(request());
    expect(again.actions).to.deep.equal([]);
    expect(again.summary).to.deep.equal(['No crontab line "cupm-backup-nightly" is installed.']);
  });

  it('says what to check when crontab itself refuses', async () => {
    const scheduler = new CronScheduler(localHost(), { user: 'no-such-user-cupm', daemonRunning: async () => true });
    const error = await scheduler.planInstall(request()).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(JobFailedError);
    expect((error as JobFailedError).message).to.include('crontab -u no-such-user-cupm -l failed (exit code 1)');
    expect((error as JobFailedError).hint).to.include('apt-get install cron');
  });
});
