import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { DUMP_ENTRY, type ManifestEntry } from '../archive/format.js';
import { MeasureStream } from '../archive/measure.js';
import { endsWithTrailer, TRAILER_WINDOW } from '../pg/dump/script.js';
import type { ArchiveReader } from '../archive/reader.js';
import type { Config } from '../config/config.js';
import { ArchiveInvalidError, CupmError, JobFailedError, messageOf } from '../errors.js';
import type { Step } from '../jobs/plan.js';
import { listDatabases, listRoles } from '../pg/catalog.js';
import { serverVersion, withClient } from '../pg/connection.js';
import { serverLockHeldAgain } from '../pg/job-guard.js';
import { DumpGuard, DumpRefusedError } from '../pg/dump/guard/stream.js';
import { copyRowOf, PsqlFailedError, startPsql, type PsqlError } from '../pg/psql.js';
import type { PgTool } from '../pg/tools.js';
import type { ServiceManager } from '../services/service-manager.js';
import { removeFile, writeFileAtomic } from '../file-system.js';
import { databaseExists, dropDatabase, endRoleSessions, ident, literal, renameDatabase } from './databases.js';
import { DumpFilter, type DumpFilterOptions, type SkippedSection } from './dump-filter.js';
import { DataRouter, LoadCoordinator, runHelper, watchMarkers } from './parallel-load.js';
import { heldRolesFile, type JournalFile, type RestoreJournal } from './journal.js';
import { dumpRoles, restoreRoles, roleFacts } from './roles.js';

/** The dump being loaded: only a live run has it (a recovery never loads again). */
export interface LoadSource {
  archive: string;
  reader: ArchiveReader;
  entry: ManifestEntry;
  /** Blank \restrict lines: the psql in use predates them. */
  dropRestrict: boolean;
  /** The manifest records the dump as imported incomplete (checked here when a live restore deferred its verification). */
  dumpIncomplete?: boolean;
}

/** What the steps work with: the journal (all they need to undo), and the tools. */
export interface RestoreRuntime {
  config: Config;
  journal: RestoreJournal;
  /** Writes the journal to disk; called before every change to the server. */
  save(): Promise<void>;
  psql: PgTool;
  dumpall: PgTool;
  manager: ServiceManager;
  load?: LoadSource;
  /** New file contents by relative path, staged into the snapshot dir by the first step. */
  staged?: Map<string, Buffer>;
  /** Things the reader should know at the end (skipped built-in database contents...). */
  notes: string[];
  /** Ctrl-C / SIGTERM: the load stops (psql is killed) and the steps done are undone. */
  signal?: AbortSignal | undefined;
}

/** A step that can also say how to finish its undo by hand. */
export interface RestoreStep extends Step<RestoreRuntime> {
  /** Commands and actions to put back what this step changed, for the exit-5 message. */
  manualUndo?(rt: RestoreRuntime): string[];
}

/** The steps run while the services are stopped, in order. */
export function restoreSteps(journal: RestoreJournal): RestoreStep[] {
  const steps: RestoreStep[] = [snapshotStep(journal), moveAsideStep(journal), loadStep(journal)];
  if (journal.files.length > 0) steps.push(filesStep(journal));
  if (journal.purge) steps.push(purgeStep(journal));
  steps.push(postgresStep(journal));
  return steps;
}

/** The steps run once the services are back (nothing to undo: the restore is complete). */
export function finishingSteps(journal: RestoreJournal): RestoreStep[] {
  const steps: RestoreStep[] = [];
  if (!journal.keepPrevious && journal.renames.length > 0) steps.push(dropPreviousStep(journal));
  if (journal.analyze && journal.dumpDatabases.length > 0) steps.push(analyzeStep(journal));
  if (journal.adminPasswordFromBackup) steps.push(adminPasswordStep(journal));
  return steps;
}

