import { median, type Measured, type TimedLine } from './measure.js';
import type { BackendTimes } from './proc.js';

/** A tool run against its PostgreSQL reference, run in alternating pairs. */
export interface Pair {
  /** Milliseconds of cupm-backup, per run. */
  tool: number[];
  /** Milliseconds of the bare PostgreSQL tool, per run. */
  baseline: number[];
  /** tool / baseline of each pair. */
  ratios: number[];
  medianTool: number;
  medianBaseline: number;
  medianRatio: number;
  /**
   * Medians of the CPU time the whole machine spent during each side's runs (ms): the tool or
   * the bare tool, and the PostgreSQL server working for it. With `cores`, the least wall time
   * the work can take is this / cores.
   */
  machineCpuTool: number;
  machineCpuBaseline: number;
  /** Median CPU time of cupm-backup's own process (ms): what the tool adds, beside pg_dumpall/psql. */
  ownCpuTool: number;
  /**
   * How long CUPM was down (ms, first service stopped to last started, by the stand-in services'
   * timestamps), per run: cupm-backup, and the manual procedure (stop, the bare tool, start).
   */
  downtime?: { tool: number[]; baseline: number[]; ratios: number[]; medianTool: number; medianBaseline: number; medianRatio: number };
}

export interface SizeResult {
  label: string;
  phones: number;
  generateMs: number;
  dumpBytes: number;
  archiveBytes: number;
  gzipBytes: number;
  gzipMs: number;
  backup: Pair;
  restore: Pair;
  verify: { ms: number[]; bytes: number; medianMs: number; mbPerSecond: number; mbPerSecondAfterStartup: number };
  /** `cupm-backup --version`: what starting the program costs (time and memory). */
  startup: { ms: number[]; medianMs: number; peakRss: number };
  /** Highest peak RSS of the tool's own process over the runs, in bytes. */
  peakRss: { backup: number; verify: number; restore: number };
  /**
   * `restore --live` onto the target that holds cupm already: total time and CUPM's downtime per
   * run (stand-ins' timestamps), and the downtime of stopping and starting the services alone.
   */
  liveRestore?: {
    ms: number[];
    downtimeMs: number[];
    medianMs: number;
    medianDowntimeMs: number;
    stopStartMs: number;
    /** Where each run's time went, by the times of its progress lines (absent: a line was missing). */
    phases?: LivePhases[];
  };
  /**
   * The server process that did the load, per run of `psql -X -f` and of `restore --live`: how
   * long it lived, ran, waited for a core, and waited otherwise (for its input, I/O or a lock).
   */
  loadBackend?: { psqlF: BackendTimes[]; live: BackendTimes[] };
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  machine: {
    cpu: string;
    /** The CPUs the run could use: all of the machine's, or fewer with --cpus. */
    cores: number;
    coresOnMachine?: number;
    memoryBytes: number;
    os: string;
    node: string;
    postgres: string;
    /** Load averages (1, 5, 15 min) when the run started and ended: the machine is shared. */
    loadAtStart: number[];
    loadAtEnd: number[];
  };
  tool: { how: string; compressionLevel: number | null; encrypted?: boolean; restoreJobs?: number };
  runs: number;
  sizes: SizeResult[];
  targets: Target[];
}

export interface Target {
  what: string;
  limit: string;
  value: string;
  met: boolean;
}

export function pairOf(toolRuns: Measured[], baselineRuns: Measured[]): Pair {
  const tool = toolRuns.map((r) => r.ms);
  const baseline = baselineRuns.map((r) => r.ms);
  const ratios = tool.map((t, i) => t / baseline[i]!);
  return {
    tool,
    baseline,
    ratios,
    medianTool: median(tool),
    medianBaseline: median(baseline),
    medianRatio: median(ratios),
    machineCpuTool: median(toolRuns.map((r) => r.machineCpuMs)),
    machineCpuBaseline: median(baselineRuns.map((r) => r.machineCpuMs)),
    ownCpuTool: median(toolRuns.map((r) => r.ownCpuMs)),
    ...downtimeOfPairs(toolRuns, baselineRuns),
  };
}

function downtimeOfPairs(toolRuns: Measured[], baselineRuns: Measured[]): Pick<Pair, 'downtime'> {
  const tool = toolRuns.map((r) => r.downtimeMs);
  const baseline = baselineRuns.map((r) => r.downtimeMs);
  if (tool.some((ms) => ms === undefined) || baseline.some((ms) => ms === undefined)) return {};
  const t = tool as number[];
  const b = baseline as number[];
  const ratios = t.map((ms, i) => ms / b[i]!);
  return { downtime: { tool: t, baseline: b, ratios, medianTool: median(t), medianBaseline: median(b), medianRatio: median(ratios) } };
}

