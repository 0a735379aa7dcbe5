import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';

export interface BenchOptions {
  /** Dump size to generate for the main measurement, in bytes. */
  size: number;
  /** The second, smaller size (peak RSS and linear growth); 0 skips it. */
  smallSize: number;
  /** Size the database by phones instead (overrides --size; no small size). */
  phones: number | undefined;
  /** Paired runs per comparison. */
  runs: number;
  /** One round trip (backup, unzip -t, verify, restore) at --size, no baselines: the zip64 check. */
  scaleCheck: boolean;
  /** CUPM_COMPRESSION_LEVEL for the tool; undefined: its default. */
  level: number | undefined;
  /** Encrypt the archives (age, to a key made for the run): what encryption costs. */
  encrypt: boolean;
  /** Run the checkout through tsx (bin/cupm-backup) instead of a build of it. */
  tsx: boolean;
  /** Pin the run (clusters, both tools) to the first N CPUs: how the gap changes with cores. */
  cpus: number | undefined;
  /** restore --jobs for the tool's restores; undefined: its default. */
  jobs: number | undefined;
  /** S3 off-site copies to the local object store instead: MB/s up and down, peak RSS of a nightly. */
  s3: boolean;
  outDir: string;
}

/** "1GB", "0.25GB", "500MB", "5GB" (decimal units, as disk sizes are sold) -> bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`not a size: ${text} (e.g. 1GB, 250MB)`);
  const unit = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[(match[2] ?? 'B').toUpperCase() as 'B'];
  return Math.round(Number(match[1]) * unit);
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`not a positive whole number: ${text}`);
  return n;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const program = new Command('bench')
    .description('cupm-backup against pg_dumpall/psql on a throwaway cluster with a generated CUPM-like database')
    .option('--size <size>', 'dump size to generate (decimal units)', parseSize, parseSize('1GB'))
    .option('--small-size <size>', 'second, smaller size for peak memory and linear growth (0: skip)', parseSize, parseSize('0.25GB'))
    .option('--phones <n>', 'size the database by phones instead (a 60,000-phone install: --phones 60000)', positiveInt)
    .option('--runs <n>', 'paired runs per comparison (A and B alternate)', positiveInt, 3)
    .option('--scale-check', 'one backup/verify/restore round trip at --size (zip64 when over 4 GiB), no baselines')
    .option('--level <n>', "deflate level for cupm-backup (CUPM_COMPRESSION_LEVEL; default: the tool's)", positiveInt)
    .option('--encrypt', 'encrypt the archives to an age key made for the run (what encryption costs)')
    .option('--tsx', 'run the checkout through tsx (bin/cupm-backup) instead of a build of it')
    .option('--cpus <n>', 'run everything (clusters, cupm-backup, pg_dumpall, psql) on the first n CPUs only (taskset)', positiveInt)
    .option('--jobs <n>', "restore --jobs for cupm-backup's restores (psql sessions loading the dump; default: the tool's)", positiveInt)
    .option(
      '--s3',
      'S3 off-site copies to a local Swift (s3api) instead: upload/download MB/s and the peak RSS of a nightly copying an archive of --size',
    )
    .option('--out <dir>', 'where results go', 'bench/results')
    .addHelpText(
      'after',
      '\nIt only ever talks to the clusters it starts; it refuses to run when PG* or CUPM_* connection settings are set.',
    )
    .parse(argv);
  const flags = program.opts<{
    size: number;
    smallSize: number;
    phones?: number;
    runs: number;
    scaleCheck?: boolean;
    level?: number;
    encrypt?: boolean;
    tsx?: boolean;
    cpus?: number;
    jobs?: number;
    s3?: boolean;
    out: string;
  }>();
  if (flags.encrypt && flags.scaleCheck)
    program.error('--encrypt and --scale-check do not go together: the scale check reads the archive with unzip -t');
  if (flags.cpus !== undefined && flags.cpus > os.availableParallelism()) {
    program.error(`--cpus ${flags.cpus}: this machine lets the bench use ${os.availableParallelism()} CPUs`);
  }
  return {
    size: flags.size,
    smallSize: flags.scaleCheck || flags.phones ? 0 : flags.smallSize,
    phones: flags.phones,
    runs: flags.runs,
    scaleCheck: flags.scaleCheck ?? false,
    level: flags.level,
    encrypt: flags.encrypt ?? false,
    tsx: flags.tsx ?? false,
    cpus: flags.cpus,
    jobs: flags.jobs,
    s3: flags.s3 ?? false,
    outDir: flags.out,
  };
}
