// node --import tsx scripts/build-command.ts — bundles the command (src/cli/main.ts and all it
// imports, dependencies included) into dist/command/: cupm-backup.js, which bin/cupm-backup runs,
// and the chunks it loads a command at a time. Part of `npm run build`; the tests run it too
// (test/support/build-command.ts), so they run what administrators run.
//
// Why a bundle: Node 20's ES module loader spends most of a start on resolving and reading some
// 400 files (our modules, execa's, zod's, the age library's): `restore` started in 0.34 s from
// tsc's output and starts in 0.18 s from the bundle (docs/performance.md). The library
// (dist/index.js) stays tsc's output.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO = fileURLToPath(new URL('..', import.meta.url));
export const COMMAND_DIR = path.join(REPO, 'dist', 'command');

/**
 * Builds the bundle into `outdir` (the bench builds its own). Each file is written to a temporary
 * name and renamed into place, chunks before the entry, so a cupm-backup starting meanwhile (a
 * test run beside another) reads either build whole. Chunks of earlier builds are removed after:
 * a process of an earlier build that still has a chunk to load (S3's, on first use) would not find
 * it, which only a rebuild from changed sources during a run can cause.
 */
export async function buildCommand(outdir: string = COMMAND_DIR): Promise<void> {
  const result = await build({
    entryPoints: { 'cupm-backup': path.join(REPO, 'src', 'cli', 'main.ts') },
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
  const written = new Set<string>();
  const entry = path.join(outdir, 'cupm-backup.js');
  const files = [...result.outputFiles].sort((a, b) => Number(a.path === entry) - Number(b.path === entry));
  for (const file of files) {
    await fs.mkdir(path.dirname(file.path), { recursive: true });
    const temp = `${file.path}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(temp, file.contents);
    await fs.rename(temp, file.path);
    written.add(file.path);
  }
  const chunks = path.join(outdir, 'chunks');
  for (const name of await fs.readdir(chunks)) {
    const file = path.join(chunks, name);
    if (!written.has(file) && !name.endsWith('.tmp')) await fs.rm(file, { force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildCommand();
