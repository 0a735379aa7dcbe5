import type { Config } from '../../config/config.js';
import { ConfigError, RefusedError } from '../../errors.js';
import { autovacuumAnalyzes, listDatabases, listRoles } from '../../pg/catalog.js';
import { connectionInfo, serverVersion, withClient, type ConnectionInfo } from '../../pg/connection.js';
import { BUILTIN_DATABASES } from '../../pg/dump/syntax.js';
import { isLocalHost, sameHost } from '../../pg/locality.js';
import { dumpPair, dumpPairHint, findPgTool, type PgTool } from '../../pg/tools.js';
import { createServiceManager } from '../../services/index.js';
import type { ServiceManager } from '../../services/service-manager.js';
import { incomingName, previousName } from '../databases.js';
import { checkDisk, type DiskCheck } from '../disk.js';
import type { RestoreJournal } from '../journal.js';
import { shareFreeSpace } from '../share-space.js';

/** Where PostgreSQL runs, seen from here. */
export interface DatabaseLocation {
  pgInfo: ConnectionInfo;
  databaseIsLocal: boolean;
  /** From an admin host (CUPM_SERVER): whether PostgreSQL runs on the CUPM server. */
  databaseOnServer: boolean;
}

export async function locateDatabase(config: Config): Promise<DatabaseLocation> {
  const pgInfo = connectionInfo(config);
  const databaseIsLocal = await isLocalHost(pgInfo.host);
  // From an admin host (CUPM_SERVER), what matters is whether PostgreSQL runs on the CUPM server:
  // its port is then the CUPM database's, and its service is restarted through the (remote) driver.
  const databaseOnServer = config.server ? await sameHost(pgInfo.host, config.server.host) : databaseIsLocal;
  return { pgInfo, databaseIsLocal, databaseOnServer };
}

export interface ServerInput {
  location: DatabaseLocation;
  installDir: string;
  /** The restore's time stamp: the databases moved aside (and the incoming ones) are named with it. */
  stamp: string;
  /** The databases the archive holds, and the size of its dump (the disk check). */
  archiveDatabases: string[];
  dumpSize: number;
  /** The staged CUPM files (the room they need on the share). */
  staged: Map<string, Buffer>;
  live: boolean;
  serviceManager: ServiceManager | undefined;
}

/** What this server is and what the restore will do to it. */
export interface InspectedServer {
  psql: PgTool;
  dumpall: PgTool;
  databases: string[];
  roles: string[];
  disk: DiskCheck;
  /** The archive's databases but the built-in ones: those the dump loads. */
  dumpDatabases: string[];
  renames: RestoreJournal['renames'];
  /** --live: the database each one is loaded into while CUPM runs. */
  incoming: Array<{ name: string; incoming: string }> | undefined;
  manager: ServiceManager;
  stop: string[];
  alreadyStopped: string[];
  /** The PostgreSQL service restarted after the load; null: the sessions of the CUPM role are ended instead. */
  pgService: string | null;
  /** Autovacuum gathers the restored databases' planner statistics here; false: the restore runs ANALYZE. */
  autovacuum: boolean;
}

/**
 * Phase 4: the server inspected, nothing touched: the PostgreSQL tools, its databases, roles and
 * disk, the share's free space (from an admin host), the pg_dumpall it can be dumped with, the
 * names the databases are moved aside to, the services and PostgreSQL's restart. Refusals:
 * exit 4 (room, name clash), exit 2 (tools, configuration).
 */
