// npm run bench [-- --size 1GB --small-size 0.25GB --runs 3 [--encrypt] | --phones 60000 | --size 5GB --scale-check | --s3 [--size 1GB]]
//
// cupm-backup against the bare PostgreSQL tools on the same data, the same machine, in one run:
// backup vs `pg_dumpall > file`, restore vs `psql -X -f dump.sql`, in alternating pairs; verify
// throughput; archive size vs gzip -6; peak RSS of the tool's own process; two sizes. Results go
// to bench/results/ as JSON, Markdown and SVG. A script, not a test.
//
// It only ever talks to the clusters it starts: every child process gets an environment built
// here from nothing (no PG*, no CUPM_* inherited), each cluster carries a random cluster_name that
// is checked before anything is dropped, and it refuses to start when PG*/CUPM_* connection
// settings are set (whoever set them may think the benchmark uses them: it never does).
// Ctrl-C / SIGTERM stop the running processes and remove every cluster and temp file.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { execa } from 'execa';
import { DEFAULT_COMPRESSION_LEVEL } from '../src/archive/writer.js';
import { findServerBinDir, startCluster, type Cluster } from '../src/sandbox/cluster.js';
import { createInstallTree } from '../src/sandbox/install-tree.js';
import { createStandinWorld, downtimeOf, type StandinWorld } from '../src/sandbox/standin-services.js';
import { DEFAULT_SERVICES } from '../src/config/config.js';
import { DEFAULT_LOAD_JOBS } from '../src/restore/prepare.js';
import { chart } from './bench/chart.js';
import { Cleanup } from './bench/cleanup.js';
import { cpusAllowed, machineBusyMs, pinToCpus, syncPageCache, watchBusiestBackend, type BackendTimes } from './bench/proc.js';
import { createCupmData, phonesForDumpSize, settle } from './bench/cupm-data.js';
import { median, runMeasured, type Measured } from './bench/measure.js';
import { parseBenchOptions, type BenchOptions } from './bench/options.js';
import { benchS3, s3Markdown } from './bench/s3.js';
import { judge, livePhases, markdown, pairOf, type BenchResult, type SizeResult } from './bench/results.js';
import { buildCommand } from './build-command.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const log = (line: string) => process.stderr.write(line + '\n');
const cleanup = new Cleanup();

/** Variables that point a PostgreSQL client or cupm-backup somewhere: the benchmark refuses them. */
const FOREIGN = /^(?:PGHOST|PGHOSTADDR|PGPORT|PGUSER|PGPASSWORD|PGDATABASE|PGSERVICE|PGSERVICEFILE|PGPASSFILE|CUPM_.*)$/;

/** The program under test: a build of the checkout (as installed), or the checkout through tsx. */
interface Tool {
  file: string;
  args: string[];
  how: string;
  /** Settings of its own (CUPM_BACKUP_DEV for --tsx). */
  env?: Record<string, string>;
}

/** restore --jobs as the bench was told (none: the tool's default). */
function jobsArgs(options: BenchOptions): string[] {
  return options.jobs === undefined ? [] : ['--jobs', String(options.jobs)];
}

/** A cluster of ours, with its proof of identity. */
interface OwnCluster {
  cluster: Cluster;
  nonce: string;
  destroy: () => Promise<void>;
}

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv);
  const foreign = Object.keys(process.env).filter((name) => FOREIGN.test(name));
  if (foreign.length > 0) {
    log(
      `The benchmark refuses to run with ${foreign.join(', ')} set: it only ever measures the throwaway clusters it starts, ` +
        'and never reads connection settings from the environment. Unset them (e.g. env -u PGHOST npm run bench) and run again.',
    );
    process.exitCode = 2;
    return;
  }
  cleanup.installSignalHandlers(log);
  try {
    await run(options);
  } finally {
    await cleanup.run(log);
  }
}

