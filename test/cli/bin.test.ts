import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { REPO } from '../support/cli.js';

/**
 * bin/cupm-backup, copied into a tree of its own with a stand-in src/ and dist/: which of them it
 * runs, and when it refuses. The times of the files are set, not waited for.
 */
describe('bin/cupm-backup runs the build, and the sources only when asked', () => {
  let root: string;
  const SOURCE = path.join('src', 'cli', 'main.ts');
  const BUILT = path.join('dist', 'command', 'cupm-backup.js');
  const built = new Date('2026-12-01T10:00:00Z');

  const run = (env: Record<string, string> = {}) =>
    execa(process.execPath, ['--', path.join(root, 'bin', 'cupm-backup'), '--version'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      extendEnv: false,
      reject: false,
      cwd: root,
    });
  const touch = (file: string, at: Date) => fs.utimes(path.join(root, file), at, at);

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-bin-'));
    await fs.mkdir(path.join(root, 'bin'));
    await fs.copyFile(path.join(REPO, 'bin', 'cupm-backup'), path.join(root, 'bin', 'cupm-backup'));
    await fs.symlink(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'));
    await fs.writeFile(path.join(root, 'package.json'), JSON.stringify({ type: 'module' }));
    await fs.mkdir(path.join(root, 'src', 'cli'), { recursive: true });
    // Type annotations: only tsx can run this one.
    await fs.writeFile(
      path.join(root, SOURCE),
      "const ran: string = 'the sources';\nprocess.stdout.write(`${ran} ran: ${process.argv.slice(2).join(' ')}`);\n",
    );
    await fs.mkdir(path.dirname(path.join(root, BUILT)), { recursive: true });
    await fs.writeFile(path.join(root, BUILT), "process.stdout.write(`the build ran: ${process.argv.slice(2).join(' ')}`);\n");
    await touch(SOURCE, new Date(built.getTime() - 60_000));
    await touch(BUILT, built);
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('runs dist/ when it is newer than every source, with the arguments given', async () => {
    const result = await run();
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('the build ran: --version');
  });

  it('refuses a dist/ older than a source (exit 2), naming the file and the command to run', async () => {
    await touch(SOURCE, new Date(built.getTime() + 60_000));
    const result = await run();
    expect(result.exitCode).to.equal(2);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.contain('dist/ is older than the sources (src/cli/main.ts changed since the last build)');
    expect(result.stderr).to.contain('npm run build').and.contain('CUPM_BACKUP_DEV=1');
  });

  it('refuses a checkout that was never built (exit 2)', async () => {
    await fs.rm(path.join(root, 'dist'), { recursive: true });
    const result = await run();
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.contain('cupm-backup is not built').and.contain('npm run build');
  });

  it('runs the sources through tsx with CUPM_BACKUP_DEV=1, however old dist/ is', async () => {
    await touch(SOURCE, new Date(built.getTime() + 60_000));
    const result = await run({ CUPM_BACKUP_DEV: '1' });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('the sources ran: --version');
  });

  it('an installed package (no src/) runs dist/ without looking at times', async () => {
    await fs.rm(path.join(root, 'src'), { recursive: true });
    const result = await run();
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('the build ran: --version');
  });
});