const MB = 1e6;

/** The issue's targets, judged on the largest size measured (peak RSS on every size). */
export function judge(sizes: SizeResult[]): Target[] {
  const main = sizes[sizes.length - 1]!;
  const targets: Target[] = [
    {
      what: `backup time vs pg_dumpall > file${main.backup.downtime ? " (both with the services' stop and start)" : ''} (${main.label})`,
      limit: '<= 1.10 x',
      value: `${main.backup.medianRatio.toFixed(2)} x`,
      met: main.backup.medianRatio <= 1.1,
    },
    {
      what: `restore time vs psql -f (${main.label})`,
      limit: '<= 1.10 x',
      value: `${main.restore.medianRatio.toFixed(2)} x`,
      met: main.restore.medianRatio <= 1.1,
    },
    ...(main.backup.downtime
      ? [
          {
            what: `backup downtime vs stop + pg_dumpall > file + start (${main.label})`,
            limit: '<= 1.05 x',
            value: `${main.backup.downtime.medianRatio.toFixed(2)} x`,
            met: main.backup.downtime.medianRatio <= 1.05,
          },
        ]
      : []),
    ...sizes.flatMap((z) =>
      z.liveRestore
        ? [
            {
              what: `restore downtime onto a live server (--live, ${z.label})`,
              limit: `<= 10 s + stop/start (${s(z.liveRestore.stopStartMs)})`,
              value: s(z.liveRestore.medianDowntimeMs),
              met: z.liveRestore.medianDowntimeMs <= 10_000 + z.liveRestore.stopStartMs,
            },
            {
              // Issue 18: each --live run follows the psql -f run of its pair (not a pair of its own): a ratio of medians.
              what: `restore --live total time vs stop + psql -X -f + start (medians, ${z.label})`,
              limit: '<= 1.05 x',
              value: `${(z.liveRestore.medianMs / z.restore.medianBaseline).toFixed(2)} x`,
              met: z.liveRestore.medianMs <= 1.05 * z.restore.medianBaseline,
            },
          ]
        : [],
    ),
    {
      what: `verify throughput (${main.label})`,
      limit: '>= 250 MB/s',
      value: `${main.verify.mbPerSecond.toFixed(0)} MB/s`,
      met: main.verify.mbPerSecond >= 250,
    },
    {
      what: `archive size vs gzip -6 (${main.label})`,
      limit: '<= 1.10 x',
      value: `${(main.archiveBytes / main.gzipBytes).toFixed(3)} x`,
      met: main.archiveBytes <= 1.1 * main.gzipBytes,
    },
  ];
  for (const size of sizes) {
    const peak = Math.max(size.peakRss.backup, size.peakRss.verify, size.peakRss.restore);
    targets.push({
      what: `peak RSS of cupm-backup (${size.label})`,
      limit: '<= 150 MB',
      value: `${(peak / MB).toFixed(0)} MB`,
      met: peak <= 150 * MB,
    });
  }
  return targets;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** "11.6 s = 11.2 + 0.4 + 0.0 s" from the runs' medians of each part. */
/**
 * Where a `restore --live` run's time went, in ms, by when its progress lines came: from the
 * spawn to the load's start (program start, verifying the other entries, the snapshot); the load
 * (and the purge) up to the first service asked to stop; the outage's steps with the services'
 * stop and start, up to the drop of the previous database; the drop, ANALYZE and the end.
 */
export interface LivePhases {
  beforeLoadMs: number;
  loadMs: number;
  outageMs: number;
  afterMs: number;
}

export function livePhases(lines: readonly TimedLine[], totalMs: number): LivePhases | undefined {
  const at = (start: string) => lines.find((line) => line.text.startsWith(start))?.ms;
  const load = at('Load the dump into ');
  // No service to stop (all of them stopped already): the outage starts with its first step.
  const outage = at('Stopping ') ?? at('End the remaining sessions on ');
  if (load === undefined || outage === undefined || outage < load) return undefined;
  const drop = at('Drop the previous database') ?? totalMs;
  return { beforeLoadMs: load, loadMs: outage - load, outageMs: drop - outage, afterMs: totalMs - drop };
}

function phasesCell(runs: readonly LivePhases[] | undefined): string {
  if (!runs || runs.length === 0) return '-';
  const m = (part: keyof LivePhases) => (median(runs.map((r) => r[part])) / 1000).toFixed(2);
  return `${m('beforeLoadMs')} + ${m('loadMs')} + ${m('outageMs')} + ${m('afterMs')} s`;
}

function backendCell(runs: BackendTimes[]): string {
  if (runs.length === 0) return '-';
  const m = (part: keyof BackendTimes) => (median(runs.map((r) => r[part])) / 1000).toFixed(1);
  return `${m('aliveMs')} s = ${m('cpuMs')} + ${m('runqueueMs')} + ${m('waitingMs')} s`;
}
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;

/** The results as a Markdown report. */
export function markdown(result: BenchResult): string {
  const m = result.machine;
  const lines = [
    `# cupm-backup benchmark, ${result.startedAt}`,
    '',
    `Machine: ${m.cpu}, ${m.coresOnMachine !== undefined && m.coresOnMachine !== m.cores ? `${m.coresOnMachine} cores, this run pinned to ${m.cores} (--cpus)` : `${m.cores} cores`}, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB; ${m.os}; Node ${m.node}; PostgreSQL ${m.postgres}.`,
    `Load average (1/5/15 min): ${m.loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${m.loadAtEnd.map((l) => l.toFixed(2)).join(' / ')} at the end (the machine is shared).`,
    `Tool: ${result.tool.how}, deflate level ${result.tool.compressionLevel}${result.tool.encrypted ? ', archives encrypted (age)' : ''}${(result.tool.restoreJobs ?? 1) > 1 ? `, restore --jobs ${result.tool.restoreJobs}` : ''}. ${result.runs} paired runs per comparison, A and B alternating; medians.`,
    '',
    '## Targets',
    '',
    '| target | limit | measured | |',
    '|---|---|---|---|',
    ...result.targets.map((t) => `| ${t.what} | ${t.limit} | ${t.value} | ${t.met ? 'met' : '**not met**'} |`),
    '',
    '## Per size',
    '',
    `| | ${result.sizes.map((z) => z.label).join(' | ')} |`,
    `|---|${result.sizes.map(() => '---').join('|')}|`,
    row(
      'phones (generated)',
      result.sizes.map((z) => z.phones.toLocaleString('en-US')),
    ),
    row(
      'pg_dumpall output',
      result.sizes.map((z) => mb(z.dumpBytes)),
    ),
    row(
      'archive (zip)',
      result.sizes.map((z) => `${mb(z.archiveBytes)} (${(z.dumpBytes / z.archiveBytes).toFixed(1)}:1)`),
    ),
    row(
      'gzip -6 of the dump',
      result.sizes.map((z) => `${mb(z.gzipBytes)} (${s(z.gzipMs)})`),
    ),
    row(
      'archive / gzip -6',
      result.sizes.map((z) => (z.archiveBytes / z.gzipBytes).toFixed(3)),
    ),
    ...downtimeRows(result, 'backup', 'stop, pg_dumpall > file, start'),
    row(
      'backup: cupm-backup',
      result.sizes.map((z) => s(z.backup.medianTool)),
    ),
    row(
      result.sizes.some((z) => z.backup.downtime) ? 'backup: stop, pg_dumpall > file, start' : 'backup: pg_dumpall > file',
      result.sizes.map((z) => s(z.backup.medianBaseline)),
    ),
    row(
      'backup: ratio (median of pairs)',
      result.sizes.map((z) => `${z.backup.medianRatio.toFixed(2)} (${z.backup.ratios.map((r) => r.toFixed(2)).join(', ')})`),
    ),
    row(
      'backup: CPU, whole machine (cupm-backup / pg_dumpall)',
      result.sizes.map((z) => cpu(z.backup, result.machine.cores)),
    ),
    row(
      'backup: CPU of cupm-backup itself',
      result.sizes.map((z) => s(z.backup.ownCpuTool)),
    ),
    ...downtimeRows(result, 'restore', 'stop, psql -X -f dump.sql into an empty cluster, start'),
    row(
      'restore: cupm-backup restore',
      result.sizes.map((z) => s(z.restore.medianTool)),
    ),
    ...(result.sizes.some((z) => z.liveRestore)
      ? [
          row(
            'restore --live onto a running CUPM: CUPM down (median; runs)',
            result.sizes.map((z) =>
              z.liveRestore ? `${s(z.liveRestore.medianDowntimeMs)} (${z.liveRestore.downtimeMs.map(s).join(', ')})` : '-',
            ),
          ),
          row(
            'restore --live: total time (median)',
            result.sizes.map((z) => (z.liveRestore ? s(z.liveRestore.medianMs) : '-')),
          ),
          row(
            'restore --live, where the time went (medians): to the load + the load + the outage (stop, swap, files, start) + after (dropping the previous database, ANALYZE)',
            result.sizes.map((z) => (z.liveRestore ? phasesCell(z.liveRestore.phases) : '-')),
          ),
          row(
            'stop + start of the services alone: CUPM down',
            result.sizes.map((z) => (z.liveRestore ? s(z.liveRestore.stopStartMs) : '-')),
          ),
        ]
      : []),
    ...(result.sizes.some((z) => z.loadBackend)
      ? (['psqlF', 'live'] as const).map((side) =>
          row(
            `the backend that loads, ${side === 'psqlF' ? 'psql -X -f' : 'restore --live'} (medians): alive = on a core + waiting for one + waiting for input, I/O or locks`,
            result.sizes.map((z) => backendCell(z.loadBackend?.[side] ?? [])),
          ),
        )
      : []),
    row(
      result.sizes.some((z) => z.restore.downtime) ? 'restore: stop, psql -X -f dump.sql, start' : 'restore: psql -X -f dump.sql',
      result.sizes.map((z) => s(z.restore.medianBaseline)),
    ),
    row(
      'restore: ratio (median of pairs)',
      result.sizes.map((z) => `${z.restore.medianRatio.toFixed(2)} (${z.restore.ratios.map((r) => r.toFixed(2)).join(', ')})`),
    ),
    row(
      'restore: CPU, whole machine (cupm-backup / psql)',
      result.sizes.map((z) => cpu(z.restore, result.machine.cores)),
    ),
    row(
      'restore: CPU of cupm-backup itself',
      result.sizes.map((z) => s(z.restore.ownCpuTool)),
    ),
    row(
      'verify',
      result.sizes.map((z) => `${s(z.verify.medianMs)}: ${z.verify.mbPerSecond.toFixed(0)} MB/s`),
    ),
    row(
      'verify, program start excluded',
      result.sizes.map((z) => `${z.verify.mbPerSecondAfterStartup.toFixed(0)} MB/s`),
    ),
    row(
      'program start (--version)',
      result.sizes.map((z) => `${s(z.startup.medianMs)}, ${mb(z.startup.peakRss)}`),
    ),
    row(
      'peak RSS: backup',
      result.sizes.map((z) => mb(z.peakRss.backup)),
    ),
    row(
      'peak RSS: verify',
      result.sizes.map((z) => mb(z.peakRss.verify)),
    ),
    row(
      'peak RSS: restore',
      result.sizes.map((z) => mb(z.peakRss.restore)),
    ),
  ];
  if (result.sizes.length === 2) {
    const [a, b] = result.sizes as [SizeResult, SizeResult];
    const grow = (x: number, y: number) => (y / x).toFixed(2);
    lines.push(
      '',
      `Growth from ${a.label} to ${b.label}: dump x ${grow(a.dumpBytes, b.dumpBytes)}; backup time x ${grow(a.backup.medianTool, b.backup.medianTool)}, ` +
        `restore time x ${grow(a.restore.medianTool, b.restore.medianTool)}, verify time x ${grow(a.verify.medianMs, b.verify.medianMs)}; ` +
        `peak RSS x ${grow(Math.max(a.peakRss.backup, a.peakRss.restore), Math.max(b.peakRss.backup, b.peakRss.restore))}.`,
    );
  }
  return lines.join('\n') + '\n';
}

/** CUPM's downtime rows of a job (absent from results made before they were measured). */
function downtimeRows(result: BenchResult, job: 'backup' | 'restore', manual: string): string[] {
  if (!result.sizes.some((z) => z[job].downtime)) return [];
  const cell = (z: SizeResult, f: (d: NonNullable<Pair['downtime']>) => string) => (z[job].downtime ? f(z[job].downtime) : '-');
  return [
    row(
      `${job}: CUPM down, cupm-backup (stand-ins' timestamps)`,
      result.sizes.map((z) => cell(z, (d) => s(d.medianTool))),
    ),
    row(
      `${job}: CUPM down, ${manual}`,
      result.sizes.map((z) => cell(z, (d) => s(d.medianBaseline))),
    ),
    row(
      `${job}: downtime ratio (median of pairs)`,
      result.sizes.map((z) => cell(z, (d) => `${d.medianRatio.toFixed(2)} (${d.ratios.map((r) => r.toFixed(2)).join(', ')})`)),
    ),
  ];
}

/** Both sides' CPU time, and the least wall time cupm-backup's work could take on these cores. */
function cpu(pair: Pair, cores: number): string {
  return `${s(pair.machineCpuTool)} / ${s(pair.machineCpuBaseline)} (on ${cores} ${cores === 1 ? 'core' : 'cores'}, at least ${s(pair.machineCpuTool / cores)})`;
}

function row(name: string, cells: string[]): string {
  return `| ${name} | ${cells.join(' | ')} |`;
}