async function run(options: BenchOptions): Promise<void> {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'cupm-bench-'));
  // Retried: a process stopped a moment before may still be closing files in it.
  cleanup.add(`temp folder ${work}`, () => fsp.rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  const tool = await prepareTool(options);
  if (options.cpus !== undefined)
    log(`pinned to CPUs ${await pinToCpus(options.cpus)} (--cpus ${options.cpus}): the clusters and the tools it starts inherit it`);
  level = options.level;
  if (options.encrypt) encryption = await makeRunKey(work);
  log(`cupm-backup under test: ${tool.how}`);

  if (options.s3) {
    const result = await benchS3(cleanup, work, options.size, tool, log);
    const base = path.join(path.resolve(ROOT, options.outDir), `bench-s3-${stamp(startedAt)}`);
    await fsp.mkdir(path.dirname(base), { recursive: true });
    await fsp.writeFile(
      `${base}.json`,
      JSON.stringify({ startedAt: startedAt.toISOString(), loadAtStart, tool: tool.how, ...result }, null, 2) + '\n',
    );
    await fsp.writeFile(`${base}.md`, s3Markdown(result));
    log(`\n${s3Markdown(result)}\nwritten: ${base}.json, ${base}.md`);
    return;
  }
  if (options.scaleCheck) {
    await scaleCheck(options, tool, work, startedAt);
    return;
  }
  const sizes: SizeResult[] = [];
  const plan = options.phones
    ? [{ phones: options.phones, label: `${options.phones.toLocaleString('en-US')} phones` }]
    : [options.smallSize, options.size].filter((b) => b > 0).map((b) => ({ phones: phonesForDumpSize(b), label: `${b / 1e9} GB` }));
  for (const { phones, label } of plan) sizes.push(await benchSize(options, tool, work, phones, label));

  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: await machineFacts(loadAtStart),
    tool: {
      how: tool.how,
      compressionLevel: options.level ?? DEFAULT_COMPRESSION_LEVEL,
      encrypted: options.encrypt,
      restoreJobs: options.jobs ?? DEFAULT_LOAD_JOBS,
    },
    runs: options.runs,
    sizes,
    targets: judge(sizes),
  };
  const base = path.join(
    path.resolve(ROOT, options.outDir),
    `bench-${stamp(startedAt)}${options.phones ? `-${options.phones}-phones` : ''}${options.encrypt ? '-encrypted' : ''}${options.cpus ? `-${options.cpus}-cpus` : ''}`,
  );
  await fsp.mkdir(path.dirname(base), { recursive: true });
  await fsp.writeFile(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  await fsp.writeFile(`${base}.md`, markdown(result));
  await fsp.writeFile(`${base}.svg`, chart(result));
  process.stdout.write(markdown(result));
  log(`\nResults: ${base}.json, .md, .svg`);
}

