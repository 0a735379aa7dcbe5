import fs from 'node:fs/promises';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { JOB_RECORD_FILE, type JobRecord } from '../../src/jobs/job-record.js';

describe('backup: a service that does not start again after a good archive', function () {
  this.timeout(300_000);
  let server: SandboxServer;
  let failing: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-services-down' });
    failing = server.services.services[1]!;
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    await fs.rm(server.backupDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await server.services.setFault(failing, 'fail-start', false);
    if ((await server.services.status(failing)) === 'stopped') await server.services.start(failing);
  });

  /**
   * The archive exists and is complete (unzip tests it); beside it only the crash record, kept
   * because a service is still down: it names that service for `status` and the next run.
   */
  async function expectGoodArchive(archive: string): Promise<void> {
    expect((await execa('unzip', ['-t', archive])).stdout).to.match(/No errors detected/);
    expect((await fs.readdir(server.backupDir)).sort()).to.deep.equal([archive.slice(server.backupDir.length + 1), JOB_RECORD_FILE].sort());
    const record = JSON.parse(await fs.readFile(`${server.backupDir}/${JOB_RECORD_FILE}`, 'utf8')) as JobRecord;
    expect(record.servicesStopped).to.deep.equal([failing]);
  }

  it('exits 5 and names the archive it wrote (stderr and stdout); the service is said to be stopped', async () => {
    await server.services.setFault(failing, 'fail-start');
    const run = await runCli(['backup'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(5);
    const archive = run.stdout.trim();
    expect(archive.startsWith(server.backupDir + '/'), run.stdout).to.equal(true);
    expect(run.stderr).to.include(`The backup was written and verified: ${archive}`);
    expect(run.stderr).to.match(new RegExp(`State: the archive .* is complete; .*These services are stopped now: ${failing}`));
    await expectGoodArchive(archive);
    expect(await server.services.status(failing)).to.equal('stopped');
  });

  it('--json carries the archive beside the error (exit 5)', async () => {
    await server.services.setFault(failing, 'fail-start');
    const run = await runCli(['backup', '--json'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(5);
    const json = run.json<{ ok: boolean; exitCode: number; archive: string; error: { type: string; message: string; state: string } }>();
    expect(json).to.include({ ok: false, exitCode: 5 });
    expect(json.error.type).to.equal('ServicesDownAfterBackupError');
    expect(json.error.message).to.include(json.archive);
    expect(json.error.state).to.include(failing);
    await expectGoodArchive(json.archive);
  });
});
