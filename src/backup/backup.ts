import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import path from 'node:path';
import type { ArchiveKeys } from '../archive/encryption.js';
import { ArchiveWriter } from '../archive/writer.js';
import {
  archiveFileName,
  canonicalLabel,
  DUMP_ENTRY,
  FORMAT_NAME,
  FORMAT_VERSION,
  fileEntryName,
  PARTIAL_SUFFIX,
  type Manifest,
  type ManifestBody,
} from '../archive/format.js';
import { locateCupmFiles, fileOf, type CupmFile } from '../artifacts/cupm-files.js';
import { readCupmVersion } from '../artifacts/install-log.js';
import { requireInstallDir, type Config } from '../config/config.js';
import { ConfigError, CupmError, DirtyStateError, JobFailedError, RefusedError, messageOf } from '../errors.js';
import { currentRecorder } from '../jobs/job-record.js';
import { readJournal } from '../restore/journal.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { databaseSizes, databasesToDump, describeSession, listDatabases, listRoles, otherSessions, type Session } from '../pg/catalog.js';
import { connectionInfo, serverVersion, withClient, type PgVersion } from '../pg/connection.js';
import { withJobGuard } from '../pg/job-guard.js';
import { endsWithTrailer, TRAILER_WINDOW } from '../pg/dump/script.js';
import { canExcludeDatabases, startDumpall } from '../pg/dumpall.js';
import { dumpPair, dumpPairHint, findPgTool, type PgTool } from '../pg/tools.js';
import { createServiceManager } from '../services/index.js';
import { withServicesStopped, type ServiceScopeRecord } from '../services/scope.js';
import type { ServiceManager } from '../services/service-manager.js';
import { lowerCpuPriority } from '../system/cpu-priority.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import { hostFacts } from './host-facts.js';
import { chooseDumpRoute, fileTail, followSpool, removeStaleSpools, spoolPathFor, type DumpRoute } from './spool.js';

export interface BackupOptions {
  label?: string | null;
  /** Do not stop the services (the consistency guard still refuses live sessions). */
  noStop?: boolean;
  /** Back up even with sessions on the application database; the manifest records it. */
  allowLive?: boolean;
  compressionLevel?: number;
  /** Cancels the backup (Ctrl-C): the dump is stopped, nothing is kept, services come back. */
  signal?: AbortSignal;
  /** For tests: a service manager other than the configured one. */
  serviceManager?: ServiceManager;
}

export interface BackupResult {
  archive: string;
  size: number;
  manifest: Manifest;
  dumpBytes: number;
  durationMs: number;
  services: ServiceScopeRecord;
  liveSessions: Session[];
  /** Encrypted to CUPM_ENCRYPT_TO: the archive is `<name>.zip.age`. */
  encrypted: boolean;
  /** ms from the first service stopped to the last started again, by our clock (0 with none stopped). */
  servicesDownMs: number;
  /** ms pg_dumpall ran. */
  dumpMs: number;
  /** The dump went through a spool (services back before the archive was written). */
  spooled: boolean;
  /** What reads this archive back in this process (its file key, when encrypted): never printed or stored. */
  keys: ArchiveKeys;
}

/** What preflight learned; nothing has been touched when it exists. */
interface BackupContext {
  config: Config;
  installDir: string;
  files: CupmFile[];
  tool: PgTool;
  server: PgVersion;
  databases: string[];
  /** Databases of the cluster the dump leaves out (not CUPM's). */
  excluded: string[];
  roles: string[];
  cupmVersion: string | null;
  manager: ServiceManager;
  /** Bytes on disk of the databases the dump holds: the estimate of the dump (and the spool). */
  databaseBytes: number;
}

/**
 * Backs up a CUPM server: preflight (nothing touched), lock, stop services, consistency guard,
 * stream pg_dumpall and the five files into a verified archive, start services again.
 */
export async function backup(config: Config, options: BackupOptions = {}, reporter: Reporter = silentReporter): Promise<BackupResult> {
  const context = await preflight(config, options, reporter);
  return withJobGuard(config, 'backup', { reporter, serviceManager: context.manager }, () => runBackup(context, options, reporter));
}

/**
 * The same backup for a caller that already holds the job guard (`nightly` takes it once for its
 * whole run: the folder lock, the server lock, the crash record; taking it again here would refuse
 * the caller itself).
 */
export async function backupLocked(
  config: Config,
  options: BackupOptions = {},
  reporter: Reporter = silentReporter,
): Promise<BackupResult> {
  const context = await preflight(config, options, reporter);
  return runBackup(context, options, reporter);
}