export function snapshotStep(journal: RestoreJournal): RestoreStep {
  return {
    id: 'snapshot',
    title: `Snapshot the roles${journal.files.length > 0 ? ' and the files to be replaced' : ''} (in ${journal.snapshotDir})`,
    async run(rt) {
      const dir = rt.journal.snapshotDir;
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      const snapshot = path.join(dir, 'roles.sql');
      await dumpRoles(rt.dumpall, rt.config, snapshot);
      const { facts, databases } = await withClient(rt.config, 'postgres', async (client) => ({
        facts: await roleFacts(client),
        databases: await listDatabases(client),
      }));
      rt.journal.roles = { snapshot, ...facts };
      rt.journal.databasesBefore = databases;
      for (const file of rt.journal.files) {
        const content = rt.staged?.get(file.relativePath);
        if (!content) throw new Error(`no staged content for ${file.relativePath}`);
        await writePrivate(file.staged, content);
        if (file.before) await writePrivate(file.before, await fsp.readFile(file.target));
      }
      await rt.save();
      return `${facts.roles.length} roles, ${rt.journal.files.filter((f) => f.before).length} files copied`;
    },
  };
}

function moveAsideStep(journal: RestoreJournal): RestoreStep {
  const names = journal.renames.map((r) => `${r.from} -> ${r.to}`).join(', ');
  return {
    id: 'move-aside',
    title:
      journal.renames.length > 0 ? `Move the current database aside (${names})` : 'Move the current database aside (there is none to move)',
    async run(rt) {
      return withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        const present = [];
        for (const rename of rt.journal.renames) if (await databaseExists(client, rename.from)) present.push(rename);
        rt.journal.renames = present;
        await rt.save();
        for (const { from, to } of present) await renameDatabase(client, version, from, to);
        return present.length > 0 ? present.map((r) => `${r.from} is now ${r.to}`).join(', ') : 'no database to move aside';
      });
    },
    async undo(rt) {
      const problems: string[] = [];
      await withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        for (const { from, to } of [...rt.journal.renames].reverse()) {
          if (!(await databaseExists(client, to))) continue;
          if (await databaseExists(client, from)) {
            problems.push(
              `"${to}" cannot be renamed back to "${from}": a database "${from}" exists (the half-restored one, which could not be dropped)`,
            );
            continue;
          }
          await renameDatabase(client, version, to, from).catch((e) =>
            problems.push(`"${to}" could not be renamed back to "${from}": ${messageOf(e)}`),
          );
        }
      });
      if (problems.length > 0) throw new JobFailedError('The previous database could not be put back:', { problems });
    },
    manualUndo(rt) {
      return rt.journal.renames.map(({ from, to }) => `psql -d postgres -c 'ALTER DATABASE ${ident(to)} RENAME TO ${ident(from)}'`);
    },
  };
}

