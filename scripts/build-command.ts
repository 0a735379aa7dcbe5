// node --import tsx scripts/build-command.ts — bundles the command (src/cli/main.ts and all it
// imports, dependencies included) into dist/command/: cupm-backup.js, which bin/cupm-backup runs,
// and the chunks it loads a command at a time (a folder per build: buildCommand). Part of
// `npm run build`; the tests run it too (test/support/build-command.ts), so they run what
// administrators run.
//
// Why a bundle: Node 20's ES module loader spends most of a start on resolving and reading some
// 400 files (our modules, execa's, zod's, the age library's): `restore` started in 0.34 s from
// tsc's output and starts in 0.18 s from the bundle (docs/performance.md). The library
// (dist/index.js) stays tsc's output.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO = fileURLToPath(new URL('..', import.meta.url));
export const COMMAND_DIR = path.join(REPO, 'dist', 'command');

/** How long a build is kept after it stopped being the current one. */
export const KEEP_SUPERSEDED_MS = 24 * 60 * 60 * 1000;

/**
 * Builds the bundle into `outdir` (the bench builds its own; the tests build a program of their
 * own, `entryPoint`).
 *
 * Each build is a folder of its own, outdir/builds/<content hash>-<random>/ (its cupm-backup.js
 * and chunks/), never changed once written; outdir/cupm-backup.js, which bin/cupm-backup runs, only
 * imports the current one, and is replaced atomically (written to a temporary name, renamed into
 * place) once that folder is whole. So a cupm-backup starting meanwhile (a test run beside another)
 * runs one build whole, and a process started from an earlier build still finds the chunks it
 * loads late (S3's, on first use) after a rebuild from changed sources. A rebuild of unchanged
 * sources keeps the current folder (only the entry file is written again: bin/cupm-backup compares
 * its time with the sources').
 *
 * A folder is removed once it has not been current for KEEP_SUPERSEDED_MS: a day, longer than any
 * job or test run. (Not longer than a `daemon`: one left running in a checkout that is rebuilt from
 * changed sources may miss a chunk a day later, as it would after `npm run build`, which removes
 * dist/ whole; an installed package is never rebuilt in place.) The folder's time (mtime) says when
 * it last was current: each build sets it on the folder it makes current and on the one it
 * replaces, before the switch. So dist/ holds the builds of the last day from changed sources, not
 * more. A build killed before its switch leaves a folder nothing runs, removed a day later as
 * well; one killed after it is whole.
 */
export async function buildCommand(
  outdir: string = COMMAND_DIR,
  entryPoint: string = path.join(REPO, 'src', 'cli', 'main.ts'),
): Promise<void> {
  const result = await build({
    entryPoints: { 'cupm-backup': entryPoint },
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // ssh2 (SFTP) loads compiled addons (.node files) next to its own sources: it stays in node_modules.
    external: ['ssh2', 'cpu-features'],
    // Dependencies written as CommonJS require() Node's modules; an ES module has no `require`.
    banner: { js: "import { createRequire as cupmCreateRequire } from 'node:module'; const require = cupmCreateRequire(import.meta.url);" },
    write: false,
    logLevel: 'warning',
  });
  // The files relative to the build's folder (the chunks import each other relatively).
  const files = result.outputFiles.map((file) => ({ name: path.relative(outdir, file.path), contents: file.contents }));
  files.sort((a, b) => (a.name < b.name ? -1 : 1));
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.name}\0${file.contents.length}\0`).update(file.contents);
  const digest = hash.digest('hex').slice(0, 16);

  const entry = path.join(outdir, 'cupm-backup.js');
  const builds = path.join(outdir, 'builds');
  const current = await currentBuild(entry);
  let id: string;
  if (current?.startsWith(`${digest}-`) && (await exists(path.join(builds, current, 'cupm-backup.js')))) {
    id = current;
  } else {
    id = `${digest}-${randomBytes(4).toString('hex')}`;
    for (const file of files) {
      const target = path.join(builds, id, file.name);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, file.contents);
    }
  }

  // The switch. The folder that stops being current (as the entry names it now; an entry of the
  // layout before builds/ was a whole bundle beside chunks/) and the one that becomes current are
  // marked as current until now first.
  const replaced = await currentBuild(entry);
  const now = new Date();
  for (const folder of [path.join(builds, id), replaced ? path.join(builds, replaced) : path.join(outdir, 'chunks')]) {
    await fs.utimes(folder, now, now).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  const temp = `${entry}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(temp, `// The current build (scripts/build-command.ts).\nimport './builds/${id}/cupm-backup.js';\n`);
  await fs.rename(temp, entry);

  // Builds not current for a day (and the chunks/ of the layout before builds/).
  const names = (await fs.readdir(builds)).map((name) => path.join(builds, name));
  const running = await currentBuild(entry);
  for (const folder of [...names, path.join(outdir, 'chunks')]) {
    const name = path.basename(folder);
    if (name === id || name === running) continue;
    const stat = await fs.stat(folder).catch(() => undefined);
    if (stat && now.getTime() - stat.mtimeMs > KEEP_SUPERSEDED_MS) await fs.rm(folder, { recursive: true, force: true });
  }
}

/** The build folder (in builds/) the entry file imports; undefined when there is no entry, or it is a bundle itself. */
async function currentBuild(entry: string): Promise<string | undefined> {
  const text = await fs.readFile(entry, 'utf8').catch(() => '');
  return /^import '\.\/builds\/([^/']+)\/cupm-backup\.js';$/m.exec(text)?.[1];
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildCommand();