/** Checks everything a backup needs before anything is stopped; reports all problems at once. */
async function preflight(config: Config, options: BackupOptions, reporter: Reporter): Promise<BackupContext> {
  // A label that cannot be written is a usage error before anything is stopped.
  if (options.label) canonicalLabel(options.label);
  const installDir = requireInstallDir(config);
  const problems: string[] = [];
  let files: CupmFile[] = [];
  try {
    files = locateCupmFiles(installDir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...(error.problems.length > 0 ? error.problems.map((p) => `missing: ${p}`) : [error.message]));
  }
  const backupDirProblem = await checkWritableDir(config.backupDir);
  if (backupDirProblem) problems.push(backupDirProblem);
  if (problems.length > 0) {
    throw new ConfigError('The backup cannot start:', {
      problems,
      state: 'nothing was changed; no service was stopped',
      hint: 'check CUPM_INSTALL_DIR and CUPM_BACKUP_DIR (or --output-dir)',
    });
  }

  const tool = await findPgTool(config, 'pg_dumpall');
  const { server, databases, roles, sizes } = await withClient(config, 'postgres', async (client) => ({
    server: await serverVersion(client),
    databases: await listDatabases(client),
    roles: await listRoles(client),
    sizes: await databaseSizes(client),
  }));
  if (!databases.includes(config.database)) {
    throw new ConfigError(`The application database "${config.database}" does not exist on ${describeServer(config)}.`, {
      problems: [`databases there: ${databases.join(', ') || '(none)'}`],
      state: 'nothing was changed; no service was stopped',
      hint: 'check CUPM_DATABASE and PGHOST/PGPORT',
    });
  }
  const missingExtra = config.extraDatabases.filter((d) => !databases.includes(d));
  if (missingExtra.length > 0) {
    throw new ConfigError(`CUPM_EXTRA_DATABASES names databases that are not on ${describeServer(config)}: ${missingExtra.join(', ')}.`, {
      problems: [`databases there: ${databases.join(', ')}`],
      state: 'nothing was changed; no service was stopped',
      hint: 'correct CUPM_EXTRA_DATABASES',
    });
  }
  const chosen = databasesToDump(databases, config.database, config.extraDatabases);
  if (chosen.excluded.length > 0 && !canExcludeDatabases(tool)) {
    reporter.warn(
      `${tool.path} (${tool.version.text}) has no --exclude-database (PostgreSQL 12+): the dump holds every database, also ${chosen.excluded.join(', ')}, which CUPM does not use; drop the ones you do not need (cupm-backup doctor names left-over previous databases)`,
    );
  }
  const pair = dumpPair(tool.version, server);
  if (!pair.ok) {
    throw new ConfigError(`${tool.path} is ${pair.reason}.`, {
      state: 'nothing was changed; no service was stopped',
      hint: dumpPairHint(pair.clients),
    });
  }
  const cupmVersion = readCupmVersion(fileOf(files, 'installLog').absolutePath);
  if (cupmVersion === null) reporter.warn('install.log does not say which CUPM version this is; the archive records it as unknown');
  const manager = options.serviceManager ?? createServiceManager(config);
  const dumped = canExcludeDatabases(tool) ? chosen : { keep: databases, excluded: [] };
  // Only what the dump holds needs room: a big database the backup leaves out does not.
  const bytes = dumped.keep.reduce((sum, name) => sum + (sizes.get(name) ?? 0), 0);
  return {
    config,
    installDir,
    files,
    tool,
    server,
    databases: dumped.keep,
    excluded: dumped.excluded,
    roles,
    cupmVersion,
    manager,
    databaseBytes: bytes,
  };
}

