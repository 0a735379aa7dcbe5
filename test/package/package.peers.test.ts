import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { buildZip, typicalEntries } from '../support/archives.js';
import { REPO } from '../support/cli.js';

/**
 * The library surface as a user gets it: `npm pack` (which builds, prepack), the tarball unpacked
 * into a project's node_modules beside the dependencies (linked from this checkout's, so no
 * registry is asked), then imported from plain Node and type-checked from TypeScript.
 */
describe('the package: what npm pack ships is a library plain Node and TypeScript can use', function () {
  this.timeout(300_000);
  let dir: string;
  let project: string;
  let files: string[];

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-package-'));
    await execa('npm', ['pack', '--pack-destination', dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const [tarball] = (await fs.readdir(dir)).filter((name) => name.endsWith('.tgz'));
    expect(tarball, 'npm pack wrote a tarball').to.be.a('string');
    files = (await execa('tar', ['-tzf', path.join(dir, tarball!)])).stdout.split('\n');
    project = path.join(dir, 'project');
    const modules = path.join(project, 'node_modules');
    await fs.mkdir(modules, { recursive: true });
    await execa('tar', ['-xzf', path.join(dir, tarball!), '-C', dir]);
    await fs.rename(path.join(dir, 'package'), path.join(modules, 'cupm-backup'));
    // Of the type packages only those the package depends on and @types/node, as in a user's
    // project: the declarations must not need the ones this checkout has for its development.
    for (const name of await fs.readdir(path.join(REPO, 'node_modules'))) {
      if (!name.startsWith('.') && name !== '@types') await fs.symlink(path.join(REPO, 'node_modules', name), path.join(modules, name));
    }
    const shipped = JSON.parse(await fs.readFile(path.join(modules, 'cupm-backup', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    await fs.mkdir(path.join(modules, '@types'));
    for (const name of ['@types/node', ...Object.keys(shipped.dependencies).filter((d) => d.startsWith('@types/'))]) {
      await fs.symlink(path.join(REPO, 'node_modules', name), path.join(modules, name));
    }
    await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'nightly-job', private: true, type: 'module' }));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('ships the build with its declarations and the command, not the sources or the tests', () => {
    for (const file of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/command/cupm-backup.js',
      'package/bin/cupm-backup',
      'package/package.json',
    ]) {
      expect(files, file).to.include(file);
    }
    expect(files.filter((f) => /^package\/(src|test|scripts)\//.test(f))).to.deep.equal([]);
  });

  it('the installed command runs its bundle: the version, and a command loaded on demand (restore) answering', async () => {
    const bin = path.join(project, 'node_modules', 'cupm-backup', 'bin', 'cupm-backup');
    const run = (args: string[]) =>
      execa(process.execPath, ['--', bin, ...args], {
        cwd: project,
        env: { PATH: process.env.PATH ?? '' },
        extendEnv: false,
        reject: false,
      });
    const version = await run(['--version']);
    expect(version.exitCode, version.stderr).to.equal(0);
    const shipped = JSON.parse(await fs.readFile(path.join(project, 'node_modules', 'cupm-backup', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.stdout.trim()).to.equal(shipped.version);
    // No settings: restore's own check answers (usage, exit 2), so its chunks loaded and ran.
    const restore = await run(['restore', path.join(project, 'no-such-archive.zip')]);
    expect(restore.exitCode, restore.stderr).to.equal(2);
    expect(restore.stderr).to.contain('CUPM_INSTALL_DIR is not set');
  });

  it('imports from plain Node (ESM): the jobs are there and verify reads an archive; internals stay closed', async () => {
    const archive = path.join(dir, 'good.zip');
    await buildZip(archive, typicalEntries());
    await fs.writeFile(
      path.join(project, 'job.mjs'),
      `import { backup, verify, restore, migrate, loadConfig, CupmError, EXIT, TOOL_VERSION } from 'cupm-backup';
const report = await verify(process.argv[2]);
let refused;
try {
  loadConfig({ env: { CUPM_SERVICE_MANAGER: 'launchd' }, cwd: process.cwd() });
} catch (error) {
  refused = error instanceof CupmError ? { exitCode: error.exitCode, problems: error.problems.length } : String(error);
}
let internal;
try {
  await import('cupm-backup/dist/cli/main.js');
} catch (error) {
  internal = error.code;
}
process.stdout.write(JSON.stringify({
  jobs: [backup, verify, restore, migrate].map((f) => typeof f),
  ok: report.ok, entries: report.manifest?.entries.length, problems: report.problems,
  refused, usage: EXIT.usage, version: TOOL_VERSION, internal,
}));
`,
    );
    const run = await execa(process.execPath, ['job.mjs', archive], {
      cwd: project,
      reject: false,
      env: { PATH: process.env.PATH ?? '' },
      extendEnv: false,
    });
    expect(run.exitCode, run.stderr).to.equal(0);
    // Importing the library runs no command: the job's one line is all there is on stdout.
    expect(JSON.parse(run.stdout)).to.deep.equal({
      jobs: ['function', 'function', 'function', 'function'],
      ok: true,
      entries: Object.keys(typicalEntries()).length,
      problems: [],
      refused: { exitCode: 2, problems: 1 },
      usage: 2,
      version: JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')).version,
      internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  it('type-checks a TypeScript consumer against the shipped declarations, and they are not `any`', async () => {
    await fs.writeFile(
      path.join(project, 'nightly.ts'),
      `import { backup, verify, restore, migrate, loadConfig, CupmError, EXIT } from 'cupm-backup';
import type { BackupOptions, BackupResult, Config, MigrateOptions, RestoreOptions, RestoreResult, VerifyReport, ExitCode } from 'cupm-backup';

const config: Config = loadConfig({ envFile: '/etc/cupm-backup.env' });

export async function nightly(): Promise<string> {
  const options: BackupOptions = { label: 'nightly', allowLive: false };
  const result: BackupResult = await backup(config, options);
  const report: VerifyReport = await verify(result.archive, { keys: result.keys });
  if (!report.ok) throw new Error(report.problems.join('\\n'));
  return result.archive;
}

export async function move(archive: string): Promise<RestoreResult> {
  const dryRun: RestoreOptions = { dryRun: true };
  await restore(config, archive, dryRun);
  const options: MigrateOptions = { dbHost: 'db.example.com', autoPorts: true };
  return migrate(config, archive, options);
}

export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof CupmError ? error.exitCode : EXIT.failed;
}

export async function wrong(): Promise<void> {
  // @ts-expect-error a label is text
  await backup(config, { label: 42 });
  // @ts-expect-error migrate needs the database host of the new server
  await migrate(config, 'old.zip', {});
  // @ts-expect-error a report has no such field
  (await verify('a.zip')).valid;
}
`,
    );
    await fs.writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        files: ['nightly.ts'],
      }),
    );
    const check = await execa(path.join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', project], { cwd: project, reject: false });
    expect(check.exitCode, check.stdout + check.stderr).to.equal(0);
  });
});
