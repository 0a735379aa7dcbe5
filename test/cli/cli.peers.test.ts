import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { buildZip, manifestFor, typicalEntries } from '../support/archives.js';

describe('the command line', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-cli-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('shows help for every command, with exit 0', async () => {
    for (const args of [['--help'], ['backup', '--help'], ['verify', '--help'], ['list', '--help']]) {
      const run = await runCli(args);
      expect(run.exitCode, args.join(' ')).to.equal(0);
      expect(run.stdout).to.match(/Usage: cupm-backup/);
    }
  });

  it('calls an unknown command a usage error (exit 2)', async () => {
    const run = await runCli(['frobnicate']);
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.match(/unknown command 'frobnicate'/);
  });

  it('reads settings from --env-file (Node itself does not swallow the flag)', async () => {
    const backups = path.join(dir, 'from-env-file');
    await fs.mkdir(backups);
    await buildZip(path.join(backups, 'cupm-backup_old_20261101T020000Z.zip'), typicalEntries());
    await fs.writeFile(path.join(dir, 'site.env'), `CUPM_BACKUP_DIR=${backups}\n`);
    const run = await runCli(['list', '--json', '--env-file', path.join(dir, 'site.env')]);
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.json<{ dir: string; archives: unknown[] }>()).to.deep.include({ dir: backups }).and.have.property('archives').with.length(1);
  });

  it('names a missing --env-file with exit 2', async () => {
    const run = await runCli(['list', '--env-file', path.join(dir, 'missing.env')]);
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.contain(`Cannot read the env file ${path.join(dir, 'missing.env')}`);
  });

  it('reads ./cupm-backup.env from the working directory', async () => {
    const work = path.join(dir, 'work');
    await fs.mkdir(path.join(work, 'bk'), { recursive: true });
    await fs.writeFile(path.join(work, 'cupm-backup.env'), 'CUPM_BACKUP_DIR=bk\n');
    const run = await runCli(['list', '--json'], { cwd: work });
    expect(run.json<{ dir: string }>().dir).to.equal(path.join(work, 'bk'));
  });

  it('reports all configuration problems at once with exit 2, also as JSON', async () => {
    const run = await runCli(['backup', '--json'], { env: { PGPORT: 'x', CUPM_SERVICE_MANAGER: 'launchd', CUPM_INSTALL_DIR: dir } });
    expect(run.exitCode).to.equal(2);
    const result = run.json<{ ok: boolean; exitCode: number; error: { problems: string[] } }>();
    expect(result).to.include({ ok: false, exitCode: 2 });
    expect(result.error.problems).to.have.length(2);
  });

  it('verifies an archive: exit 3, each problem named, and still one JSON object', async () => {
    const entries = typicalEntries();
    const good = path.join(dir, 'good.zip');
    await buildZip(good, entries);
    expect((await runCli(['verify', good])).exitCode).to.equal(0);
    const damaged = path.join(dir, 'damaged.zip');
    // The manifest describes the original entries; one entry's bytes were changed since.
    await buildZip(damaged, { ...entries, 'files/install.log': 'tampered!' }, manifestFor(entries));
    const run = await runCli(['verify', damaged, '--json']);
    expect(run.exitCode).to.equal(3);
    expect(run.json<{ ok: boolean; problems: string[] }>()).to.include({ ok: false });
    expect(run.json<{ problems: string[] }>().problems.join('\n')).to.match(/files\/install\.log/);
    expect(run.stderr).to.match(/is NOT valid/);
    // The one error path every command's --json failure takes: the report, and the error object.
    const failure = run.json<{ exitCode: number; error: { type: string; message: string; problems: string[]; hint: string | null } }>();
    expect(failure.exitCode).to.equal(3);
    expect(failure.error.type).to.equal('ArchiveInvalidError');
    expect(failure.error.message).to.match(/is NOT valid/);
    expect(failure.error.problems.join('\n')).to.match(/files\/install\.log/);
    expect(failure.error.hint).to.match(/do not restore from it/);
  });
});