async function runBackup(ctx: BackupContext, options: BackupOptions, reporter: Reporter): Promise<BackupResult> {
  const started = Date.now();
  await refuseHalfRestoredServer(ctx.config.backupDir);
  await removeStalePartials(ctx.config.backupDir, reporter);
  await removeStaleSpools(ctx.config.backupDir, reporter);
  const services = options.noStop ? [] : ctx.config.services;
  if (options.noStop) reporter.info('Not stopping services (--no-stop)');
  // Before any service stops: room for the spool and the archive (the archive a quarter of the
  // dump at most: deflate makes it a seventh of CUPM's dumps).
  const route = await chooseDumpRoute(
    ctx.config.backupDir,
    { dumpBytes: ctx.databaseBytes, archiveBytes: Math.ceil(ctx.databaseBytes / 4) },
    options.noStop ?? false,
  );
  if (!route.spool && !options.noStop) reporter.warn(route.why[0]!.toUpperCase() + route.why.slice(1));

  let liveSessions: Session[] = [];
  let dump: DumpInProgress | undefined;
  const downFrom = Date.now();
  let scope: ServiceScopeRecord;
  let dumped: ServiceScopeRecord | undefined;
  // The crash record names each service before it stops: a run killed from here on is healed by the next.
  const recorder = currentRecorder();
  let stopping: ServiceScopeRecord | undefined;
  try {
    scope = await withServicesStopped(
      ctx.manager,
      services,
      reporter,
      async (record) => {
        liveSessions = await consistencyGuard(ctx, options, record.stopped.length > 0, reporter);
        await recorder?.step('dump');
        const started = await startArchive(ctx, options, reporter, route);
        dump = started;
        // Spooled, this is the dump complete (the archive is still being written); streamed, the
        // whole archive but its manifest. A failure is cleaned up before any service starts.
        await started.complete.catch(async (error: unknown) => {
          throw await started.abort(error);
        });
        dumped = record;
        await recorder?.step('start');
        return record;
      },
      {
        // Told to stop while CUPM is up (the services' states being asked): no service is stopped.
        signal: options.signal,
        onStopped: async (record) => {
          stopping = record;
          await recorder?.servicesStopping(record.stopped);
        },
      },
    );
  } catch (error) {
    // The record cannot be updated (disk full): it still names them, and the next run checks each.
    if (recorder) await recorder.servicesBack(await stillStopped(ctx.manager, stopping?.stopped ?? [])).catch(() => {});
    // The dump is good and only a service did not start again: the archive is still worth having.
    if (dump && dumped && error instanceof DirtyStateError)
      throw await finishDespiteServices(dump, dumped, liveSessions, Date.now() - downFrom, error);
    throw dump ? await dump.abort(error) : error;
  }
  await recorder?.servicesBack([]);
  await recorder?.step('archive');
  const servicesDownMs = scope.stopped.length > 0 ? Date.now() - downFrom : 0;
  if (route.spool && scope.stopped.length > 0) reporter.info('Services are running again; the archive is still being written');
  const { written, dumpBytes, keys, dumpMs } = await dump!.finish(scope, liveSessions, servicesDownMs);
  return {
    archive: written.path,
    size: written.size,
    manifest: written.manifest,
    dumpBytes,
    durationMs: Date.now() - started,
    services: scope,
    liveSessions,
    encrypted: ctx.config.encryption.recipients.length > 0,
    keys,
    servicesDownMs,
    dumpMs,
    spooled: route.spool,
  };
}

/** A backup whose archive was written and verified, but a service did not start again (exit 5): the error names the archive. */
export class ServicesDownAfterBackupError extends DirtyStateError {
  constructor(
    readonly archive: string,
    cause: DirtyStateError,
  ) {
    super(`The backup was written and verified: ${archive}; but services could not be started again after it:`, {
      problems: cause.problems,
      state: `the archive ${archive} is complete; ${cause.state ?? 'services are stopped'}`,
      hint: cause.hint,
      cause,
    });
  }
}

/** Writes the rest of an archive whose dump completed although a service did not start; the error to throw names it. */
async function finishDespiteServices(
  dump: DumpInProgress,
  scope: ServiceScopeRecord,
  liveSessions: Session[],
  servicesDownMs: number,
  error: DirtyStateError,
): Promise<CupmError> {
  try {
    const { written } = await dump.finish(scope, liveSessions, servicesDownMs);
    return new ServicesDownAfterBackupError(written.path, error);
  } catch (failure) {
    return error.withState(
      `${error.state ?? ''} The archive could not be completed either (${messageOf(failure)}): no archive was written.`.trim(),
    );
  }
}

/**
 * Refuses to dump while anything but us is connected to the application database: a dump taken
 * under a running JBoss is consistent for PostgreSQL but not for CUPM (orders half placed).
 * Sessions may take a moment to go after their service stopped, so then it looks for a while.
 */
