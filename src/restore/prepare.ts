import type { Manifest, ManifestEntry } from '../archive/format.js';
import type { ArchiveReader } from '../archive/reader.js';
import { hostProblem } from '../artifacts/host.js';
import { requireInstallDir, type Config } from '../config/config.js';
import { ConfigError } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import type { PgTool } from '../pg/tools.js';
import type { ServiceManager } from '../services/service-manager.js';
import { nameStamp } from './databases.js';
import type { RestoreJournal } from './journal.js';
import type { RestorePlan } from './plan.js';
import type { PortProbe } from './ports.js';
import { stageFiles } from './phases/files.js';
import { planRestore } from './phases/plan.js';
import { inspectServer, locateDatabase } from './phases/server.js';
import { checkVersions } from './phases/versions.js';
import { openVerified, verifyForRestore } from './phases/verify.js';

export interface RestoreOptions {
  /** --db-host: the database host the restored CUPM connects to (several for dfc.postgres.hostlist). */
  dbHost?: string | undefined;
  /** --db-port: the port the database listens on (dfc.postgres.port and the connection-url). */
  dbPort?: number | undefined;
  /** --old-nice-host: its rows are deleted from nicesyseng. */
  oldNiceHost?: string | undefined;
  noFiles?: boolean;
  keepPrevious?: boolean;
  allowVersionMismatch?: boolean;
  adminPasswordFromBackup?: boolean;
  dryRun?: boolean;
  /** Count the nicesyseng rows in the dump for the plan (a second read of the dump). */
  countPurgeRows?: boolean;
  /** Asked once the plan is known, before anything changes; false cancels (nothing changed). */
  confirm?: (question: string, details: string[]) => Promise<boolean>;
  serviceManager?: ServiceManager;
  /** migrate: how it differs from restore. */
  migration?: MigrationOptions;
  /** Ctrl-C / SIGTERM: stop, and undo what was done. */
  signal?: AbortSignal;
  /**
   * When the application database exists, load the dump into an incoming database while CUPM runs
   * and stop the services only for the swap (src/restore/live.ts): the default. false (--no-live):
   * the plain restore, services stopped for the whole of it.
   */
  live?: boolean;
  /** --jobs: psql sessions loading the dump (helpers take tables' data; src/restore/parallel-load.ts). */
  jobs?: number;
}

/**
 * One session, as psql -f: on the development machine's 2 shared cores a second one gained nothing
 * (the tool, two psqls and two backends want more CPU than there is; docs/performance.md).
 */
export const DEFAULT_LOAD_JOBS = 1;

/** The oldest psql the parallel load is tested with: it prints a query's result as it reads on, which tells a helper when to start. */
const PARALLEL_LOAD_PSQL = 150000;

/**
 * The sessions the load uses: --jobs, or one where the psql in use is older than the parallel load
 * is tested with (a warning in the plan then says so).
 */
export function loadSessionsFor(jobs: number, psql: PgTool, warnings: string[]): number {
  if (jobs === 1 || psql.version.num >= PARALLEL_LOAD_PSQL) return jobs;
  warnings.push(
    `--jobs ${jobs}: the dump loads in one session, as the psql in use (${psql.path}, ${psql.version.text}) is older than 15, the first the parallel load is tested with; CUPM_PG_BIN can name a newer one`,
  );
  return 1;
}

export interface MigrationOptions {
  /** The only CUPM version that may move to a new server (the install guide: 8.5; docs/cupm.md). */
  requiredVersion: string;
  autoPorts: boolean;
  /** Take --old-nice-host from the manifest when it recorded exactly one address. */
  niceHostFromManifest: boolean;
  portProbe?: PortProbe;
}

/** Everything preflight established; nothing has been touched when it exists. */
export interface PreparedRestore {
  config: Config;
  archive: string;
  reader: ArchiveReader;
  manifest: Manifest;
  dumpEntry: ManifestEntry;
  psql: PgTool;
  dumpall: PgTool;
  manager: ServiceManager;
  plan: RestorePlan;
  staged: Map<string, Buffer>;
  journal: RestoreJournal;
  dropRestrict: boolean;
}

