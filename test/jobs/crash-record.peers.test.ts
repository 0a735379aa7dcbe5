import fs from 'node:fs/promises';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { killAt } from '../support/kill-at.js';
import { slowDumpallBin } from '../support/pg-wrappers.js';
import { pausingPgBin } from '../support/faults.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { JOB_RECORD_FILE } from '../../src/jobs/job-record.js';
import { JOURNAL_FILE } from '../../src/restore/journal.js';
import { dumpsOf } from '../support/proc-watch.js';

/**
 * The crash record of a job that stops services: a backup killed during its dump leaves CUPM
 * down; `status` and `doctor` say so (with the record in --json) and the next backup starts the
 * services first. A restore killed half way makes `status` exit 1 until it is finished.
 */
describe('crash record: a killed job never leaves CUPM down unseen', function () {
  this.timeout(300_000);
  let server: SandboxServer;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-crash-record' });
  });
  after(async () => {
    await server?.destroy();
  });

  const states = async () => Promise.all(server.services.services.map((s) => server.services.status(s)));

  it('kill -9 during the dump: status exits 1 naming what is down, doctor fails, the next backup starts them first', async () => {
    const bin = await slowDumpallBin(server.dir, server.cluster.binDir, 30);
    const killed = await killAt(['backup'], /Dumping PostgreSQL/, 'SIGKILL', { env: { ...server.env(), CUPM_PG_BIN: bin } });
    expect(killed.matched, killed.stderr).to.be.a('string');
    // The killed run's dump wrapper would dump again later, into the next backup: end it.
    for (const pid of await dumpsOf(server.env().PGPORT!, bin)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    expect(await states()).to.deep.equal(['stopped', 'stopped', 'stopped']);
    const record = JSON.parse(await fs.readFile(`${server.backupDir}/${JOB_RECORD_FILE}`, 'utf8'));
    expect(record).to.include({ job: 'backup', step: 'dump' });
    expect(record.servicesStopped).to.deep.equal(server.services.services);

    const status = await runCli(['status'], { env: server.env() });
    expect(status.exitCode, status.stderr).to.equal(1);
    expect(status.stdout).to.match(
      /PROBLEM: Apache, cupm JBossService, cupm NiceService are down since \d{4}-\d\d-\d\dT.*a backup \(pid \d+, started .*\) ended at step "dump"/,
    );
    const statusJson = await runCli(['status', '--json'], { env: server.env() });
    expect(statusJson.exitCode).to.equal(1);
    const job = statusJson.json<{ interruptedJob: Record<string, unknown> }>().interruptedJob;
    expect(job).to.include({ job: 'backup', step: 'dump', pid: record.pid, host: record.host, startedAt: record.startedAt });
    expect(job.servicesStopped).to.deep.equal(server.services.services);

    const doctor = await runCli(['doctor', '--json'], { env: server.env() });
    const check = doctor
      .json<{ checks: Array<{ id: string; status: string; record?: Record<string, unknown> }> }>()
      .checks.find((c) => c.id === 'jobs.services');
    expect(check?.status).to.equal('fail');
    expect(check?.record).to.include({ job: 'backup', step: 'dump', pid: record.pid });

    await server.services.events({ clear: true });
    const next = await runCli(['backup'], { env: server.env() });
    expect(next.exitCode, next.stderr).to.equal(0);
    expect(next.stderr).to.match(/An earlier backup was interrupted: .* Starting the services it stopped/);
    expect(next.stderr).not.to.match(/already stopped; it will stay stopped/);
    expect(await states()).to.deep.equal(['running', 'running', 'running']);
    const left = await fs.readdir(server.backupDir);
    expect(left.filter((n) => n.startsWith('cupm-backup.job') || n.endsWith('.spool') || n.endsWith('.partial'))).to.deep.equal([]);
    const after = await runCli(['status', '--json'], { env: server.env() });
    expect(after.json<{ interruptedJob: unknown }>().interruptedJob).to.equal(null);
  });

  it('a service that does not start after the backup (exit 5): the record keeps it, status exits 1, the next backup starts it', async () => {
    await server.services.setFault('Apache', 'fail-start');
    try {
      const run = await runCli(['backup'], { env: server.env() });
      expect(run.exitCode, run.stderr).to.equal(5);
      const status = await runCli(['status', '--json'], { env: server.env() });
      expect(status.exitCode).to.equal(1);
      const job = status.json<{ interruptedJob: { servicesStopped: string[]; job: string } }>().interruptedJob;
      expect(job).to.include({ job: 'backup' });
      expect(job.servicesStopped).to.deep.equal(['Apache']);
    } finally {
      await server.services.setFault('Apache', 'fail-start', false);
    }
    const next = await runCli(['backup'], { env: server.env() });
    expect(next.exitCode, next.stderr).to.equal(0);
    expect(next.stderr).to.match(/An earlier backup was interrupted: .*Apache stopped since .*Starting the services it stopped/);
    expect(await states()).to.deep.equal(['running', 'running', 'running']);
    expect(await fs.readdir(server.backupDir)).not.to.include(JOB_RECORD_FILE);
  });

  it('a restore killed during the load: status exits 1 "restore interrupted at step X" until it is finished', async () => {
    const archive = (await runCli(['backup', '--json'], { env: server.env() })).json<{ archive: string }>().archive;
    const pausing = await pausingPgBin(server.cluster.binDir, `${server.dir}/pausing-${Date.now()}`);
    await pausing.arm('COPY');
    const run = runCli(['restore', archive, '--yes'], { env: { ...server.env(), CUPM_PG_BIN: pausing.bin } });
    await pausing.paused();
    // The restore's own process: the one holding the lock.
    const lock = JSON.parse(await fs.readFile(`${server.backupDir}/cupm-backup.lock`, 'utf8'));
    process.kill(lock.pid, 'SIGKILL');
    await run;
    await pausing.release();
    expect(await fs.readdir(server.backupDir)).to.include(JOURNAL_FILE);

    const status = await runCli(['status', '--json'], { env: server.env() });
    expect(status.exitCode).to.equal(1);
    const body = status.json<{ interruptedRestore: Record<string, unknown>; problems: string[] }>();
    expect(body.interruptedRestore).to.include({ job: 'restore', archive, pid: lock.pid });
    expect(body.problems.join('\n')).to.match(
      /restore interrupted at step "Load the dump[^"]*" \(pid \d+ on .*\); run "cupm-backup restore .*" again to finish or undo/,
    );
    const doctor = await runCli(['doctor', '--json'], { env: server.env() });
    const check = doctor.json<{ checks: Array<{ id: string; status: string }> }>().checks.find((c) => c.id === 'jobs.restore');
    expect(check?.status).to.equal('fail');

    const again = await runCli(['restore', archive, '--yes'], { env: server.env() });
    expect(again.exitCode, again.stderr).to.equal(0);
    const healed = await runCli(['status', '--json'], { env: server.env() });
    expect(healed.json<{ interruptedRestore: unknown }>().interruptedRestore).to.equal(null);
    expect(await states()).to.deep.equal(['running', 'running', 'running']);
  });
});