export function loadStep(journal: RestoreJournal): RestoreStep {
  return {
    id: 'load',
    title: `Load the dump into PostgreSQL (${loadHow(journal)})`,
    async run(rt, reporter) {
      if (!rt.load) throw new Error('the load step needs the archive');
      const { reader, entry } = rt.load;
      const existing = await withClient(rt.config, 'postgres', listRoles);
      // A live restore fills the incoming databases and holds back what would lock out running sessions.
      const live = rt.journal.live;
      const filterOptions: DumpFilterOptions = {
        existingRoles: new Set(existing),
        adminRole: rt.journal.adminRole,
        dropRestrict: rt.load.dropRestrict,
        ...(live ? { renameDatabases: new Map(live.incoming.map((d) => [d.name, d.incoming])), holdRoleAlters: new Set(existing) } : {}),
      };
      const filter = new DumpFilter(filterOptions);
      const measure = new MeasureStream(live ? TRAILER_WINDOW : 0, (n) => reporter.progress('load', n, entry.size));
      // More sessions: helpers take COPY blocks the main psql has not reached (src/restore/parallel-load.ts).
      const parallel = (rt.journal.loadSessions ?? 1) > 1 ? new LoadCoordinator() : undefined;
      const router = parallel && new DataRouter(parallel);
      const psql = startPsql(rt.psql, rt.config, 'postgres', parallel ? { stdout: 'pipe' } : {});
      if (parallel && psql.stdout) watchMarkers(psql.stdout, parallel);
      rt.journal.psqlPid = psql.pid ?? null;
      rt.journal.helperPsqlPids = [];
      await rt.save();
      // Journal writes one after the other: a helper's psql is recorded as soon as it starts.
      let saving = Promise.resolve();
      const saveInTurn = () => (saving = saving.then(() => rt.save()));
      let readFailure: unknown;
      const onAbort = () => {
        readFailure ??= new JobFailedError('The restore was cancelled (Ctrl-C or SIGTERM) while loading the dump.');
        psql.kill();
        parallel?.stop(readFailure);
      };
      rt.signal?.addEventListener('abort', onAbort);
      if (rt.signal?.aborted) onAbort();
      // Either side failing stops the other: a helper's failure kills the main psql, and the reverse.
      psql.finished.catch((error: unknown) => parallel?.stop(error));
      parallel?.onStop(() => psql.kill());
      const helpers = Array.from({ length: parallel ? (rt.journal.loadSessions ?? 1) - 1 : 0 }, () =>
        runHelper(parallel!, () => reader.openEntry(DUMP_ENTRY), DUMP_ENTRY, filterOptions, {
          psql: rt.psql,
          config: rt.config,
          started: (pid) => {
            rt.journal.helperPsqlPids = [...(rt.journal.helperPsqlPids ?? []), pid];
            void saveInTurn();
          },
        }),
      );
      const guard = new DumpGuard(DUMP_ENTRY);
      const fed = (async () => {
        try {
          // The guard judges what psql gets (after the filter), line by line, as the preflight did:
          // an archive changed since then is stopped before psql reads a line it did not pass.
          const source = await reader.openEntry(DUMP_ENTRY);
          if (router) await pipeline(source, measure, filter, guard, router, psql.stdin);
          else await pipeline(source, measure, filter, guard, psql.stdin);
        } catch (error) {
          // psql stopping at an error breaks the pipe: that is psql's story, told by `finished`.
          // A Ctrl-C came first (it killed psql, which broke the pipe): the cancel is the story.
          // The parallel load stopped (a helper's failure, the main psql's own): that story is told below.
          if (!brokenPipe(error, router !== undefined) && !parallel?.stoppedWith(error)) readFailure ??= error;
          // Never let psql commit a half-read dump: a closed stdin would end it "successfully".
          psql.kill();
          parallel?.stop(error);
        }
      })();
      const [ran] = await Promise.allSettled([psql.finished, fed, ...helpers]);
      await saving;
      rt.signal?.removeEventListener('abort', onAbort);
      rt.journal.psqlPid = null;
      rt.journal.helperPsqlPids = [];
      if (readFailure instanceof JobFailedError || readFailure instanceof DumpRefusedError) throw readFailure;
      const copyHeaderOf = (line: number) => guard.scanner.copyHeaderOf(line);
      // The main psql's own error is the story; not the kill that a read or a helper's failure caused.
      const helperFailure = parallel?.error;
      const killedByUs =
        ran.status === 'rejected' &&
        (ran.reason as PsqlFailedError).signal === 'SIGKILL' &&
        (readFailure !== undefined || helperFailure !== undefined);
      if (ran.status === 'rejected' && !killedByUs)
        throw loadError(
          router ? withDumpLine(ran.reason, (line) => router.dumpLine(line)) : ran.reason,
          rt.load.archive,
          copyHeaderOf,
          live !== undefined,
        );
      if (helperFailure instanceof PsqlFailedError) throw loadError(helperFailure, rt.load.archive, copyHeaderOf, live !== undefined);
      if (helperFailure instanceof DumpRefusedError) throw helperFailure;
      readFailure ??= helperFailure;
      if (readFailure !== undefined) {
        throw new ArchiveInvalidError(`Reading ${DUMP_ENTRY} from ${rt.load.archive} failed during the load: ${messageOf(readFailure)}.`);
      }
      const got = measure.measurement;
      if (live && (got.size !== entry.size || got.sha256 !== entry.sha256)) {
        throw new ArchiveInvalidError(
          `${DUMP_ENTRY} is NOT the dump the manifest describes (read ${got.size} bytes, SHA-256 ${got.sha256.slice(0, 12)}..., the manifest says ${entry.size} bytes, ${entry.sha256.slice(0, 12)}...): tampered or corrupt.`,
          {
            hint: 'do not restore from this archive; use another one (cupm-backup list)',
          },
        );
      }
      if (live && !rt.load.dumpIncomplete && !endsWithTrailer(got.tail.toString('latin1'))) {
        throw new ArchiveInvalidError(
          `${DUMP_ENTRY} does not end with "-- PostgreSQL database cluster dump complete": the dump is incomplete.`,
        );
      }
      if (got.size !== entry.size || got.sha256 !== entry.sha256) {
        throw new ArchiveInvalidError(
          `${DUMP_ENTRY} changed since it was verified (read ${got.size} bytes, SHA-256 ${got.sha256.slice(0, 12)}..., the manifest says ${entry.size} bytes, ${entry.sha256.slice(0, 12)}...).`,
        );
      }
      rt.journal.adminPassword = filter.adminPassword ?? null;
      if (live) await writePrivate(heldRolesFile(rt.journal), Buffer.from(filter.heldRoles.map((line) => `${line}\n`).join(''), 'latin1'));
      await rt.save();
      for (const section of filter.skipped) if (section.statements > 0) rt.notes.push(skippedNote(section, rt.load.archive));
      const kept = filter.rolesKept.length > 0 ? `; existing roles kept: ${filter.rolesKept.join(', ')}` : '';
      const shared = router && parallel ? `; ${parallel.claims.size} of ${router.blocks} tables' data loaded by a helper session` : '';
      return `${got.size} bytes, ${filter.lines} lines${kept}${shared}`;
    },
    async undo(rt) {
      await killOrphanPsqls(rt.journal);
      await withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        for (const database of await createdDatabases(client, rt.journal)) await dropDatabase(client, version, database);
      });
      if (rt.journal.roles) await restoreRoles(rt.config, rt.psql, rt.journal.adminRole, rt.journal.roles);
    },
    manualUndo(rt) {
      const lines = rt.journal.dumpDatabases.map((d) => {
        const aside = rt.journal.renames.find((r) => r.from === d);
        return `psql -d postgres -c 'DROP DATABASE IF EXISTS ${ident(d)}'   (the half-restored "${d}"${aside ? `: only while "${aside.to}" exists` : ''})`;
      });
      if (rt.journal.roles) {
        lines.push(
          `for every role the dump created (not in: ${rt.journal.roles.roles.join(', ')}): psql -d postgres -c 'DROP OWNED BY <role>; DROP ROLE <role>'`,
        );
        lines.push(
          `re-apply the roles as they were: psql -X -d postgres -f ${rt.journal.roles.snapshot}   ("role ... already exists" errors there are expected)`,
        );
      }
      return lines;
    },
  };
}

