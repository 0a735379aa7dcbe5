import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DUMP_ENTRY, FILES_PREFIX, type Manifest, type ManifestEntry } from '../archive/format.js';
import { IdentityRequiredError } from '../archive/encryption.js';
import { ArchiveReader } from '../archive/reader.js';
import { archiveKeys } from '../config/encryption-settings.js';
import { verifyArchive } from '../archive/verify.js';
import { isS3Url, s3Remote } from '../offsite/s3-archive.js';
import { findJbossFolder } from '../artifacts/cupm-files.js';
import { isOldCupmVersion, readCupmVersion, sameCupmVersion } from '../artifacts/install-log.js';
import { quoteArg } from '../system/windows-paths.js';
import { readProperties } from '../artifacts/dfc-properties.js';
import { hostProblem } from '../artifacts/host.js';
import { requireInstallDir, type Config } from '../config/config.js';
import { ArchiveInvalidError, ConfigError, RefusedError, messageOf } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import { checkCupmPorts, databasePortMismatch, remoteProbe, type PortFinding, type PortProbe } from './ports.js';
import { listDatabases, listRoles } from '../pg/catalog.js';
import { connectionInfo, serverVersion, withClient } from '../pg/connection.js';
import { isLocalHost, sameHost } from '../pg/locality.js';
import { dumpPair, dumpPairHint, findPgTool, type PgTool } from '../pg/tools.js';
import { createServiceManager } from '../services/index.js';
import type { ServiceManager } from '../services/service-manager.js';
import { fileMeta } from './atomic-file.js';
import { databaseExists, incomingName, nameStamp, previousName } from './databases.js';
import { describeLive } from './live.js';
import { checkDisk } from './disk.js';
import { shareFreeSpace } from './share-space.js';
import { countRowsInDump } from '../pg/dump/row-count.js';
import { BUILTIN_DATABASES } from '../pg/dump/syntax.js';
import { newJournal, type JournalFile, type RestoreJournal } from './journal.js';
import type { RestorePlan } from './plan.js';
import { DFC_PROPERTIES, hasEdits, rewriteDfcDs, rewriteDfcProperties, type ConfigEdits, type Rewrite } from './rewrites.js';

/** The largest CUPM file read into memory (they are a few KB; the keystore a few more). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const DS_SUFFIX = '/server/cupm/deploy/dfc-ds.xml';

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
   * --live: when the application database exists, load the dump into an incoming database while
   * CUPM runs and stop the services only for the swap (src/restore/live.ts).
   */
  live?: boolean;
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
 * (exit 3), version, disk, ports (exit 4); bad options or files (exit 2).
 */
