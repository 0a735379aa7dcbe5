import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';

describe('the env file: Windows paths and passwords', function () {
  this.timeout(180_000);
  let server: SandboxServer;
  let work: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-env-file', adminPassword: 'admin#pw 2' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cupm-env-file-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('refuses a path that double quotes turned into one with a line break (exit 2), naming the variable and the fix', async () => {
    const envFile = path.join(work, 'cupm-backup.env');
    await writeFile(envFile, 'CUPM_BACKUP_DIR="D:\\backup\\nightly"\n');
    const result = await runCli(['list'], { cwd: work });
    expect(result.exitCode, result.stderr).to.equal(2);
    expect(result.stderr)
      .to.contain(`CUPM_BACKUP_DIR (from ${envFile}) contains a control character`)
      .and.contain("write Windows paths in single quotes (CUPM_BACKUP_DIR='D:\\backup\\nightly')");
  });

  it('an off-site list that a \\n split in two is refused the same way', async () => {
    await writeFile(path.join(work, 'cupm-backup.env'), 'CUPM_OFFSITE="\\\\nas\\backups\\new"\n');
    const result = await runCli(['list'], { cwd: work });
    expect(result.exitCode, result.stderr).to.equal(2);
    expect(result.stderr).to.contain('CUPM_OFFSITE (from').and.contain('contains a control character');
  });

  it('single quotes keep a Windows path as written', async () => {
    await writeFile(path.join(work, 'cupm-backup.env'), "CUPM_BACKUP_DIR='D:\\backup\\nightly'\n");
    const result = await runCli(['list', '--json'], { cwd: work });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.json<{ dir: string }>().dir).to.contain('D:\\backup\\nightly');
  });

  it('a password cut at "#" (unquoted) fails the login, and the error names the env file and how to quote it', async () => {
    const env = server.env();
    const envFile = path.join(work, 'cupm-backup.env');
    const lines = Object.entries(env)
      .filter(([name]) => name !== 'PGPASSWORD')
      .map(([name, value]) => `${name}='${value}'`);
    await writeFile(envFile, [...lines, 'PGPASSWORD=admin#pw 2'].join('\n') + '\n');
    const result = await runCli(['backup'], { cwd: work });
    expect(result.exitCode, result.stderr).to.equal(2);
    expect(result.stderr)
      .to.contain('the password was refused')
      .and.contain(`The password came from PGPASSWORD in ${envFile}`)
      .and.contain("PGPASSWORD='the#password'");

    await writeFile(envFile, [...lines, "PGPASSWORD='admin#pw 2'"].join('\n') + '\n');
    const quoted = await runCli(['backup'], { cwd: work });
    expect(quoted.exitCode, quoted.stderr).to.equal(0);
  });
});
