import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { cpusAllowed, expandCpuList, type BackendTimes } from '../../scripts/bench/proc.js';
import type { LivePhases } from '../../scripts/bench/results.js';
import { processesNaming } from '../../src/sandbox/proc.js';
import { REPO } from '../support/cli.js';
import { expect } from '../support/expect.js';

/**
 * `npm run bench` is a script, not a test: its timings are never asserted here. What is tested is
 * what makes it safe to run on a shared machine: it measures only clusters it starts, it writes
 * its results, and it leaves nothing behind, also when interrupted. Each run gets its own TMPDIR,
 * so "nothing left" is a folder that is empty again.
 */
describe('the benchmark (npm run bench): safe to run, whatever happens', function () {
  this.timeout(10 * 60_000);
  let tmp: string;
  let out: string;
  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-bench-test-'));
    // The clusters run as the postgres user when the tests run as root: it must reach its folder.
    await fs.chmod(tmp, 0o755);
    out = path.join(tmp, 'results');
  });
  afterEach(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const bench = (args: string[], env: Record<string, string> = {}): ResultPromise<{ reject: false; all: true }> =>
    execa(process.execPath, ['--import', 'tsx', path.join(REPO, 'scripts', 'bench.ts'), '--tsx', '--out', out, ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TMPDIR: tmp, ...env },
      extendEnv: false,
      reject: false,
      all: true,
    });

  /** What is left in the run's TMPDIR besides the results (and tsx's compile cache, which is not the benchmark's). */
  const leftovers = async () => (await fs.readdir(tmp)).filter((name) => name !== 'results' && !name.startsWith('tsx-'));

  /** Processes whose command line names a path under the run's TMPDIR (a postmaster's -D). */
  const processesUnder = (dir: string) => processesNaming(dir, { under: true }).map(({ pid, args }) => `${pid}: ${args.join(' ')}`);

  for (const variable of ['PGHOST', 'PGPORT', 'CUPM_BACKUP_DIR']) {
    it(`refuses to run when ${variable} is set (it never measures a server it did not start), and starts nothing`, async () => {
      const run = await bench(['--size', '5MB', '--small-size', '0', '--runs', '1'], {
        [variable]: variable === 'PGPORT' ? '5432' : '/srv/cupm',
      });
      expect(run.exitCode, run.all).to.equal(2);
      expect(run.all).to.include(`refuses to run with ${variable} set`);
      expect(await leftovers()).to.deep.equal([]);
      await expect(fs.access(out)).to.be.rejected;
    });
  }

  for (const encrypted of [false, true]) {
    it(`a small run${encrypted ? ' with --encrypt (archives encrypted to a key made for the run)' : ''} measures both tools, writes JSON, Markdown and SVG, and removes its clusters and files`, async () => {
      const run = await bench(['--size', '4MB', '--small-size', '0', '--runs', '1', ...(encrypted ? ['--encrypt'] : [])]);
      expect(run.exitCode, run.all).to.equal(0);
      expect(run.all).to.match(/backup 1: cupm-backup [\d.]+ s, reference [\d.]+ s, ratio [\d.]+/);
      expect(run.all).to.match(/restore 1: cupm-backup [\d.]+ s, reference [\d.]+ s, ratio [\d.]+/);
      expect(run.all).to.match(/restore --live 1: [\d.]+ s, CUPM down [\d.]+ s \(stop \+ start alone: [\d.]+ s\)/);
      // Without --cpus, the servers may use every CPU the bench may.
      expect(run.all.match(/on CPUs [^)]+\)/g)).to.deep.equal(Array(2).fill(`on CPUs ${cpusAllowed(process.pid)})`));
      const written = (await fs.readdir(out)).sort();
      expect(written.map((f) => path.extname(f))).to.deep.equal(['.json', '.md', '.svg']);
      type Pair = {
        medianTool: number;
        machineCpuTool: number;
        machineCpuBaseline: number;
        ownCpuTool: number;
        tool: number[];
        baseline: number[];
        downtime: { tool: number[]; baseline: number[] };
      };
      const result = JSON.parse(await fs.readFile(path.join(out, written[0]!), 'utf8')) as {
        sizes: Array<{ backup: Pair; restore: Pair }>;
        tool: { encrypted: boolean };
      };
      expect(result.sizes).to.have.length(1);
      // CPU time is counted: the tool's own is part of the machine's, and no more than the machine had.
      for (const pair of [result.sizes[0]!.backup, result.sizes[0]!.restore]) {
        expect(pair.ownCpuTool).to.be.greaterThan(0);
        expect(pair.machineCpuTool).to.be.at.least(pair.ownCpuTool);
        expect(pair.machineCpuBaseline).to.be.greaterThan(0);
        expect(pair.machineCpuTool).to.be.at.most(pair.medianTool * os.availableParallelism() * 1.5);
        // CUPM's downtime, by the stand-in services' clocks: there was one, within the run.
        expect(pair.downtime.tool[0])
          .to.be.greaterThan(0)
          .and.at.most(pair.tool[0]! + 1000);
        expect(pair.downtime.baseline[0])
          .to.be.greaterThan(0)
          .and.at.most(pair.baseline[0]! + 1000);
      }
      expect(result.tool.encrypted).to.equal(encrypted);
      const markdown = await fs.readFile(path.join(out, written[1]!), 'utf8');
      expect(markdown).to.include('| backup time vs pg_dumpall > file');
      expect(markdown).to.match(/\| backup downtime vs stop \+ pg_dumpall > file \+ start \(0\.004 GB\) \| <= 1\.05 x \| [\d.]+ x \|/);
      expect(markdown).to.match(/\| restore: CUPM down, cupm-backup \(stand-ins' timestamps\) \| [\d.]+ s \|/);
      expect(markdown).to.match(
        /\| restore downtime onto a live server \(--live, 0\.004 GB\) \| <= 10 s \+ stop\/start \([\d.]+ s\) \| [\d.]+ s \|/,
      );
      expect(markdown).to.match(
        /\| restore --live total time vs stop \+ psql -X -f \+ start \(medians, 0\.004 GB\) \| <= 1\.05 x \| [\d.]+ x \|/,
      );
      expect(markdown).to.match(
        /\| backup: CPU, whole machine \(cupm-backup \/ pg_dumpall\) \| [\d.]+ s \/ [\d.]+ s \(on \d+ cores?, at least [\d.]+ s\) \|/,
      );
      // The backend that loaded, seen from the server's side (a 4 MB load may end between two samples: '-').
      for (const side of ['psql -X -f', 'restore --live'])
        expect(markdown).to.include(
          `| the backend that loads, ${side} (medians): alive = on a core + waiting for one + waiting for input, I/O or locks |`,
        );
      const [size] = (
        JSON.parse(await fs.readFile(path.join(out, written[0]!), 'utf8')) as {
          sizes: Array<{
            loadBackend: { psqlF: BackendTimes[]; live: BackendTimes[] };
            liveRestore: { ms: number[]; phases: LivePhases[] };
          }>;
        }
      ).sizes;
      const backends = size!.loadBackend;
      // Where each live run's time went, by its progress lines: the four parts add up to the run.
      expect(size!.liveRestore.phases).to.have.length(size!.liveRestore.ms.length);
      for (const [i, phases] of size!.liveRestore.phases.entries()) {
        expect(phases.loadMs).to.be.greaterThan(0);
        expect(phases.beforeLoadMs + phases.loadMs + phases.outageMs + phases.afterMs).to.be.closeTo(size!.liveRestore.ms[i]!, 1);
      }
      expect(markdown).to.match(/\| restore --live, where the time went \(medians\): [^|]+\| [\d.]+ \+ [\d.]+ \+ [\d.]+ \+ [\d.]+ s \|/);
      for (const times of [...backends.psqlF, ...backends.live]) {
        expect(times.cpuMs).to.be.greaterThan(0);
        expect(times.aliveMs).to.be.closeTo(times.cpuMs + times.runqueueMs + times.waitingMs, 1);
      }
      expect(markdown.includes('archives encrypted (age)')).to.equal(encrypted);
      expect(await fs.readFile(path.join(out, written[2]!), 'utf8')).to.match(/^<svg/);
      expect(await leftovers()).to.deep.equal([]);
      expect(processesUnder(tmp)).to.deep.equal([]);
    });
  }

  it('--cpus 1 runs the clusters and the tools on one CPU, and says so in its results', async () => {
    const first = expandCpuList(cpusAllowed(process.pid))[0]!;
    const run = await bench(['--size', '4MB', '--small-size', '0', '--runs', '1', '--cpus', '1']);
    expect(run.exitCode, run.all).to.equal(0);
    expect(run.all).to.include(`pinned to CPUs ${first} (--cpus 1)`);
    // Read from each postmaster's /proc status: pg_ctl started them, and they inherited the pinning.
    expect(run.all.match(/on CPUs [^)]+\)/g)).to.deep.equal([`on CPUs ${first})`, `on CPUs ${first})`]);
    const written = (await fs.readdir(out)).sort();
    expect(written[0]).to.match(/-1-cpus\.json$/);
    const result = JSON.parse(await fs.readFile(path.join(out, written[0]!), 'utf8')) as {
      machine: { cores: number; coresOnMachine: number };
    };
    expect(result.machine).to.include({ cores: 1, coresOnMachine: os.cpus().length });
    const markdown = await fs.readFile(path.join(out, written[1]!), 'utf8');
    expect(markdown).to.match(
      /\| backup: CPU, whole machine \(cupm-backup \/ pg_dumpall\) \| [\d.]+ s \/ [\d.]+ s \(on 1 core, at least [\d.]+ s\) \|/,
    );
    if (os.cpus().length > 1) expect(markdown).to.include(`${os.cpus().length} cores, this run pinned to 1 (--cpus)`);
    expect(await leftovers()).to.deep.equal([]);
  });

  it('refuses --cpus beyond the CPUs it may use, and starts nothing', async () => {
    const run = await bench(['--size', '4MB', '--small-size', '0', '--runs', '1', '--cpus', String(os.availableParallelism() + 1)]);
    expect(run.exitCode).to.equal(1);
    expect(run.all).to.include(
      `--cpus ${os.availableParallelism() + 1}: this machine lets the bench use ${os.availableParallelism()} CPUs`,
    );
    expect(await leftovers()).to.deep.equal([]);
    await expect(fs.access(out)).to.be.rejected;
  });

  it('reads CPU lists the way /proc writes them', () => {
    expect(expandCpuList('0')).to.deep.equal([0]);
    expect(expandCpuList('0-3')).to.deep.equal([0, 1, 2, 3]);
    expect(expandCpuList('0-1,4,6-7')).to.deep.equal([0, 1, 4, 6, 7]);
  });

  it('Ctrl-C in the middle of a measurement stops its processes and removes every cluster and temp file (exit 130)', async () => {
    const run = bench(['--size', '40MB', '--small-size', '0', '--runs', '3']);
    // Interrupt once a cluster holds data and the paired runs have begun.
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      run.all.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (/backup 1: /.test(seen)) resolve();
      });
      void run.then((r) => reject(new Error(`the benchmark ended before it was interrupted:\n${r.all}`)));
    });
    expect(processesUnder(tmp), 'a cluster was running before the interrupt').to.not.deep.equal([]);
    run.kill('SIGINT');
    const result = await run;
    expect(result.exitCode, result.all).to.equal(130);
    expect(result.all).to.include('SIGINT: stopping the benchmark and removing its clusters and files');
    expect(await leftovers()).to.deep.equal([]);
    expect(processesUnder(tmp)).to.deep.equal([]);
  });
});
