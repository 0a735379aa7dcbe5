import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { REPO } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { ageFile, freshTempIsKept, killMidWrite, staleTempIsRemoved, type UnlockedWriter } from '../support/killed-write.js';
import { writeReportFile } from '../../src/report/report.js';

const OLD = '<!doctype html><title>old</title>\n';
const NEW = '<!doctype html><title>new</title>\n';

/**
 * A report page is written under no lock (two admin hosts may write one on a share at once), so a
 * pid says nothing about its temp files: a later write of the page removes those older than any
 * write can take, and only those.
 */
describe('report pages: the temp file of a killed write is removed by a later write once stale', function () {
  // A child process under tsx starts slowly on a loaded machine: nothing here is timed, only waited for.
  this.timeout(300_000);
  let dir: string;
  let page: string;
  const listing = async () => (await fs.readdir(dir)).sort();
  const code = `const { writeReportFile } = await import(${JSON.stringify(path.join(REPO, 'src/report/report.ts'))});`;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-report-temp-'));
    page = path.join(dir, 'report.html');
    await writeReportFile(page, OLD);
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** `report --html` killed -9 in the middle of writing the page. */
  const killedPageWrite = () => killMidWrite(`${code} await writeReportFile(${JSON.stringify(page)}, '<html>killed</html>');`);

  const writer = (): UnlockedWriter => ({
    file: page,
    killedWrite: killedPageWrite,
    write: () => writeReportFile(page, NEW).then(() => undefined),
  });

  it('a killed write leaves the old page and its temp file; the next write removes the temp file once it is stale', async () => {
    await staleTempIsRemoved(writer());
    expect(await fs.readFile(page, 'utf8')).to.equal(NEW);
  });

  it('a fresh temp file (a write that may still be running, here or on another host) is kept', async () => {
    await freshTempIsKept(writer());
    expect(await listing()).to.have.length(2);
  });

  it("a writer whose clock runs ahead of the file system's keeps a temp file the file system stamped fresh", async () => {
    const { temp } = await killedPageWrite();
    // This host 2 hours ahead (faketime), the disk's clock right: by this host's clock alone the temp file is stale.
    const ahead = await execa(
      'faketime',
      [
        '-f',
        '+2h',
        process.execPath,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `${code}
        await writeReportFile(${JSON.stringify(page)}, ${JSON.stringify(NEW)});
        process.stdout.write(String(Date.now()));`,
      ],
      // File times as the file system stamped them (libfaketime would shift what stat() says too).
      { cwd: REPO, reject: false, env: { NO_FAKE_STAT: '1' } },
    );
    expect(ahead.exitCode, ahead.stderr).to.equal(0);
    expect(Number(ahead.stdout) - Date.now()).to.be.above(90 * 60_000, 'the writer ran with its clock ahead');
    expect(await fs.readFile(page, 'utf8')).to.equal(NEW);
    expect(await listing()).to.deep.equal([path.basename(temp), 'report.html'].sort());
  });

  it('the aside of a killed swap (a share that cannot rename over a name) is removed once its temp file is gone or stale, not before', async () => {
    const { temp, pid } = await killedPageWrite();
    // A swap killed between its two renames: the old page aside, the new one still under its temp name.
    const aside = `${temp}.old`;
    await fs.rename(page, aside);
    await ageFile(aside);
    // Another writer's swap that got past its second rename (its temp file gone), killed before removing the aside.
    const done = path.join(dir, `.report.html.cupm-backup-${pid}-0a1b2c3d.tmp.old`);
    await fs.writeFile(done, OLD);

    await writeReportFile(page, NEW);
    expect(await listing()).to.deep.equal([path.basename(temp), path.basename(aside), 'report.html'].sort());

    await ageFile(temp);
    await writeReportFile(page, NEW);
    expect(await listing()).to.deep.equal(['report.html']);
  });

  it('a temp file that cannot be removed does not fail the write', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test bind-mounts a file: run it as root (CI does)');
    const { temp } = await killedPageWrite();
    // A mount point cannot be unlinked (EBUSY): a real error, met by the clean-up only.
    const source = path.join(dir, 'mounted');
    await fs.writeFile(source, 'mounted');
    await execa('mount', ['--bind', source, temp]);
    try {
      await ageFile(temp);
      await writeReportFile(page, NEW);
      expect(await fs.readFile(page, 'utf8')).to.equal(NEW);
      expect(await listing()).to.deep.equal([path.basename(temp), 'mounted', 'report.html'].sort());
    } finally {
      await execa('umount', [temp]);
    }
  });
});