async function consistencyGuard(
  ctx: BackupContext,
  options: BackupOptions,
  servicesJustStopped: boolean,
  reporter: Reporter,
): Promise<Session[]> {
  const deadline = Date.now() + (servicesJustStopped ? 10_000 : 0);
  let sessions: Session[];
  for (;;) {
    sessions = await withClient(ctx.config, 'postgres', (client) => otherSessions(client, ctx.server, ctx.config.database));
    if (sessions.length === 0 || options.allowLive || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (sessions.length === 0) return sessions;
  if (options.allowLive) {
    reporter.warn(
      `Backing up with ${sessions.length} live session(s) on "${ctx.config.database}" (--allow-live); the manifest records them`,
    );
    return sessions;
  }
  throw new RefusedError(`Other sessions are connected to the database "${ctx.config.database}"; a backup now may not be consistent:`, {
    problems: sessions.map(describeSession),
    hint: 'stop the programs named above (CUPM_SERVICES lists what the tool stops), or run with --allow-live to back up anyway',
  });
}

/** An archive being written, its dump running or done. */
interface DumpInProgress {
  /** Settles once pg_dumpall exited 0 and its output ends with the trailer (spooled), or the dump entry is written (streamed). */
  complete: Promise<void>;
  /** Writes the rest and the manifest, checks it, renames it; the spool is gone afterwards. */
  finish(
    scope: ServiceScopeRecord,
    liveSessions: Session[],
    servicesDownMs: number,
  ): Promise<{ written: { path: string; size: number; manifest: Manifest }; dumpBytes: number; keys: ArchiveKeys; dumpMs: number }>;
  /** Stops everything, removes the partial archive and the spool; returns what to throw. */
  abort(error: unknown): Promise<unknown>;
}

/**
 * Starts the archive: the CUPM files, then pg_dumpall. Spooled, pg_dumpall writes into
 * `<archive>.spool` at its own speed and the writer follows that file as it grows; streamed, the
 * writer reads pg_dumpall's output as it comes.
 */
async function startArchive(ctx: BackupContext, options: BackupOptions, reporter: Reporter, route: DumpRoute): Promise<DumpInProgress> {
  const createdAt = new Date();
  const host = hostFacts();
  const label = options.label ? canonicalLabel(options.label) : null;
  const finalPath = path.join(ctx.config.backupDir, archiveFileName(host.hostname, createdAt, label));
  const recipients = ctx.config.encryption.recipients;
  const writer = await ArchiveWriter.create(finalPath, {
    compressionLevel: options.compressionLevel ?? ctx.config.compressionLevel,
    encryptTo: recipients,
  });
  if (recipients.length > 0)
    reporter.info(`Encrypting the archive to ${recipients.length} age recipient(s) (CUPM_ENCRYPT_TO): only their identities can read it`);
  const spool = route.spool ? spoolPathFor(writer.finalPath) : undefined;
  let child: ReturnType<typeof startDumpall> | undefined;
  let source: Readable | undefined;
  const cancel = () => {
    child?.kill();
    source?.destroy(cancelled());
  };
  options.signal?.addEventListener('abort', cancel);
  const removeSpool = async () => {
    if (spool) await fs.rm(spool, { force: true });
  };
  let dumpMs = 0;
  let entry: Promise<Awaited<ReturnType<ArchiveWriter['addStream']>>> | undefined;
  const abort = async (error: unknown) => {
    options.signal?.removeEventListener('abort', cancel);
    child?.kill();
    source?.destroy();
    await child?.finished.catch(() => {});
    await entry?.catch(() => {});
    await removeSpool();
    return writer.abortAfter(options.signal?.aborted ? cancelled() : error, 'The backup');
  };
  try {
    for (const file of ctx.files) await writer.addFile(fileEntryName(file.relativePath), file.absolutePath);
    // Owner-only and new: it holds the whole dump, password hashes included. Ours closes once
    // pg_dumpall has its own copy of the descriptor.
    const spoolFile = spool ? await fs.open(spool, 'wx', 0o600) : undefined;
    reporter.info(
      `Dumping PostgreSQL ${ctx.server.text} with ${ctx.tool.path} (${ctx.tool.version.text})${spool ? ` into the spool ${path.basename(spool)}: the services start again once it is complete` : ''}`,
    );
    if (ctx.excluded.length > 0) {
      reporter.info(`Left out of the dump (not CUPM's databases; CUPM_EXTRA_DATABASES adds one): ${ctx.excluded.join(', ')}`);
    }
    const dumpStarted = Date.now();
    let dumpall: ReturnType<typeof startDumpall>;
    try {
      dumpall = startDumpall(ctx.tool, ctx.config, { exclude: ctx.excluded, ...(spoolFile ? { outputFd: spoolFile.fd } : {}) });
    } finally {
      await spoolFile?.close();
    }
    child = dumpall;
    // Spooled, the writer only follows: the dump (and so the outage) goes first.
    const restorePriority = spool ? lowerCpuPriority() : () => {};
    const ran = dumpall.finished.finally(restorePriority).then(() => {
      dumpMs = Date.now() - dumpStarted;
    });
    ran.catch(() => {});
    source = spool ? followSpool(spool, dumpall.finished) : dumpall.stdout!;
    if (options.signal?.aborted) cancel();
    entry = writer.addStream(DUMP_ENTRY, source, { tailBytes: TRAILER_WINDOW, onBytes: (n) => reporter.progress('dump', n) });
    entry.catch(() => {});
    const checkTrailer = (tail: Buffer) => {
      if (!endsWithTrailer(tail.toString('latin1'))) {
        throw new JobFailedError(
          'pg_dumpall exited successfully but its output does not end with "-- PostgreSQL database cluster dump complete": the dump is incomplete.',
        );
      }
    };
    const dumpEntry = entry;
    const complete = (async () => {
      if (spool) {
        // The dump is complete when pg_dumpall is; a failure of the archive meanwhile ends it too.
        await Promise.race([ran, dumpEntry.then(() => new Promise<never>(() => {}))]);
        checkTrailer(await fileTail(spool, TRAILER_WINDOW));
      } else {
        await dumpEntry;
        await ran;
      }
      if (options.signal?.aborted) throw cancelled();
    })();
    complete.catch(() => {});
    return {
      complete,
      abort,
      async finish(scope, liveSessions, servicesDownMs) {
        try {
          const measurement = await dumpEntry;
          await ran;
          checkTrailer(measurement.tail);
          if (options.signal?.aborted) throw cancelled();
          await removeSpool();
          const manifest: ManifestBody = {
            format: FORMAT_NAME,
            formatVersion: FORMAT_VERSION,
            createdAt: createdAt.toISOString(),
            label,
            tool: { name: TOOL_NAME, version: TOOL_VERSION },
            source: { ...host },
            cupm: { version: ctx.cupmVersion, installDir: ctx.installDir },
            postgres: {
              host: connectionInfo(ctx.config).host,
              port: connectionInfo(ctx.config).port,
              serverVersion: ctx.server.text,
              dumpToolVersion: ctx.tool.version.text,
              databases: ctx.databases,
              roles: ctx.roles,
              ...(ctx.excluded.length > 0 ? { excludedDatabases: ctx.excluded } : {}),
            },
            consistency: {
              serviceManager: ctx.manager.kind,
              servicesStopped: scope.stopped,
              servicesAlreadyStopped: scope.alreadyStopped,
              noStop: options.noStop ?? false,
              allowLive: options.allowLive ?? false,
              liveSessions: liveSessions.map(describeSession),
              servicesDownMs,
              dumpMs,
              spooled: spool !== undefined,
            },
          };
          const written = await writer.finish(manifest);
          options.signal?.removeEventListener('abort', cancel);
          return { written, dumpBytes: measurement.size, keys: writer.keys, dumpMs };
        } catch (error) {
          throw await abort(error);
        }
      },
    };
  } catch (error) {
    throw await abort(error);
  }
}

function cancelled(): JobFailedError {
  return new JobFailedError('The backup was cancelled (interrupted).');
}

/** Of the services a scope stopped, those that are stopped now (read, not assumed: a start may have failed half way). */
async function stillStopped(manager: ServiceManager, services: readonly string[]): Promise<string[]> {
  const down: string[] = [];
  for (const service of services) {
    const state = await manager.status(service).catch(() => 'stopped' as const);
    if (state !== 'running') down.push(service);
  }
  return down;
}

/** A restore that was killed half way left its journal: backing up now would save a half-restored server. */
async function refuseHalfRestoredServer(dir: string): Promise<void> {
  const journal = await readJournal(dir);
  if (!journal) return;
  throw new RefusedError(
    `A ${journal.command} of ${journal.archive} was interrupted (started ${journal.startedAt} by pid ${journal.pid} on ${journal.host}): the server may be half-restored.`,
    {
      state: 'nothing was changed; no service was stopped',
      hint: `run "cupm-backup ${journal.command} ${journal.archive}" again first: it finishes or undoes the interrupted one`,
    },
  );
}

/** Partials left by a killed run are garbage: we hold the lock, so no other job is writing them. */
async function removeStalePartials(dir: string, reporter: Reporter): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith('cupm-backup_') && name.endsWith(PARTIAL_SUFFIX)) {
      reporter.warn(`Removing ${name}, left by an interrupted run`);
      await fs.rm(path.join(dir, name), { force: true });
    }
  }
}

/** Creates the dir if needed and proves it is writable; returns a problem line or undefined. */
async function checkWritableDir(dir: string): Promise<string | undefined> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const probe = path.join(dir, `.cupm-backup-write-test-${process.pid}`);
    await fs.writeFile(probe, '', { mode: 0o600 });
    await fs.rm(probe);
    return undefined;
  } catch (error) {
    return `the backup folder ${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
  }
}

function describeServer(config: Config): string {
  const info = connectionInfo(config);
  return `${info.host}:${info.port}`;
}