/** One size: generate, then backup pairs, sizes, verify runs, restore pairs. */
async function benchSize(options: BenchOptions, tool: Tool, work: string, phones: number, label: string): Promise<SizeResult> {
  log(`\n== ${label}: ${phones.toLocaleString('en-US')} phones`);
  const dir = path.join(work, label.replace(/\W+/g, '-'));
  const source = await ownCluster('source', dir);
  const generated = Date.now();
  await createCupmData(source.cluster, { phones, rolePassword: 'bench-app-pw', niceHost: '192.0.2.10' });
  const generateMs = Date.now() - generated;
  const counts = await rowCounts(source.cluster);
  log(
    `generated in ${(generateMs / 1000).toFixed(0)} s: ${Object.entries(counts)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
  const sourceInstall = path.join(dir, 'source-cupm');
  await createInstallTree(sourceInstall, { dbHost: source.cluster.host, dbPort: source.cluster.port });

  // Backup: cupm-backup backup (stopping the stand-in services) vs the manual procedure: stop,
  // pg_dumpall > file, start. Both sides' downtime comes from the stand-ins' own timeline.
  const archives = path.join(dir, 'archives');
  const dump = path.join(dir, 'dump.sql');
  const services = await standinServices(dir);
  const sourceEnv = toolEnv(source.cluster, sourceInstall, archives);
  let archive = '';
  const backupRuns: Measured[] = [];
  const backupRunsPaired = await alternate(
    options.runs,
    'backup',
    async () => {
      await fsp.rm(archives, { recursive: true, force: true });
      await syncPageCache();
      const measured = await withDowntime(services, () => runTool(tool, ['backup', '--json'], { ...sourceEnv, ...services.env() }));
      archive = (JSON.parse(measured.stdout) as { archive: string }).archive;
      backupRuns.push(measured);
      return measured;
    },
    async () => {
      await syncPageCache();
      return manualProcedure(services, () =>
        runMeasured(cleanup, path.join(source.cluster.binDir, 'pg_dumpall'), [], { env: pgEnv(source.cluster), stdout: { file: dump } }),
      );
    },
  );
  const dumpBytes = (await fsp.stat(dump)).size;
  const archiveBytes = (await fsp.stat(archive)).size;
  const gz = path.join(dir, 'dump.sql.gz');
  const gzip = await runMeasured(cleanup, 'gzip', ['-6', '-c', dump], { env: baseEnv(), stdout: { file: gz } });
  const gzipBytes = (await fsp.stat(gz)).size;
  await fsp.rm(gz);
  log(`sizes: dump ${dumpBytes}, archive ${archiveBytes}, gzip -6 ${gzipBytes} (archive/gzip ${(archiveBytes / gzipBytes).toFixed(3)})`);

  // Verify and program start.
  const verifyRuns: Measured[] = [];
  let verifiedBytes = 0;
  for (let i = 0; i < options.runs; i++) {
    const measured = await runTool(tool, ['verify', '--json', archive], sourceEnv);
    verifiedBytes = (JSON.parse(measured.stdout) as { bytesChecked: number }).bytesChecked;
    verifyRuns.push(measured);
    log(`verify ${i + 1}: ${(measured.ms / 1000).toFixed(2)} s, ${(verifiedBytes / 1e6 / (measured.ms / 1000)).toFixed(0)} MB/s`);
  }
  const startupRuns: Measured[] = [];
  for (let i = 0; i < options.runs; i++) startupRuns.push(await runTool(tool, ['--version'], sourceEnv));

  // Restore: the same empty target before each run (no cupm database, no cupm role).
  await source.destroy();
  const target = await ownCluster('target', dir);
  const targetInstall = path.join(dir, 'target-cupm');
  await createInstallTree(targetInstall, { dbHost: target.cluster.host, dbPort: target.cluster.port });
  const targetEnv = toolEnv(target.cluster, targetInstall, path.join(dir, 'restore-work'));
  const restoreRuns: Measured[] = [];
  // Restore onto a live server (--live): right after each psql -f run, onto the cupm it loaded,
  // so a drift in the machine's load hits both alike; CUPM is down for the swap only. The
  // services' stop and start alone, for the target's "+ stop/start".
  const stopStart = await manualProcedure(services, async () => ({
    ms: 0,
    peakRss: 0,
    machineCpuMs: 0,
    ownCpuMs: 0,
    stdout: '',
    stderr: '',
    stderrLines: [],
  }));
  const liveRuns: Measured[] = [];
  // The backend that loads, in the psql -f runs and the --live ones: how long it waited for input.
  const loadBackends: { psqlF: BackendTimes[]; live: BackendTimes[] } = { psqlF: [], live: [] };
  const watchingTheLoad = async (into: BackendTimes[], run: () => Promise<Measured>): Promise<Measured> => {
    const watch = watchBusiestBackend(target.cluster.dataDir);
    try {
      return await run();
    } finally {
      const times = watch.stop();
      if (times) into.push(times);
    }
  };
  const liveRestore = async () => {
    const measured = await watchingTheLoad(loadBackends.live, () =>
      withDowntime(services, () =>
        runTool(tool, ['restore', archive, '--yes', '--live', '--json', ...jobsArgs(options)], { ...targetEnv, ...services.env() }),
      ),
    );
    liveRuns.push(measured);
    await checkRestored(target.cluster, counts, 'cupm-backup restore --live');
    const phases = livePhases(measured.stderrLines, measured.ms);
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    log(
      `restore --live ${liveRuns.length}: ${(measured.ms / 1000).toFixed(1)} s, CUPM down ${((measured.downtimeMs ?? 0) / 1000).toFixed(1)} s (stop + start alone: ${((stopStart.downtimeMs ?? 0) / 1000).toFixed(1)} s)` +
        (phases
          ? `; to the load ${sec(phases.beforeLoadMs)} s, load ${sec(phases.loadMs)} s, outage ${sec(phases.outageMs)} s, drop and ANALYZE ${sec(phases.afterMs)} s`
          : ''),
    );
  };
  const restoreRunsPaired = await alternate(
    options.runs,
    'restore',
    async () => {
      await emptyTarget(target);
      const measured = await withDowntime(services, () =>
        runTool(tool, ['restore', archive, '--yes', '--json', ...jobsArgs(options)], { ...targetEnv, ...services.env() }),
      );
      restoreRuns.push(measured);
      await checkRestored(target.cluster, counts, 'cupm-backup restore');
      return measured;
    },
    async () => {
      await emptyTarget(target);
      const measured = await watchingTheLoad(loadBackends.psqlF, () =>
        manualProcedure(services, () =>
          runMeasured(cleanup, path.join(target.cluster.binDir, 'psql'), ['-X', '-q', '-d', 'postgres', '-f', dump], {
            env: pgEnv(target.cluster),
            stdout: 'ignore',
          }),
        ),
      );
      await checkRestored(target.cluster, counts, 'psql -f');
      // A live restore replaces a database that has run for a while, not one loaded a second ago.
      await settle(target.cluster, 'cupm');
      await liveRestore();
      return measured;
    },
  );
  await target.destroy();
  await services.destroy();
  await fsp.rm(dir, { recursive: true, force: true });

  const verifyMs = median(verifyRuns.map((r) => r.ms));
  const startupMs = median(startupRuns.map((r) => r.ms));
  const peak = (runs: Measured[]) => Math.max(...runs.map((r) => r.peakRss));
  return {
    label,
    phones,
    generateMs,
    dumpBytes,
    archiveBytes,
    gzipBytes,
    gzipMs: gzip.ms,
    backup: pairOf(backupRunsPaired.a, backupRunsPaired.b),
    restore: pairOf(restoreRunsPaired.a, restoreRunsPaired.b),
    verify: {
      ms: verifyRuns.map((r) => r.ms),
      bytes: verifiedBytes,
      medianMs: verifyMs,
      mbPerSecond: verifiedBytes / 1e6 / (verifyMs / 1000),
      mbPerSecondAfterStartup: verifiedBytes / 1e6 / (Math.max(1, verifyMs - startupMs) / 1000),
    },
    startup: { ms: startupRuns.map((r) => r.ms), medianMs: startupMs, peakRss: peak(startupRuns) },
    peakRss: { backup: peak(backupRuns), verify: peak(verifyRuns), restore: peak([...restoreRuns, ...liveRuns]) },
    liveRestore: {
      ms: liveRuns.map((r) => r.ms),
      downtimeMs: liveRuns.map((r) => r.downtimeMs ?? 0),
      medianMs: median(liveRuns.map((r) => r.ms)),
      medianDowntimeMs: median(liveRuns.map((r) => r.downtimeMs ?? 0)),
      stopStartMs: stopStart.downtimeMs ?? 0,
      phases: liveRuns.flatMap((r) => livePhases(r.stderrLines, r.ms) ?? []),
    },
    loadBackend: loadBackends,
  };
}

/**
 * Real processes standing in for CUPM's services (Apache, JBoss, NICE), running; each logs its
 * stops and starts with their time, which is what downtime is measured by.
 */
async function standinServices(dir: string): Promise<StandinWorld> {
  const world = await createStandinWorld(path.join(dir, 'services'), { services: DEFAULT_SERVICES });
  const destroy = cleanup.add(`stand-in services in ${world.dir}`, () => world.destroy());
  for (const service of world.services) await world.start(service);
  // Destroyed through the cleanup list, so that a Ctrl-C later does not try again.
  return { ...world, destroy };
}

/** Runs `job` and records how long the services were down meanwhile, by their own timeline. */
async function withDowntime(world: StandinWorld, job: () => Promise<Measured>): Promise<Measured> {
  await world.timeline({ clear: true });
  const measured = await job();
  return { ...measured, downtimeMs: downtimeOf(await world.timeline()) };
}

/**
 * The manual procedure around a bare PostgreSQL tool: stop the services (waiting until each is
 * gone, as `net stop` does), run it, start them again. Time and machine CPU are the whole
 * procedure's; peak RSS and own CPU the tool's.
 */
function manualProcedure(world: StandinWorld, tool: () => Promise<Measured>): Promise<Measured> {
  return withDowntime(world, async () => {
    const started = process.hrtime.bigint();
    const busyAtStart = machineBusyMs();
    for (const service of world.services) await world.stop(service);
    const measured = await tool();
    for (const service of [...world.services].reverse()) await world.start(service);
    return { ...measured, ms: Number(process.hrtime.bigint() - started) / 1e6, machineCpuMs: machineBusyMs() - busyAtStart };
  });
}

/**
 * Runs A and B `runs` times each, alternating which goes first (AB, BA, AB...) so that a drift in
 * the machine's load hits both alike. Logs each pair.
 */
async function alternate(
  runs: number,
  what: string,
  a: () => Promise<Measured>,
  b: () => Promise<Measured>,
): Promise<{ a: Measured[]; b: Measured[] }> {
  const paired = { a: [] as Measured[], b: [] as Measured[] };
  for (let i = 0; i < runs; i++) {
    cleanup.throwIfInterrupted();
    let runA: Measured;
    let runB: Measured;
    if (i % 2 === 0) {
      runA = await a();
      runB = await b();
    } else {
      runB = await b();
      runA = await a();
    }
    paired.a.push(runA);
    paired.b.push(runB);
    const down =
      runA.downtimeMs !== undefined && runB.downtimeMs !== undefined
        ? `; CUPM down ${(runA.downtimeMs / 1000).toFixed(1)} s vs ${(runB.downtimeMs / 1000).toFixed(1)} s (ratio ${(runA.downtimeMs / runB.downtimeMs).toFixed(2)})`
        : '';
    log(
      `${what} ${i + 1}: cupm-backup ${(runA.ms / 1000).toFixed(1)} s, reference ${(runB.ms / 1000).toFixed(1)} s, ratio ${(runA.ms / runB.ms).toFixed(2)}${down}; ` +
        `CPU ${(runA.machineCpuMs / 1000).toFixed(1)} s vs ${(runB.machineCpuMs / 1000).toFixed(1)} s (load ${os.loadavg()[0]!.toFixed(2)})`,
    );
  }
  return paired;
}

/** --scale-check: one round trip at --size without baselines; unzip -t and verify must pass, rows must match. */
async function scaleCheck(options: BenchOptions, tool: Tool, work: string, startedAt: Date): Promise<void> {
  const phones = options.phones ?? phonesForDumpSize(options.size);
  const label = options.phones ? `${phones} phones` : `${options.size / 1e9} GB`;
  log(`\n== scale check, ${label}: ${phones.toLocaleString('en-US')} phones`);
  const dir = path.join(work, 'scale');
  const steps: Record<string, number> = {};
  const source = await ownCluster('source', dir);
  let t = Date.now();
  await createCupmData(source.cluster, { phones, rolePassword: 'bench-app-pw', niceHost: '192.0.2.10' });
  steps.generateMs = Date.now() - t;
  const counts = await rowCounts(source.cluster);
  const sourceInstall = path.join(dir, 'source-cupm');
  await createInstallTree(sourceInstall, { dbHost: source.cluster.host, dbPort: source.cluster.port });
  const env = toolEnv(source.cluster, sourceInstall, path.join(dir, 'archives'));
  const backup = await runTool(tool, ['backup', '--no-stop', '--json'], env);
  const { archive, dumpBytes } = JSON.parse(backup.stdout) as { archive: string; dumpBytes: number };
  steps.backupMs = backup.ms;
  log(`backup: ${(backup.ms / 1000).toFixed(0)} s, dump ${dumpBytes} bytes${dumpBytes > 2 ** 32 ? ' (over 4 GiB: zip64)' : ''}`);
  await source.destroy();
  t = Date.now();
  const unzip = await execa('unzip', ['-t', archive], { env: baseEnv(), extendEnv: false, reject: false });
  steps.unzipTestMs = Date.now() - t;
  if (unzip.exitCode !== 0 || !/No errors detected/.test(unzip.stdout))
    throw new Error(`unzip -t failed on ${archive}:\n${unzip.stdout}\n${unzip.stderr}`);
  log(`unzip -t: no errors (${(steps.unzipTestMs / 1000).toFixed(0)} s)`);
  const verify = await runTool(tool, ['verify', '--json', archive], env);
  steps.verifyMs = verify.ms;
  log(`verify: ${(verify.ms / 1000).toFixed(0)} s`);
  const target = await ownCluster('target', dir);
  const targetInstall = path.join(dir, 'target-cupm');
  await createInstallTree(targetInstall, { dbHost: target.cluster.host, dbPort: target.cluster.port });
  const restore = await runTool(
    tool,
    ['restore', archive, '--yes', '--json'],
    toolEnv(target.cluster, targetInstall, path.join(dir, 'restore-work')),
  );
  steps.restoreMs = restore.ms;
  await checkRestored(target.cluster, counts, 'cupm-backup restore');
  log(`restore: ${(restore.ms / 1000).toFixed(0)} s; every table has its rows`);
  const archiveBytes = (await fsp.stat(archive)).size;
  await target.destroy();
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: await machineFacts(os.loadavg()),
    tool: tool.how,
    compressionLevel: options.level ?? DEFAULT_COMPRESSION_LEVEL,
    phones,
    dumpBytes,
    archiveBytes,
    zip64: dumpBytes > 2 ** 32,
    rows: counts,
    ...steps,
    peakRss: { backup: backup.peakRss, verify: verify.peakRss, restore: restore.peakRss },
  };
  const base = path.join(path.resolve(ROOT, options.outDir), `scale-${stamp(startedAt)}`);
  await fsp.mkdir(path.dirname(base), { recursive: true });
  await fsp.writeFile(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  log(`\nResults: ${base}.json`);
}

/** Builds the checkout's command (the bundle) into bench/tmp, the way it is installed, unless --tsx. */
async function prepareTool(options: BenchOptions): Promise<Tool> {
  if (options.tsx) {
    return {
      file: process.execPath,
      args: ['--', path.join(ROOT, 'bin', 'cupm-backup')],
      env: { CUPM_BACKUP_DEV: '1' },
      how: 'the checkout through tsx (bin/cupm-backup, CUPM_BACKUP_DEV=1)',
    };
  }
  // Under the checkout, so the chunks find node_modules (ssh2); bench/tmp/ is ignored by git.
  const build = path.join(ROOT, 'bench', 'tmp', `build-${process.pid}`);
  cleanup.add(`build ${build}`, () => fsp.rm(build, { recursive: true, force: true }));
  log('building the checkout (the bundled command) ...');
  await buildCommand(path.join(build, 'dist', 'command'));
  // The tool finds its installation by its package.json (the version).
  await fsp.copyFile(path.join(ROOT, 'package.json'), path.join(build, 'package.json'));
  // Run through bin/cupm-backup, as installed: its #! line carries Node's settings.
  await fsp.mkdir(path.join(build, 'bin'));
  await fsp.copyFile(path.join(ROOT, 'bin', 'cupm-backup'), path.join(build, 'bin', 'cupm-backup'));
  await fsp.chmod(path.join(build, 'bin', 'cupm-backup'), 0o755);
  return {
    file: path.join(build, 'bin', 'cupm-backup'),
    args: [],
    how: `a build of the checkout (bin/cupm-backup running the bundle in dist/command/, as installed)`,
  };
}

function runTool(tool: Tool, args: string[], env: Record<string, string>): Promise<Measured> {
  return runMeasured(cleanup, tool.file, [...tool.args, ...args], { env: { ...env, ...tool.env } });
}

/** Starts a cluster named by a random nonce; `destroy` stops and removes it (also on Ctrl-C). */
async function ownCluster(role: string, dir: string): Promise<OwnCluster> {
  cleanup.throwIfInterrupted();
  await fsp.mkdir(dir, { recursive: true });
  const nonce = `cupm_bench_${role}_${crypto.randomBytes(6).toString('hex')}`;
  const cluster = await startCluster({
    // Same admin password on both: psql -f replays the source's ALTER ROLE postgres PASSWORD.
    password: 'bench-admin-pw',
    settings: { cluster_name: `'${nonce}'`, maintenance_work_mem: "'256MB'" },
  });
  const destroy = cleanup.add(`cluster ${cluster.dir}`, () => cluster.destroy());
  const own = { cluster, nonce, destroy };
  await assertOurs(own);
  const postmaster = Number((await fsp.readFile(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  log(
    `${role} cluster: PostgreSQL on ${cluster.host}:${cluster.port} (${cluster.dataDir}, cluster_name ${nonce}, on CPUs ${cpusAllowed(postmaster)})`,
  );
  return own;
}

/** Refuses to touch a server that does not carry our nonce and data directory. */
async function assertOurs(own: OwnCluster): Promise<void> {
  const [row] = await own.cluster.query<{ name: string; dir: string }>(
    "SELECT current_setting('cluster_name') AS name, current_setting('data_directory') AS dir",
  );
  if (row?.name !== own.nonce || path.resolve(row.dir) !== path.resolve(own.cluster.dataDir)) {
    throw new Error(
      `The server at ${own.cluster.host}:${own.cluster.port} is not the cluster this benchmark started (cluster_name ${row?.name}, data ${row?.dir}): refusing to touch it.`,
    );
  }
}

/** Back to an empty cluster: only the built-in databases and the admin role, checkpointed. */
async function emptyTarget(own: OwnCluster): Promise<void> {
  cleanup.throwIfInterrupted();
  await assertOurs(own);
  const { cluster } = own;
  const databases = await cluster.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')",
  );
  for (const { datname } of databases) await cluster.query(`DROP DATABASE "${datname.replaceAll('"', '""')}" WITH (FORCE)`);
  const roles = await cluster.query<{ rolname: string }>(
    "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user",
  );
  for (const { rolname } of roles) await cluster.query(`DROP ROLE "${rolname.replaceAll('"', '""')}"`);
  await cluster.query('CHECKPOINT');
  await syncPageCache();
}

const TABLES = ['subscriber', 'phone', 'line', 'order_history', 'order_event', 'device_certificate', 'nicesyseng'];

async function rowCounts(cluster: Cluster): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) {
    const [row] = await cluster.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`, [], 'cupm');
    counts[table] = Number(row!.n);
  }
  return counts;
}

/** The load really happened: every table has the source's row count. */
async function checkRestored(cluster: Cluster, expected: Record<string, number>, what: string): Promise<void> {
  const got = await rowCounts(cluster);
  const wrong = TABLES.filter((t) => got[t] !== expected[t]);
  if (wrong.length > 0)
    throw new Error(
      `${what} left the target with other row counts: ${wrong.map((t) => `${t} ${got[t]} (expected ${expected[t]})`).join(', ')}`,
    );
}

/** The only variables a child inherits from us: where programs are, and the locale. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}

/** libpq's settings for one of our clusters, and nothing else. */
function pgEnv(cluster: Cluster): Record<string, string> {
  return { ...baseEnv(), ...cluster.env() };
}

/** cupm-backup's whole configuration for one of our clusters: services untouched, our folders. */
function toolEnv(cluster: Cluster, installDir: string, backupDir: string): Record<string, string> {
  return {
    ...pgEnv(cluster),
    CUPM_INSTALL_DIR: installDir,
    CUPM_BACKUP_DIR: backupDir,
    CUPM_PG_BIN: cluster.binDir,
    CUPM_SERVICE_MANAGER: 'none',
    ...(level === undefined ? {} : { CUPM_COMPRESSION_LEVEL: String(level) }),
    ...encryption,
  };
}

/** --encrypt: the tool's CUPM_ENCRYPT_TO and CUPM_IDENTITY, for a key made for this run. */
let encryption: { CUPM_ENCRYPT_TO: string; CUPM_IDENTITY: string } | undefined;

/** An age key pair for this run, its identity file in the run's temp folder (removed with it). */
async function makeRunKey(work: string): Promise<{ CUPM_ENCRYPT_TO: string; CUPM_IDENTITY: string }> {
  const identity = await generateIdentity();
  const file = path.join(work, 'bench-identity.txt');
  await fsp.writeFile(file, identity + '\n', { mode: 0o600 });
  return { CUPM_ENCRYPT_TO: await identityToRecipient(identity), CUPM_IDENTITY: file };
}

/** --level: the deflate level the tool is run with (undefined: its default). */
let level: number | undefined;

async function machineFacts(loadAtStart: number[]) {
  const { stdout } = await execa(path.join(findServerBinDir(), 'postgres'), ['--version']);
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    // The CPUs this run may use (--cpus pins it to fewer than the machine has).
    cores: os.availableParallelism(),
    coresOnMachine: os.cpus().length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: stdout.replace(/^postgres \(PostgreSQL\) /, '').trim(),
    loadAtStart,
    loadAtEnd: os.loadavg(),
  };
}

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

try {
  await main();
} catch (error) {
  log(`\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
}
