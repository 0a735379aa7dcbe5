import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';

describe('list and verify of paths that do not exist', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-missing-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('list before the first backup (the backup dir does not exist yet) says so, without a stack trace (exit 0)', async () => {
    const backupDir = path.join(dir, 'backups');
    const result = await runCli(['list'], { env: { CUPM_BACKUP_DIR: backupDir } });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.contain(`No archives yet: the backup folder ${backupDir} does not exist`);
    expect(result.stderr).not.to.match(/internal error|at .*\.ts:\d+/);
    const json = await runCli(['list', '--json'], { env: { CUPM_BACKUP_DIR: backupDir } });
    expect(json.json()).to.deep.equal({ dir: backupDir, exists: false, archives: [] });
  });

  it('list of a folder named on the command line that does not exist: "No such folder" (exit 2), no stack trace', async () => {
    const result = await runCli(['list', path.join(dir, 'nope')]);
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.contain(`No such folder: ${path.join(dir, 'nope')}`);
    expect(result.stderr).not.to.match(/internal error|at .*\.ts:\d+/);
  });

  it('verify of a missing file says "no such file" (exit 2), not that the archive is invalid', async () => {
    const missing = path.join(dir, 'cupm-backup_h_20261125T020000Z.zip');
    const result = await runCli(['verify', missing]);
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.contain(`No such file: ${missing}`);
    expect(result.stderr).not.to.match(/NOT valid/);
  });
});
