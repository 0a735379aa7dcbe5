import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { buildCommand } from '../../scripts/build-command.js';
import { expect } from '../support/expect.js';
import { waitFor } from '../support/faults.js';

/**
 * scripts/build-command.ts on a program of its own (a command loading a module late, as the real
 * one loads S3's chunk on first use), built into a temporary dist/command/. The times of folders
 * are set, not waited for.
 */
describe('the command build: a rebuild never takes a chunk from a process that still needs it', function () {
  this.timeout(120_000);
  let root: string;
  let outdir: string;
  const main = () => path.join(root, 'src', 'main.ts');
  const entry = () => path.join(outdir, 'cupm-backup.js');
  /** The program: says it started, waits for a line on stdin, then loads lazy.ts and prints its word. */
  const writeSources = async (word: string) => {
    await fs.writeFile(path.join(root, 'src', 'lazy.ts'), `export const word: string = ${JSON.stringify(word)};\n`);
  };
  const builds = async () => (await fs.readdir(path.join(outdir, 'builds'))).sort();
  const current = async () => /import '\.\/builds\/([^/']+)\/cupm-backup\.js'/.exec(await fs.readFile(entry(), 'utf8'))?.[1];
  const age = async (file: string, days: number) => {
    const at = new Date(Date.now() - days * 24 * 60 * 60 * 1000);
    await fs.utimes(file, at, at);
  };
  const run = () => execa(process.execPath, [entry()], { input: '\n', reject: false });

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-build-command-'));
    outdir = path.join(root, 'dist', 'command');
    await fs.mkdir(path.join(root, 'src'));
    await fs.writeFile(
      main(),
      [
        "process.stdout.write('started\\n');",
        "await new Promise((resolve) => process.stdin.once('data', resolve));",
        "const { word } = await import('./lazy.js');",
        'process.stdout.write(`${word}\\n`);',
        'process.stdin.destroy();',
        '',
      ].join('\n'),
    );
    await writeSources('first');
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('a process started from the previous build loads its late chunk after a rebuild from changed sources', async () => {
    await buildCommand(outdir, main());
    const early = execa(process.execPath, [entry()], { stdin: 'pipe', reject: false });
    let output = '';
    early.stdout.on('data', (data: Buffer) => (output += data.toString()));
    await waitFor('the first build to start', async () => {
      expect(early.exitCode, output).to.equal(null);
      return output.includes('started') ? true : undefined;
    });

    await writeSources('second');
    await buildCommand(outdir, main());
    early.stdin.end('go');
    const result = await early;
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('started\nfirst');
    expect((await run()).stdout, 'a process started now runs the new build').to.equal('started\nsecond');
    expect(await builds()).to.have.length(2);
  });

  it('keeps a build for a day after it stopped being current, however long it was, then removes it', async () => {
    await buildCommand(outdir, main());
    const first = (await current())!;
    // Current for two days, replaced now: a process started a moment ago may still need it.
    await age(path.join(outdir, 'builds', first), 2);
    await writeSources('second');
    await buildCommand(outdir, main());
    const second = (await current())!;
    expect(second).to.not.equal(first);
    expect(await builds()).to.deep.equal([first, second].sort());

    // Replaced two days ago; and a folder of a build killed before its switch, as old.
    await age(path.join(outdir, 'builds', first), 2);
    await fs.mkdir(path.join(outdir, 'builds', 'killed-build', 'chunks'), { recursive: true });
    await age(path.join(outdir, 'builds', 'killed-build'), 2);
    await writeSources('third');
    await buildCommand(outdir, main());
    const third = (await current())!;
    expect(await builds()).to.deep.equal([second, third].sort());
    expect((await run()).stdout).to.equal('started\nthird');
  });

  it('a rebuild of unchanged sources keeps the current build and writes the entry file again (bin/cupm-backup compares its time)', async () => {
    await buildCommand(outdir, main());
    const first = await current();
    await age(path.join(outdir, 'builds', first!), 2);
    await age(entry(), 2);
    await buildCommand(outdir, main());
    expect(await current()).to.equal(first);
    expect(await builds()).to.deep.equal([first]);
    expect((await fs.stat(entry())).mtimeMs).to.be.above(Date.now() - 60 * 60 * 1000);
    expect((await run()).stdout).to.equal('started\nfirst');
  });

  it('the layout before builds/ (a whole bundle beside chunks/): its chunks are kept a day after the switch too', async () => {
    await fs.mkdir(path.join(outdir, 'chunks'), { recursive: true });
    await fs.writeFile(path.join(outdir, 'chunks', 'lazy-OLD.js'), "export const word = 'old';\n");
    await fs.writeFile(entry(), "const { word } = await import('./chunks/lazy-OLD.js');\nprocess.stdout.write(word);\n");
    await age(path.join(outdir, 'chunks'), 2);
    await buildCommand(outdir, main());
    await fs.access(path.join(outdir, 'chunks', 'lazy-OLD.js'));

    await age(path.join(outdir, 'chunks'), 2);
    await buildCommand(outdir, main());
    await expect(fs.access(path.join(outdir, 'chunks'))).to.be.rejected;
    expect((await run()).stdout).to.equal('started\nfirst');
  });
});
