import os from 'node:os';
import { DUMP_ENTRY, type Manifest } from '../../archive/format.js';
import type { ArchiveReader } from '../../archive/reader.js';
import type { Config } from '../../config/config.js';
import { countRowsInDump } from '../../pg/dump/row-count.js';
import { newJournal, type RestoreJournal } from '../journal.js';
import { describeLive } from '../live.js';
import type { RestorePlan } from '../plan.js';
import type { StagedFiles } from './files.js';
import type { DatabaseLocation, InspectedServer } from './server.js';

export interface PlanInput {
  command: RestorePlan['command'];
  archive: string;
  manifest: Manifest;
  reader: ArchiveReader;
  cupmVersion: RestorePlan['cupmVersion'];
  /** The old NICE host whose rows are purged from nicesyseng; undefined: no purge. */
  niceHost: string | undefined;
  files: StagedFiles;
  server: InspectedServer;
  location: DatabaseLocation;
  noFiles: boolean;
  keepPrevious: boolean;
  adminPasswordFromBackup: boolean;
  /** Count the nicesyseng rows in the dump for the plan (a second read of the dump). */
  countPurgeRows: boolean;
  /** Why the plain restore runs (undefined: a live one). */
  plainBecause: 'no-live' | 'no-database' | undefined;
  /** psql sessions loading the dump (--jobs). */
  loadSessions: number;
}

/**
 * Phase 5: what the restore will do, as the plan a person reads (--dry-run, the prompt) and as
 * the journal the steps run from. Nothing is touched: the journal is written when the restore
 * starts, under the lock.
 */
export async function planRestore(
  config: Config,
  input: PlanInput,
  warnings: string[],
): Promise<{ plan: RestorePlan; journal: RestoreJournal }> {
  const { command, archive, manifest, niceHost, files, server } = input;
  const { pgInfo } = input.location;
  if (input.noFiles && manifest.postgres.roles.includes(config.dbRole)) {
    warnings.push(
      `--no-files: role ${config.dbRole} gets the password it had on the old server (the roles come from the backup); this server's dfc-ds.xml must hold that password for JBoss to log in`,
    );
  }

  const purgeRows =
    niceHost !== undefined && input.countPurgeRows
      ? await countRowsInDump(await input.reader.openEntry(DUMP_ENTRY), {
          database: config.database,
          table: 'nicesyseng',
          column: 'host',
          value: niceHost,
        })
      : undefined;

  const { dumpDatabases, renames, incoming, pgService } = server;
  const journal = newJournal({
    command,
    archive,
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    database: config.database,
    dbRole: config.dbRole,
    adminRole: pgInfo.user,
    snapshotDir: files.snapshotDir,
    services: { configured: config.services, wereRunning: server.stop },
    pgService,
    dumpDatabases,
    renames,
    roles: null,
    databasesBefore: null,
    files: files.files,
    purge: niceHost === undefined ? null : { host: niceHost, deleted: null },
    keepPrevious: input.keepPrevious,
    analyze: !server.autovacuum,
    adminPasswordFromBackup: input.adminPasswordFromBackup,
    adminPassword: null,
    psqlPid: null,
    loadSessions: input.loadSessions,
    steps: [],
    finishing: [],
    ...(incoming ? { live: { incoming, outage: false } } : {}),
  });
  // The plan says what the journal holds, read from it; and what only a person needs to know.
  const plan: RestorePlan = {
    command: journal.command,
    archive: journal.archive,
    createdAt: manifest.createdAt,
    sourceHost: manifest.source.hostname,
    cupmVersion: input.cupmVersion,
    pendingRecovery: null,
    services: { stop: journal.services.wereRunning, alreadyStopped: server.alreadyStopped },
    databases: journal.dumpDatabases.map((name) => {
      const rename = journal.renames.find((r) => r.from === name);
      return rename ? { name, action: 'replace' as const, movedTo: rename.to } : { name, action: 'create' as const };
    }),
    roles: {
      alter: manifest.postgres.roles.filter((r) => server.roles.includes(r)),
      create: manifest.postgres.roles.filter((r) => !server.roles.includes(r)),
      admin: journal.adminRole,
      adminPassword: journal.adminPasswordFromBackup ? 'from-backup' : 'kept',
    },
    files: journal.files.map((f) => ({
      path: f.relativePath,
      target: f.target,
      action: f.before !== null ? ('replace' as const) : ('create' as const),
      from: files.fromArchive.has(f.relativePath) ? ('archive' as const) : ('this server' as const),
    })),
    rewrites: files.rewrites,
    ports: files.ports,
    purge: journal.purge === null ? null : { host: journal.purge.host, rows: purgeRows ?? null },
    postgres: journal.pgService ? { restart: journal.pgService } : { endSessionsOf: journal.dbRole },
    keepPrevious: journal.keepPrevious,
    analyze: journal.analyze === true,
    disk: server.disk,
    warnings,
  };
  if (journal.live) plan.live = describeLive(journal);
  else if (input.plainBecause)
    plan.plain =
      input.plainBecause === 'no-live'
        ? '--no-live was given'
        : `this server has no database ${config.database} to keep CUPM running on (a fresh install, or a dead server)`;
  return { plan, journal };
}