export async function prepareRestore(
  config: Config,
  archiveArg: string,
  options: RestoreOptions,
  reporter: Reporter,
): Promise<PreparedRestore> {
  const dbHosts = checkHostOptions(options);
  const installDir = requireInstallDir(config);
  // s3://bucket/prefix/NAME.zip is read in place (ranged GETs), never downloaded first.
  const remote = isS3Url(archiveArg) ? s3Remote(archiveArg, config.offsite.s3) : undefined;
  const archive = remote ? archiveArg : path.resolve(archiveArg);
  const command = options.migration ? 'migrate' : 'restore';

  // --live onto a server that has the application database: the dump is verified while it loads.
  const live = options.live === true && (await withClient(config, 'postgres', (client) => databaseExists(client, config.database)));
  reporter.info(live ? `Verifying ${archive} (all but the dump, which is hashed while it loads)` : `Verifying ${archive}`);
  // An encrypted archive is decrypted whole here, before anything is stopped: a wrong identity or
  // a tampered byte is refused now (exit 3), with nothing touched.
  const keys = archiveKeys(config.encryption);
  const report = await verifyArchive(archive, {
    keys,
    remote,
    deferDump: live,
    onProgress: (done, total) => reporter.progress('verify', done, total),
  });
  if (report.needsIdentity) {
    throw new IdentityRequiredError(`The archive ${archive} is encrypted; restoring it needs the identity it was encrypted to.`, {
      state: 'nothing was changed',
      hint: 'pass --identity <file> (or set CUPM_IDENTITY) with the age key made by age-keygen',
    });
  }
  if (!report.ok || !report.manifest) {
    throw new ArchiveInvalidError(`The archive ${archive} is NOT valid:`, {
      problems: report.problems,
      state: 'nothing was changed',
      hint: 'do not restore from it; use another archive (cupm-backup list)',
    });
  }
  const manifest = report.manifest;
  const dumpEntry = manifest.entries.find((e) => e.path === DUMP_ENTRY)!;
  // An archive imported knowingly incomplete (import --allow-incomplete) verifies with a warning.
  const warnings: string[] = [...report.warnings];

  // Versions: the install guide moves only 8.5; a restore must match the installed version.
  const installed = safeVersion(path.join(installDir, 'install.log'));
  const inArchive = manifest.cupm.version;
  if (options.migration && (inArchive === null || !sameCupmVersion(inArchive, options.migration.requiredVersion))) {
    throw new RefusedError(
      `Only CUPM ${options.migration.requiredVersion} can move to a new server; this archive holds CUPM ${inArchive ?? '(unknown version)'}.`,
      {
        state: 'nothing was changed',
        hint: `upgrade the old server to CUPM ${options.migration.requiredVersion} first, back it up again, and migrate that archive (the install guide's Windows 2003 -> 2008 procedure)`,
      },
    );
  }
  const versionsMatch = inArchive !== null && installed !== null && sameCupmVersion(inArchive, installed);
  if (!versionsMatch) {
    const text = `The archive holds CUPM ${inArchive ?? '(unknown version)'}; this server has CUPM ${installed ?? '(unknown: no version in ' + path.join(installDir, 'install.log') + ')'} installed.`;
    if (!options.allowVersionMismatch) {
      throw new RefusedError(text, {
        state: 'nothing was changed',
        hint: versionMismatchHint(inArchive, installed, archive),
      });
    }
    warnings.push(`${text} Going on (--allow-version-mismatch).`);
  }
  if (!manifest.postgres.databases.includes(config.database)) {
    throw new RefusedError(
      `The archive holds no database "${config.database}" (it holds: ${manifest.postgres.databases.join(', ') || 'none'}).`,
      {
        state: 'nothing was changed',
        hint: 'check CUPM_DATABASE, or the archive',
      },
    );
  }

  const reader = remote ? await remote.open(keys) : await ArchiveReader.open(archive, keys);
  try {
    // Opened again for the load: refuse a file swapped since it verified.
    if (reader.structuralProblems.length > 0) {
      throw new ArchiveInvalidError(`The archive ${archive} changed since it was verified:`, {
        problems: reader.structuralProblems,
        state: 'nothing was changed',
      });
    }
    const pgInfo = connectionInfo(config);
    const databaseIsLocal = await isLocalHost(pgInfo.host);
    // From an admin host (CUPM_SERVER), what matters is whether PostgreSQL runs on the CUPM server:
    // its port is then the CUPM database's, and its service is restarted through the (remote) driver.
    const databaseOnServer = config.server ? await sameHost(pgInfo.host, config.server.host) : databaseIsLocal;
    const edits: ConfigEdits = { dbHosts, dbPort: options.dbPort, properties: {} };

    // Old NICE host: given, or (migrate) the one address the old server had.
    let niceHost = options.oldNiceHost;
    if (niceHost === undefined && options.migration?.niceHostFromManifest) {
      const addresses = manifest.source.addresses;
      if (addresses.length === 1 && !hostProblem(addresses[0]!)) niceHost = addresses[0]!;
      else
        warnings.push(
          `nicesyseng is not purged: the archive records ${addresses.length} addresses of the old server (${addresses.join(', ') || 'none'}); pass --old-nice-host to name the old NICE host`,
        );
    }

    // The files: from the archive (unless --no-files), rewritten; or this server's, rewritten.
    const fileEntries = options.noFiles ? [] : manifest.entries.filter((e) => e.path.startsWith(FILES_PREFIX));
    const contents = new Map<string, Buffer>();
    for (const entry of fileEntries) contents.set(entry.path.slice(FILES_PREFIX.length), await readEntry(reader, entry));

    let ports: PortFinding[] | null = null;
    const propertiesRel = DFC_PROPERTIES;
    // dfc-ds.xml: the archive's, else this server's (its JBoss folder found, not assumed).
    const dsPath = () => [...contents.keys()].find((p) => p.endsWith(DS_SUFFIX)) ?? localDsPath(installDir);
    const needsRewrite = hasEdits(edits) || options.migration !== undefined;
    const base = async (rel: string): Promise<{ text: string; origin: string } | undefined> => {
      const fromArchive = contents.get(rel);
      if (fromArchive) return { text: fromArchive.toString('latin1'), origin: `${rel} in the archive` };
      const local = path.join(installDir, ...rel.split('/'));
      const bytes = await fsp.readFile(local).catch(() => undefined);
      return bytes ? { text: bytes.toString('latin1'), origin: local } : undefined;
    };

    const rewrites: Rewrite[] = [];
    if (needsRewrite) {
      const props = await base(propertiesRel);
      if (!props) {
        throw new ConfigError(`There is no ${propertiesRel} to rewrite (not in the archive, not under ${installDir}).`, {
          state: 'nothing was changed',
        });
      }
      if (options.migration) {
        const values = readProperties(props.text);
        if (options.dbPort !== undefined) values.set('dfc.postgres.port', String(options.dbPort));
        const checked = await checkCupmPorts(values, {
          databasePort: pgInfo.port,
          databaseIsLocal: databaseOnServer,
          autoPorts: options.migration.autoPorts,
          // From an admin host a port of the server is in use when it accepts a connection.
          probe: options.migration.portProbe ?? (config.server ? remoteProbe(config.server.host) : undefined),
        });
        ports = checked.findings;
        edits.properties = checked.moves;
      }
      if (hasEdits(edits)) {
        const rewritten = rewriteDfcProperties(props.text, edits, props.origin);
        contents.set(propertiesRel, Buffer.from(rewritten.text, 'latin1'));
        rewrites.push(...rewritten.rewrites);
        warnings.push(...rewritten.warnings);
        if (edits.dbHosts !== undefined || edits.dbPort !== undefined) {
          const dsRel = dsPath();
          const ds = dsRel === undefined ? undefined : await base(dsRel);
          if (!dsRel || !ds) {
            throw new ConfigError(`There is no <JBoss folder>${DS_SUFFIX} to rewrite (not in the archive, not under ${installDir}).`, {
              state: 'nothing was changed',
              hint: 'restore onto an installed CUPM (CUPM_INSTALL_DIR), or with an archive that holds dfc-ds.xml',
            });
          }
          const dsRewritten = rewriteDfcDs(ds.text, edits, dsRel, ds.origin);
          contents.set(dsRel, Buffer.from(dsRewritten.text, 'latin1'));
          rewrites.push(...dsRewritten.rewrites);
        }
      }
    }

    // A restore onto a server whose PostgreSQL listens elsewhere than the archive's port: CUPM
    // would not find its database. --db-port rewrites it (above); without it, the plan warns.
    const restoredProperties = contents.get(propertiesRel);
    if (restoredProperties && options.dbPort === undefined && !options.migration) {
      const mismatch = databasePortMismatch(readProperties(restoredProperties.toString('latin1')), pgInfo.port);
      if (mismatch) warnings.push(mismatch);
    }

    // Where each file goes; its folder must exist (CUPM is installed there).
    const stamp = nameStamp(new Date());
    const snapshotDir = path.join(config.backupDir, `cupm-restore-${stamp}-${crypto.randomBytes(3).toString('hex')}`);
    const files: JournalFile[] = [];
    const planFiles: RestorePlan['files'] = [];
    const missingDirs: string[] = [];
    for (const [rel] of contents) {
      const target = path.join(installDir, ...rel.split('/'));
      const meta = await fileMeta(target);
      if (!(await isDir(path.dirname(target)))) missingDirs.push(path.dirname(target));
      const key = rel.split('/').join(path.sep);
      files.push({
        relativePath: rel,
        target,
        staged: path.join(snapshotDir, 'staged', key),
        before: meta ? path.join(snapshotDir, 'before', key) : null,
        mode: meta?.mode ?? 0o600,
        uid: meta?.uid ?? null,
        gid: meta?.gid ?? null,
      });
      planFiles.push({
        path: rel,
        target,
        action: meta ? 'replace' : 'create',
        from: fileEntries.some((e) => e.path === FILES_PREFIX + rel) ? 'archive' : 'this server',
      });
    }
    if (missingDirs.length > 0) {
      throw new ConfigError(`The install dir ${installDir} lacks folders the archive's files go into:`, {
        problems: [...new Set(missingDirs)],
        state: 'nothing was changed',
        hint: 'install CUPM there first (CUPM_INSTALL_DIR), or pass --no-files to restore only the database',
      });
    }

    // The server: tools, connection, databases and roles, disk.
    const psql = await findPgTool(config, 'psql');
    const dumpall = await findPgTool(config, 'pg_dumpall');
    const server = await withClient(config, 'postgres', async (client) => ({
      version: await serverVersion(client),
      databases: await listDatabases(client),
      roles: await listRoles(client),
      disk: await checkDisk(client, dumpEntry.size, databaseIsLocal, config.backupDir),
    }));
    if (server.disk.note) warnings.push(`disk: ${server.disk.note}`);
    // From an admin host the files go over the share: room for them there, before any service stops.
    if (config.server && contents.size > 0) {
      const filesNeeded = [...contents.values()].reduce((sum, bytes) => sum + bytes.length, 0);
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
    const dumpDatabases = manifest.postgres.databases.filter((d) => !BUILTIN_DATABASES.includes(d));
    const renames = dumpDatabases.filter((d) => server.databases.includes(d)).map((from) => ({ from, to: previousName(from, stamp) }));
    const incoming = live ? dumpDatabases.map((name) => ({ name, incoming: incomingName(name, stamp) })) : undefined;
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
    const manager = options.serviceManager ?? createServiceManager(config);
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

    if (options.noFiles && manifest.postgres.roles.includes(config.dbRole)) {
      warnings.push(
        `--no-files: role ${config.dbRole} gets the password it had on the old server (the roles come from the backup); this server's dfc-ds.xml must hold that password for JBoss to log in`,
      );
    }

    const purgeRows =
      niceHost !== undefined && options.countPurgeRows
        ? await countRowsInDump(await reader.openEntry(DUMP_ENTRY), {
            database: config.database,
            table: 'nicesyseng',
            column: 'host',
            value: niceHost,
          })
        : undefined;

    const plan: RestorePlan = {
      command,
      archive,
      createdAt: manifest.createdAt,
      sourceHost: manifest.source.hostname,
      cupmVersion: { archive: inArchive, installed },
      pendingRecovery: null,
      services: { stop, alreadyStopped },
      databases: dumpDatabases.map((name) => {
        const rename = renames.find((r) => r.from === name);
        return rename ? { name, action: 'replace' as const, movedTo: rename.to } : { name, action: 'create' as const };
      }),
      roles: {
        alter: manifest.postgres.roles.filter((r) => server.roles.includes(r)),
        create: manifest.postgres.roles.filter((r) => !server.roles.includes(r)),
        admin: pgInfo.user,
        adminPassword: options.adminPasswordFromBackup ? 'from-backup' : 'kept',
      },
      files: planFiles,
      rewrites,
      ports,
      purge: niceHost === undefined ? null : { host: niceHost, rows: purgeRows ?? null },
      postgres: pgService ? { restart: pgService } : { endSessionsOf: config.dbRole },
      keepPrevious: options.keepPrevious ?? false,
      disk: server.disk,
      warnings,
    };

    const journal = newJournal({
      command,
      archive,
      pid: process.pid,
      host: os.hostname(),
      startedAt: new Date().toISOString(),
      database: config.database,
      dbRole: config.dbRole,
      adminRole: pgInfo.user,
      snapshotDir,
      services: { configured: config.services, wereRunning: stop },
      pgService,
      dumpDatabases,
      renames,
      roles: null,
      databasesBefore: null,
      files,
      purge: niceHost === undefined ? null : { host: niceHost, deleted: null },
      keepPrevious: options.keepPrevious ?? false,
      adminPasswordFromBackup: options.adminPasswordFromBackup ?? false,
      adminPassword: null,
      psqlPid: null,
      steps: [],
      finishing: [],
      ...(incoming ? { live: { incoming, outage: false } } : {}),
    });
    if (incoming) plan.live = describeLive(journal);
    return {
      config,
      archive,
      reader,
      manifest,
      dumpEntry,
      psql,
      dumpall,
      manager,
      plan,
      staged: contents,
      journal,
      dropRestrict: !psqlKnowsRestrict(psql),
    };
  } catch (error) {
    await reader.close();
    throw error;
  }
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

/** A CUPM file's bytes from the archive, checked against the manifest (it may change after verify). */
async function readEntry(reader: ArchiveReader, entry: ManifestEntry): Promise<Buffer> {
  if (entry.size > MAX_FILE_BYTES) throw new ArchiveInvalidError(`${entry.path} is ${entry.size} bytes: too large to be a CUPM file.`);
  const chunks: Buffer[] = [];
  for await (const chunk of await reader.openEntry(entry.path)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== entry.size || crypto.createHash('sha256').update(bytes).digest('hex') !== entry.sha256) {
    throw new ArchiveInvalidError(`${entry.path} changed since the archive was verified.`, { state: 'nothing was changed' });
  }
  return bytes;
}

function safeVersion(file: string): string | null {
  try {
    return readCupmVersion(file);
  } catch {
    return null;
  }
}

/** dfc-ds.xml of this server, relative to the install dir, when there is one. */
function localDsPath(installDir: string): string | undefined {
  try {
    const jboss = findJbossFolder(installDir);
    return jboss.includes('*') ? undefined : `${jboss}${DS_SUFFIX}`;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`Cannot read the install dir ${installDir}: ${messageOf(error)}`, { state: 'nothing was changed' });
  }
}

async function isDir(dir: string): Promise<boolean> {
  return fsp.stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** What to do when the archive's CUPM version is not the installed one: which version to reinstall first. */
function versionMismatchHint(inArchive: string | null, installed: string | null, archive: string): string {
  const force = 'or pass --allow-version-mismatch if you know this database fits the installed version';
  if (inArchive === null) return `the archive does not say which CUPM version it holds: ${force}`;
  const reinstall = `reinstall CUPM ${inArchive} (the version in the archive) here first, then run the restore again`;
  // An older archive onto a newer install: the way back from a failed upgrade.
  if (installed !== null && isOldCupmVersion(inArchive) && !isOldCupmVersion(installed)) {
    return `${reinstall}; after a failed upgrade, cupm-backup upgrade rollback ${quoteArg(archive)} prints the clean-up and the whole sequence; ${force}`;
  }
  return `${reinstall}; ${force}`;
}