export function filesStep(journal: RestoreJournal): RestoreStep {
  return {
    id: 'files',
    title: `Write the CUPM files (${journal.files.map((f) => f.relativePath).join(', ')})`,
    async run(rt) {
      for (const file of rt.journal.files) {
        await writeFileAtomic(file.target, await fsp.readFile(file.staged), { mode: file.mode, uid: file.uid, gid: file.gid });
      }
      return `${rt.journal.files.length} files written`;
    },
    async undo(rt) {
      const problems: string[] = [];
      for (const file of rt.journal.files) {
        try {
          // Nothing to put back (never written, or written back already): nothing to fail on.
          if (await isAsBefore(file)) continue;
          if (file.before)
            await writeFileAtomic(file.target, await fsp.readFile(file.before), { mode: file.mode, uid: file.uid, gid: file.gid });
          else await removeFile(file.target);
        } catch (error) {
          problems.push(`${file.target}: ${messageOf(error)}`);
        }
      }
      if (problems.length > 0) throw new JobFailedError('Some CUPM files could not be put back:', { problems });
    },
    manualUndo(rt) {
      return rt.journal.files.map((f) => (f.before ? `copy ${f.before} over ${f.target}` : `delete ${f.target} (it did not exist before)`));
    },
  };
}

export function purgeStep(journal: RestoreJournal, database = journal.database): RestoreStep {
  const host = journal.purge!.host;
  return {
    id: 'purge',
    title: `Delete the rows of the old NICE host ${host} from nicesyseng`,
    async run(rt) {
      const count = await withClient(rt.config, database, async (client) => {
        try {
          // A parameter, never spliced into the SQL text.
          return (await client.query('DELETE FROM nicesyseng WHERE host = $1', [host])).rowCount ?? 0;
        } catch (error) {
          if ((error as { code?: string }).code === '42P01') {
            throw new JobFailedError(
              `The restored database "${database}" has no table nicesyseng: it does not look like a CUPM database.`,
              {
                hint: 'check the archive; or run without --old-nice-host',
              },
            );
          }
          throw error;
        }
      });
      rt.journal.purge = { host, deleted: count };
      await rt.save();
      return `deleted ${count} row${count === 1 ? '' : 's'}`;
    },
  };
}

