import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';

/** An env file as an administrator writes it: single quotes keep every character as it is. */
function envFileText(env: Record<string, string>): string {
  return (
    Object.entries(env)
      .map(([name, value]) => (value.includes("'") ? `${name}="${value}"` : `${name}='${value}'`))
      .join('\n') + '\n'
  );
}

describe('schedule install checks the configuration the nightly job will read', function () {
  this.timeout(180_000);
  let server: SandboxServer;
  let work: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-schedule-check' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cupm-schedule-check-'));
    await chmod(work, 0o755);
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('in a folder without cupm-backup.env, refuses (exit 2) a job that would fail every night, naming the file it would read', async () => {
    const before = await execa('crontab', ['-l'], { reject: false });
    const result = await runCli(['schedule', 'install', '--print'], { env: { ...server.env(), CUPM_SCHEDULER: 'cron' }, cwd: work });
    expect(result.exitCode, result.stderr).to.equal(2);
    expect(result.stderr)
      .to.contain('The nightly job would fail with this configuration:')
      .and.contain(`the job reads ${path.join(work, 'cupm-backup.env')}, which does not exist`)
      .and.contain('State: nothing was scheduled')
      .and.contain('--no-check');
    expect((await execa('crontab', ['-l'], { reject: false })).stdout).to.equal(before.stdout);
  });

  it("refuses when doctor finds a failure in the env file's settings (a wrong install dir)", async () => {
    const envFile = path.join(work, 'cupm-backup.env');
    await writeFile(envFile, envFileText({ ...server.env(), CUPM_SCHEDULER: 'cron', CUPM_INSTALL_DIR: path.join(work, 'no-such-cupm') }));
    const result = await runCli(['schedule', 'install', '--print'], { cwd: work });
    expect(result.exitCode, result.stderr).to.equal(2);
    expect(result.stderr).to.contain('The nightly job would fail with this configuration:').and.contain('no-such-cupm');
  });

  it('with the settings in the env file, --print passes the check and says which env file the job reads', async () => {
    const envFile = path.join(work, 'cupm-backup.env');
    await writeFile(envFile, envFileText({ ...server.env(), CUPM_SCHEDULER: 'cron' }));
    const result = await runCli(['schedule', 'install', '--print'], { cwd: work });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.contain(`The job reads its settings from ${envFile}.`);
  });
});
