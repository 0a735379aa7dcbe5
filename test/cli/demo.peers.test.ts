import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';

/** The README's Quick start: `npm run demo` (bin/cupm-backup demo) on a fresh machine. */
describe('the demo (the Quick start)', function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-demo-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('backs up a throwaway sample server, verifies and lists it, keeps only the archive, and says what happened', async () => {
    const out = path.join(dir, 'demo-backups');
    const run = await runCli(['demo', '--output-dir', out, '--json'], { cwd: dir });
    expect(run.exitCode, run.stderr).to.equal(0);
    const json = run.json<{ archive: string; verified: boolean; services: { stopped: string[] } }>();
    expect(json.verified).to.equal(true);
    expect(json.services.stopped).to.have.length(3);
    expect(path.dirname(json.archive)).to.equal(out);
    // The archive, read back by unzip: every entry's CRC checks, the dump and the five files are in it.
    const test = await execa('unzip', ['-t', json.archive]);
    expect(test.stdout).to.match(/No errors detected/);
    const listing = (await execa('unzip', ['-Z1', json.archive])).stdout.split('\n');
    expect(listing).to.include.members(['manifest.json', 'database/pg_dumpall.sql']);
    expect(listing.filter((name) => name.startsWith('files/'))).to.have.length(5);
    // Only the archive is kept: the sample server (cluster, install tree, services) is gone.
    expect(await fs.readdir(out)).to.deep.equal([path.basename(json.archive)]);
    const [, host, port, installDir] = /PostgreSQL on (\S+):(\d+), CUPM in (\S+)/.exec(run.stderr) ?? [];
    expect(installDir, run.stderr).to.be.a('string');
    await expect(fs.access(installDir!)).to.be.rejectedWith(/ENOENT/);
    const ready = await execa('pg_isready', ['-h', host!, '-p', port!], { reject: false });
    expect(ready.exitCode, ready.stdout).to.equal(2); // no response: the cluster was stopped
    expect(run.stderr).to.include('Done. What happened:').and.include(`Look inside:  unzip -l ${json.archive}`);
  });
});