export function postgresStep(journal: RestoreJournal): RestoreStep {
  const service = journal.pgService;
  return {
    id: 'postgres',
    title: service ? `Restart PostgreSQL (service ${service})` : `End the remaining sessions of role ${journal.dbRole}`,
    async run(rt) {
      if (!service) {
        const ended = await withClient(rt.config, 'postgres', async (client) =>
          endRoleSessions(client, await serverVersion(client), rt.journal.dbRole),
        );
        return `${ended} session${ended === 1 ? '' : 's'} ended`;
      }
      await rt.manager.stop(service);
      await rt.manager.start(service);
      await waitForPostgres(rt.config, rt.config.serviceTimeoutSeconds);
      // One job per server: the advisory lock went with the restart; the job guard takes it again.
      await serverLockHeldAgain();
      return `${service} restarted`;
    },
  };
}

function dropPreviousStep(journal: RestoreJournal): RestoreStep {
  return {
    id: 'drop-previous',
    title: `Drop the previous database (${journal.renames.map((r) => r.to).join(', ')})`,
    async run(rt) {
      await withClient(rt.config, 'postgres', async (client) => {
        const version = await serverVersion(client);
        for (const { to } of rt.journal.renames) await dropDatabase(client, version, to);
      });
      return `dropped ${rt.journal.renames.map((r) => r.to).join(', ')}`;
    },
    manualUndo(rt) {
      return rt.journal.renames.map((r) => `psql -d postgres -c 'DROP DATABASE ${ident(r.to)}'`);
    },
  };
}

/**
 * ANALYZE in each restored database. A dump carries no planner statistics, so a restored database
 * has none until something gathers them, and CUPM's queries are planned blind meanwhile;
 * PostgreSQL's documentation says to run ANALYZE after restoring a dump. Run only where autovacuum
 * does not do it (journal.analyze): 8.2, CUPM's, has it off by default; where it runs, it analyzes
 * the new tables within its next rounds by itself. Run once the services are back, so it costs no
 * downtime (CUPM's JBoss takes minutes to deploy before its first query); it reads a sample of each
 * table, and locks out neither reads nor writes.
 */
