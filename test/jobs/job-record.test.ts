import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { killMidWrite } from '../support/killed-write.js';
import { JOB_RECORD_FILE, JobRecorder, jobRecordPath, readJobRecord } from '../../src/jobs/job-record.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { recoverInterruptedJob, type JobGuardSettings } from '../../src/pg/job-guard.js';

/**
 * The crash record is written by the one atomic writer (src/file-system.ts): a process killed in
 * the middle of a write leaves only its temp file, which the next job removes before anything else.
 */
describe('job record: atomic writes, and the temp file of a killed write', function () {
  // A child process under tsx starts slowly on a loaded machine: nothing here is timed, only waited for.
  this.timeout(300_000);
  let dir: string;
  const settings = (): JobGuardSettings => ({
    backupDir: dir,
    pg: {},
    serviceManager: 'none',
    serviceCommands: undefined,
    serviceTimeoutSeconds: 60,
  });

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-job-record-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A job's record write (a real JobRecorder in another process) killed -9 before its rename. */
  const killedRecordWrite = () =>
    killMidWrite(`
      const { JobRecorder } = await import(${JSON.stringify(path.join(REPO, 'src/jobs/job-record.ts'))});
      await new JobRecorder(${JSON.stringify(dir)}, 'backup').servicesStopping([]);
    `);

  it('writes the record whole, mode 0600, with no temp file left beside it', async () => {
    const recorder = new JobRecorder(dir, 'backup');
    await recorder.servicesStopping(['Apache']);
    await recorder.step('dump');
    expect(await readJobRecord(dir)).to.include({ job: 'backup', step: 'dump', pid: process.pid });
    expect((await fs.stat(jobRecordPath(dir))).mode & 0o777).to.equal(0o600);
    expect(await fs.readdir(dir)).to.deep.equal([JOB_RECORD_FILE]);
  });

  it('a temp file left by a record write that was killed (a dead pid) is removed by the next job', async () => {
    const { temp, pid } = await killedRecordWrite();
    expect(path.basename(temp)).to.match(
      new RegExp(`^\\.${JOB_RECORD_FILE.replace(/\./g, '\\.')}\\.cupm-backup-${pid}-[0-9a-f]{8}\\.tmp$`),
    );
    // What the rename-aside of a share that refuses to rename over a name leaves, and files that are not ours.
    const aside = path.join(dir, `.${JOB_RECORD_FILE}.cupm-backup-${pid}-0a1b2c3d.tmp.old`);
    const notOurs = [path.join(dir, `${JOB_RECORD_FILE}.bak`), path.join(dir, `.other.json.cupm-backup-${pid}-0a1b2c3d.tmp`)];
    for (const file of [aside, ...notOurs]) await fs.writeFile(file, 'left');
    // No record: the kill came before the first rename, so no service was stopped yet.
    expect(await readJobRecord(dir)).to.equal(undefined);

    expect(await recoverInterruptedJob(settings(), { reporter: silentReporter })).to.equal(undefined);
    expect((await fs.readdir(dir)).sort()).to.deep.equal(notOurs.map((f) => path.basename(f)).sort());
  });

  it('a killed rewrite leaves the previous record whole: the next job reads it, acts on it and removes both', async () => {
    // A job that wrote its record, then was killed during a rewrite: its record names its pid.
    const recorder = new JobRecorder(dir, 'backup');
    await recorder.servicesStopping([]);
    const { temp, pid } = await killedRecordWrite();
    const record = JSON.parse(await fs.readFile(jobRecordPath(dir), 'utf8')) as Record<string, unknown>;
    await fs.writeFile(jobRecordPath(dir), JSON.stringify({ ...record, pid }, null, 2));

    const infos: string[] = [];
    const reporter = { ...silentReporter, info: (line: string) => infos.push(line) };
    const recovered = await recoverInterruptedJob(settings(), { reporter });
    expect(recovered).to.include({ job: 'backup', step: 'stop' });
    expect(infos.join('\n')).to.match(/An earlier backup was interrupted at step "stop".*it left no service stopped/);
    expect(await fs.stat(temp).catch(() => undefined)).to.equal(undefined);
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });
});