/** Parses --db-host (a host, or a comma-separated list) and --old-nice-host; bad ones are exit 2. */
export function checkHostOptions(options: RestoreOptions): string[] | undefined {
  const problems: string[] = [];
  let hosts: string[] | undefined;
  if (options.dbHost !== undefined) {
    hosts = options.dbHost.split(',').map((h) => h.trim());
    for (const host of hosts) {
      const problem = hostProblem(host);
      if (problem) problems.push(`--db-host: ${problem}`);
    }
  }
  if (options.oldNiceHost !== undefined) {
    const problem = hostProblem(options.oldNiceHost);
    if (problem) problems.push(`--old-nice-host: ${problem}`);
  }
  if (options.dbPort !== undefined && (!Number.isInteger(options.dbPort) || options.dbPort < 1 || options.dbPort > 65535)) {
    problems.push(`--db-port must be a port number (1-65535), got ${options.dbPort}`);
  }
  if (problems.length > 0) {
    throw new ConfigError('Bad host or port on the command line:', {
      problems,
      state: 'nothing was changed',
      hint: 'give a host name, an IPv4 address or an IPv6 address (nothing else goes into the configuration files or SQL)',
    });
  }
  return hosts;
}

/**
 * Preflight: checks every precondition and builds the plan, touching nothing. Refusals: the archive
 * (exit 3), version, disk, ports (exit 4); bad options or files (exit 2). Its phases, in order:
 * verify the archive, check the versions, stage and rewrite the files, inspect the server, plan
 * (src/restore/phases/). The warnings of every phase go into the plan, in that order.
 */
export async function prepareRestore(
  config: Config,
  archiveArg: string,
  options: RestoreOptions,
  reporter: Reporter,
): Promise<PreparedRestore> {
  const dbHosts = checkHostOptions(options);
  const installDir = requireInstallDir(config);
  const command = options.migration ? 'migrate' : 'restore';

  const verified = await verifyForRestore(config, archiveArg, options.live !== false, reporter, options.dryRun === true);
  const { archive, manifest, dumpEntry, live, plainBecause, warnings } = verified;
  const cupmVersion = checkVersions(
    manifest,
    {
      installDir,
      archive,
      database: config.database,
      requiredVersion: options.migration?.requiredVersion,
      allowVersionMismatch: options.allowVersionMismatch ?? false,
    },
    warnings,
  );

  const reader = await openVerified(verified);
  try {
    const location = await locateDatabase(config);
    const niceHost = oldNiceHost(options, manifest, warnings);
    const stamp = nameStamp(new Date());
    const files = await stageFiles(
      {
        installDir,
        backupDir: config.backupDir,
        stamp,
        manifest,
        reader,
        noFiles: options.noFiles ?? false,
        dbHosts,
        dbPort: options.dbPort,
        migration: options.migration,
        serverHost: config.server?.host,
        databasePort: location.pgInfo.port,
        databaseOnServer: location.databaseOnServer,
      },
      warnings,
    );
    const server = await inspectServer(
      config,
      {
        location,
        installDir,
        stamp,
        archiveDatabases: manifest.postgres.databases,
        dumpSize: dumpEntry.size,
        staged: files.staged,
        live,
        serviceManager: options.serviceManager,
      },
      warnings,
    );
    const { plan, journal } = await planRestore(
      config,
      {
        command,
        archive,
        manifest,
        reader,
        cupmVersion,
        niceHost,
        files,
        server,
        location,
        noFiles: options.noFiles ?? false,
        keepPrevious: options.keepPrevious ?? false,
        adminPasswordFromBackup: options.adminPasswordFromBackup ?? false,
        countPurgeRows: options.countPurgeRows ?? false,
        plainBecause,
        loadSessions: loadSessionsFor(options.jobs ?? DEFAULT_LOAD_JOBS, server.psql, warnings),
      },
      warnings,
    );
    return {
      config,
      archive,
      reader,
      manifest,
      dumpEntry,
      psql: server.psql,
      dumpall: server.dumpall,
      manager: server.manager,
      plan,
      staged: files.staged,
      journal,
      dropRestrict: !psqlKnowsRestrict(server.psql),
    };
  } catch (error) {
    await reader.close();
    throw error;
  }
}

/** The old NICE host whose rows are purged: given, or (migrate) the one address the old server had. */
function oldNiceHost(options: RestoreOptions, manifest: Manifest, warnings: string[]): string | undefined {
  let niceHost = options.oldNiceHost;
  if (niceHost === undefined && options.migration?.niceHostFromManifest) {
    const addresses = manifest.source.addresses;
    if (addresses.length === 1 && !hostProblem(addresses[0]!)) niceHost = addresses[0]!;
    else
      warnings.push(
        `nicesyseng is not purged: the archive records ${addresses.length} addresses of the old server (${addresses.join(', ') || 'none'}); pass --old-nice-host to name the old NICE host`,
      );
  }
  return niceHost;
}

/** psql learned \restrict in 13.22, 14.19, 15.14, 16.10, 17.6 and 18. */
export function psqlKnowsRestrict(tool: PgTool): boolean {
  const num = tool.version.num;
  const major = Math.floor(num / 10000);
  const minor = num % 10000;
  const since: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
  if (major >= 18) return true;
  return since[major] !== undefined && minor >= since[major];
}