function analyzeStep(journal: RestoreJournal): RestoreStep {
  return {
    id: 'analyze',
    title: `Gather the planner statistics of ${journal.dumpDatabases.join(', ')} (ANALYZE)`,
    async run(rt) {
      for (const database of rt.journal.dumpDatabases) await withClient(rt.config, database, (client) => client.query('ANALYZE'));
      return `analyzed ${rt.journal.dumpDatabases.join(', ')}`;
    },
    manualUndo(rt) {
      return rt.journal.dumpDatabases.map((d) => `psql -d ${ident(d)} -c 'ANALYZE'`);
    },
  };
}

function adminPasswordStep(journal: RestoreJournal): RestoreStep {
  return {
    id: 'admin-password',
    title: `Set the password of ${journal.adminRole} to the one in the backup (--admin-password-from-backup)`,
    async run(rt) {
      const hash = rt.journal.adminPassword;
      if (!hash) return `the dump sets no password for ${rt.journal.adminRole}: left as it was`;
      await withClient(rt.config, 'postgres', (client) =>
        client.query(`ALTER ROLE ${ident(rt.journal.adminRole)} PASSWORD ${literal(hash)}`),
      );
      return `the password of ${rt.journal.adminRole} is now the backup's: update PGPASSWORD (or pgpass) to it`;
    },
  };
}

/**
 * The databases the load created: those moved aside whose name exists again, and those that did
 * not exist before the restore (the dump may create more than the manifest lists). A database
 * that was never moved aside is the original and is never dropped.
 */
async function createdDatabases(client: pg.Client, journal: RestoreJournal): Promise<string[]> {
  const created: string[] = [];
  for (const database of await listDatabases(client)) {
    if (journal.renames.some((r) => r.to === database)) continue;
    const rename = journal.renames.find((r) => r.from === database);
    if (rename) {
      if (await databaseExists(client, rename.to)) created.push(database);
    } else if (journal.databasesBefore ? !journal.databasesBefore.includes(database) : journal.dumpDatabases.includes(database)) {
      created.push(database);
    }
  }
  return created;
}