export async function inspectServer(config: Config, input: ServerInput, warnings: string[]): Promise<InspectedServer> {
  const { pgInfo, databaseIsLocal, databaseOnServer } = input.location;
  const { installDir, staged, stamp } = input;
  const psql = await findPgTool(config, 'psql');
  const dumpall = await findPgTool(config, 'pg_dumpall');
  const server = await withClient(config, 'postgres', async (client) => {
    const version = await serverVersion(client);
    return {
      version,
      databases: await listDatabases(client),
      roles: await listRoles(client),
      autovacuum: await autovacuumAnalyzes(client, version),
      disk: await checkDisk(client, input.dumpSize, databaseIsLocal, config.backupDir),
    };
  });
  if (server.disk.note) warnings.push(`disk: ${server.disk.note}`);
  // Not measured where the databases are: a live load that fills that disk does so under the running CUPM.
  if (server.disk.note && input.live)
    warnings.push(
      'disk: the live restore loads next to the database CUPM runs on: should that disk fill, CUPM fails to write until the load is undone; --no-live needs the same room but stops CUPM first',
    );
  // From an admin host the files go over the share: room for them there, before any service stops.
  if (config.server && staged.size > 0) {
    const filesNeeded = [...staged.values()].reduce((sum, bytes) => sum + bytes.length, 0);
    const space = await shareFreeSpace(installDir, config.server);
    if (space.free === undefined)
      warnings.push(`share: free space not measured (${space.note}); the files need ${filesNeeded} bytes there`);
    else if (space.free < filesNeeded) {
      throw new RefusedError(
        `Not enough free space on the share for the CUPM files: ${space.free} bytes free under ${installDir}, ${filesNeeded} needed.`,
        {
          state: 'nothing was changed',
          hint: `free some space on ${config.server.host}'s disk that holds the install dir, then run again`,
        },
      );
    }
  }
  // The restore saves the roles with pg_dumpall first: a pair that cannot work is refused now.
  const pair = dumpPair(dumpall.version, server.version);
  if (!pair.ok)
    throw new ConfigError(`${dumpall.path} is ${pair.reason}.`, { state: 'nothing was changed', hint: dumpPairHint(pair.clients) });
  const dumpDatabases = input.archiveDatabases.filter((d) => !BUILTIN_DATABASES.includes(d));
  const renames = dumpDatabases.filter((d) => server.databases.includes(d)).map((from) => ({ from, to: previousName(from, stamp) }));
  const incoming = input.live ? dumpDatabases.map((name) => ({ name, incoming: incomingName(name, stamp) })) : undefined;
  const clash = [...renames.map((r) => ({ to: r.to })), ...(incoming ?? []).map((d) => ({ to: d.incoming }))].filter((r) =>
    server.databases.includes(r.to),
  );
  if (clash.length > 0) {
    throw new RefusedError(`Databases named ${clash.map((r) => r.to).join(', ')} exist already: a restore made a moment ago kept them?`, {
      state: 'nothing was changed',
      hint: 'wait a second and run again, or drop them',
    });
  }

  // Services and PostgreSQL restart.
  const manager = input.serviceManager ?? createServiceManager(config);
  const stop: string[] = [];
  const alreadyStopped: string[] = [];
  for (const service of config.services) ((await manager.status(service)) === 'stopped' ? alreadyStopped : stop).push(service);
  let pgService: string | null = null;
  if (config.pgService) {
    if (config.services.some((s) => s.toLowerCase() === config.pgService!.toLowerCase())) {
      throw new ConfigError(
        `CUPM_PG_SERVICE (${config.pgService}) is also in CUPM_SERVICES: the restore needs PostgreSQL running while the CUPM services are stopped.`,
        {
          state: 'nothing was changed',
          hint: 'take the PostgreSQL service out of CUPM_SERVICES',
        },
      );
    }
    if (databaseOnServer) {
      pgService = config.pgService;
      await manager.status(pgService);
    } else {
      warnings.push(
        `PostgreSQL runs on another host (${pgInfo.host}): it is not restarted from here (CUPM_PG_SERVICE is for a local one); the sessions of role ${config.dbRole} are ended instead`,
      );
    }
  }
  return {
    psql,
    dumpall,
    databases: server.databases,
    roles: server.roles,
    disk: server.disk,
    dumpDatabases,
    renames,
    incoming,
    manager,
    stop,
    alreadyStopped,
    pgService,
    autovacuum: server.autovacuum,
  };
}