/** Waits until PostgreSQL accepts connections again after its service restarted. */
async function waitForPostgres(config: Config, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    try {
      await withClient(config, 'postgres', (client) => client.query('SELECT 1'));
      return;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** What PostgreSQL says when its disk is full (SQLSTATE 53100 and the write errors behind it). */
const DISK_FULL = /No space left on device|could not extend file|disk full/i;

/** What psql says when the server, not the dump, ended the load. */
const SERVER_GONE =
  /connection to server was lost|server closed the connection unexpectedly|terminating connection due to administrator command|no connection to the server/;

/** The error a failed load ends with: the SQL error and the line of the dump it is on. */
function loadError(error: unknown, archive: string, copyHeaderOf: (line: number) => number | undefined, live: boolean): CupmError {
  if (!(error instanceof PsqlFailedError)) return error instanceof CupmError ? error : new JobFailedError(messageOf(error));
  const sql = error.sqlError && { ...error.sqlError, line: dumpLineOf(error.sqlError, copyHeaderOf) };
  const where = sql?.line === undefined ? '' : ` at line ${sql.line} of ${DUMP_ENTRY}`;
  if (DISK_FULL.test(sql?.message ?? error.stderrTail)) {
    // The server's disk, not the dump: the loaded database is dropped by the undo.
    return new JobFailedError(
      `PostgreSQL ran out of disk space while loading the dump${where}:\n${sql?.message ?? error.stderrTail.trim()}`,
      {
        hint: live
          ? "free space on the disk of PostgreSQL's data directory (or the tablespace named above), then run again: a live restore loads the dump next to the database CUPM runs on; --no-live does not need less (it keeps the current database, renamed aside, until the new one runs), but it stops CUPM before the disk can fill under it"
          : "free space on the disk of PostgreSQL's data directory (or the tablespace named above), then run again: the restore keeps the current database, renamed aside, until the new one runs",
      },
    );
  }
  if ((sql && /^(?:FATAL|PANIC)/.test(sql.message)) || SERVER_GONE.test(error.stderrTail)) {
    // Not the dump's fault: the server went away (shut down, crashed, connection cut).
    const said = error.stderrTail.trim().split('\n').slice(-4).join('\n');
    return new JobFailedError(`PostgreSQL ended the session while loading${where}:\n${said}`, {
      hint: 'check that PostgreSQL is running and look at its log',
    });
  }
  if (!sql) return new JobFailedError(`Loading the dump failed: ${error.message}`);
  return new JobFailedError(`The dump failed${where}:\n${sql.message}`, {
    hint:
      sql.line === undefined ? undefined : `see that line with: unzip -p ${JSON.stringify(archive)} ${DUMP_ENTRY} | sed -n '${sql.line}p'`,
  });
}

/**
 * The dump line of a SQL error: psql names the line it was reading, which for bad COPY data is
 * the block's `\.`; the server's CONTEXT names the row, so the bad row is the header's line + row.
 */
function dumpLineOf(sql: PsqlError, copyHeaderOf: (line: number) => number | undefined): number | undefined {
  const row = copyRowOf(sql);
  if (sql.line === undefined || row === undefined) return sql.line;
  const header = copyHeaderOf(sql.line);
  return header === undefined ? sql.line : header + row;
}

/** How the dump is loaded, for the step's title: psql, and the sessions taking tables' data. */
export function loadHow(journal: RestoreJournal): string {
  const sessions = journal.loadSessions ?? 1;
  return `psql, ON_ERROR_STOP${sessions > 1 ? `; the tables' data in ${sessions} sessions` : ''}`;
}

/**
 * A write to psql that failed because psql is gone (its exit tells why). With the parallel load's
 * router, whose writes wait on the helpers, psql's exit shows as a premature close of its stdin.
 */
function brokenPipe(error: unknown, routed: boolean): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || (routed && code === 'ERR_STREAM_PREMATURE_CLOSE');
}

/** A psql error of the main session, its line made the dump's (the parallel load adds and leaves out lines). */
function withDumpLine(error: unknown, dumpLine: (psqlLine: number) => number): unknown {
  if (!(error instanceof PsqlFailedError) || error.sqlError?.line === undefined) return error;
  return error.atLine(dumpLine(error.sqlError.line));
}

/** Tells what the dump held for a built-in database and how to load it by hand. */
function skippedNote(section: SkippedSection, archive: string): string {
  return (
    `The dump holds ${section.statements} statement(s) for the built-in database "${section.database}" ` +
    `(lines ${section.firstLine}-${section.lastLine} of ${DUMP_ENTRY}, first: ${section.example ?? '?'}); they were not restored ` +
    `(the restore replaces databases, and cannot replace or undo changes to "${section.database}"). To load them by hand: ` +
    `unzip -p ${JSON.stringify(archive)} ${DUMP_ENTRY} | sed -n '${section.firstLine},${section.lastLine}p' | psql -d ${section.database}`
  );
}

/** The psqls a killed run left (the load's, and its helpers' with --jobs) still feed the half-restored database: end them. */
export async function killOrphanPsqls(journal: RestoreJournal): Promise<void> {
  for (const pid of [journal.psqlPid, ...(journal.helperPsqlPids ?? [])]) await killOrphanPsql(pid);
}

/** One such psql (Linux: checked by name). */
async function killOrphanPsql(pid: number | null): Promise<void> {
  if (pid === null || process.platform !== 'linux') return;
  let cmdline: string;
  try {
    cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!/psql/.test(cmdline)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** True when a journaled file is as it was before the restore: the same bytes, or still absent. */
async function isAsBefore(file: JournalFile): Promise<boolean> {
  const now = await fsp.readFile(file.target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (file.before === null || now === null) return file.before === null && now === null;
  return now.equals(await fsp.readFile(file.before));
}

async function writePrivate(file: string, content: Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await fsp.writeFile(file, content, { mode: 0o600 });
}
