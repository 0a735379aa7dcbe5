/**
 * `import`: wraps a manual backup made the install guide's way (a `pg_dumpall` file made by hand, and
 * optionally a folder of the five copied files in their install-dir layout) into a v1 archive that
 * `verify` accepts and `restore` uses. The dump is streamed into the archive unchanged (it may be
 * GBs) and read for its facts on the way.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ArchiveWriter } from '../archive/writer.js';
import {
  archiveFileName,
  canonicalLabel,
  DUMP_ENTRY,
  FORMAT_NAME,
  FORMAT_VERSION,
  fileEntryName,
  type Manifest,
  type ManifestBody,
} from '../archive/format.js';
import { locateCopiedFiles, type CopiedFiles } from '../artifacts/copied-files.js';
import { DB_HOST_KEY, DB_HOSTLIST_KEY, dbHostKey, readProperties } from '../artifacts/dfc-properties.js';
import { hostProblem, parseHostList } from '../artifacts/host.js';
import { decodeLog, parseCupmVersion, sameCupmVersion } from '../artifacts/install-log.js';
import { ArchiveInvalidError, ConfigError, JobFailedError, messageOf } from '../errors.js';
import { withLock } from '../jobs/lock.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { dumpDate } from '../pg/dump/date.js';
import { DumpScanner, scriptKind, type DumpFacts } from '../pg/dump/facts.js';
import { DUMP_TRAILER, endsWithTrailer, TRAILER_WINDOW } from '../pg/dump/script.js';
import { DumpGuard } from '../pg/dump/guard/stream.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';

/** The label an imported archive gets unless told otherwise, so `list` tells it from a tool backup. */
export const DEFAULT_IMPORT_LABEL = 'imported';

const DEFAULT_DATABASE = 'cupm';

const DATED_BY = {
  dump: 'the time stamp in the dump',
  'file-time': "the dump file's modification time; --created-at sets it",
  'created-at': '--created-at',
} as const;

export interface ImportOptions {
  /** The pg_dumpall file. */
  dump: string;
  /** The folder holding the copied CUPM files in their install-dir layout. */
  files?: string | undefined;
  /** The CUPM version, where no install.log says it (checked against install.log when both are given). */
  cupmVersion?: string | undefined;
  /** Where the archive is written (the backup dir). */
  outputDir: string;
  label?: string | null | undefined;
  /** The host name of the server the backup was made on (manifest source.hostname). */
  sourceHost?: string | undefined;
  /** Its IP addresses (manifest source.addresses; migrate's default --old-nice-host). */
  sourceAddresses?: string[] | undefined;
  /** When the backup was made (ISO-8601): overrides the dump's own time stamp and its file time. */
  createdAt?: string | undefined;
  /** The application database the dump must hold (CUPM_DATABASE). */
  database?: string | undefined;
  /** Import a dump that holds no application database (e.g. pg_dumpall --roles-only); the manifest records it. */
  allowMissingDatabase?: boolean | undefined;
  /** Import a dump without pg_dumpall's closing comment; the manifest records it. */
  allowIncomplete?: boolean | undefined;
  /** Import although some of the five files are not in `files`; the manifest names them. */
  allowMissingFiles?: boolean | undefined;
  compressionLevel?: number | undefined;
  /** age recipients: the archive is written encrypted to them (`<name>.zip.age`). */
  encryptTo?: readonly string[] | undefined;
  signal?: AbortSignal | undefined;
}

export interface ImportResult {
  archive: string;
  size: number;
  manifest: Manifest;
  dumpBytes: number;
  durationMs: number;
  dumpComplete: boolean;
  /** Install-dir paths of the files put in the archive. */
  files: string[];
  missingFiles: string[];
  facts: DumpFacts;
}

/** What the checks learned; nothing has been written when it exists. */
interface ImportPlan {
  dump: string;
  dumpSize: number;
  dumpModified: Date;
  dumpComplete: boolean;
  /** When the dump was made, and how that is known. */
  createdAt: Date;
  datedBy: 'dump' | 'file-time' | 'created-at';
  copied: CopiedFiles | undefined;
  cupmVersion: string | null;
  installDir: string | null;
  dbHost: string | null;
  dbPort: number | null;
}

/** Checks the dump and the files, then writes the archive under the backup dir's lock. */
export async function importBackup(options: ImportOptions, reporter: Reporter = silentReporter): Promise<ImportResult> {
  const plan = await prepare(options, reporter);
  return withLock(options.outputDir, 'import', () => writeArchive(plan, options, reporter));
}

/** Every check that can be made before writing: all usage problems at once, then the dump itself. */
async function prepare(options: ImportOptions, reporter: Reporter): Promise<ImportPlan> {
  const problems: string[] = [];
  if (options.label) {
    try {
      canonicalLabel(options.label);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(`--label: ${error.message}`);
    }
  }
  const dump = path.resolve(options.dump);
  const createdAt = options.createdAt === undefined ? undefined : new Date(options.createdAt);
  if (createdAt !== undefined && (!/^\d{4}-\d{2}-\d{2}(T|\s|$)/.test(options.createdAt!) || Number.isNaN(createdAt.getTime()))) {
    problems.push(`--created-at ${JSON.stringify(options.createdAt)} is not an ISO-8601 time such as 2011-03-04T02:00:00Z`);
  }
  let dumpStat: fs.Stats | undefined;
  try {
    dumpStat = await fsp.stat(dump);
    if (!dumpStat.isFile()) problems.push(`--dump ${dump} is not a file`);
    else await fsp.access(dump, fs.constants.R_OK);
  } catch (error) {
    problems.push(`--dump ${dump} cannot be read (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`);
  }
  if (options.sourceHost !== undefined) {
    const problem = hostProblem(options.sourceHost);
    if (problem) problems.push(`--source-host: ${problem}`);
  }
  for (const address of options.sourceAddresses ?? []) {
    if (net.isIP(address) === 0) problems.push(`--source-address ${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
  }
  if (options.cupmVersion !== undefined && !/^\d+(\.\d+){0,3}$/.test(options.cupmVersion)) {
    problems.push(`--cupm-version ${JSON.stringify(options.cupmVersion)} is not a version number such as 8.5`);
  }
  const outputProblem = await checkWritableDir(options.outputDir);
  if (outputProblem) problems.push(outputProblem);

  let copied: CopiedFiles | undefined;
  if (options.files !== undefined) {
    try {
      copied = locateCopiedFiles(path.resolve(options.files));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error.message, ...error.problems);
    }
  }
  if (copied && copied.missing.length > 0) {
    const where = path.resolve(options.files!);
    if (options.allowMissingFiles) {
      reporter.warn(`Not in ${where} (imported without them, --allow-missing-files): ${copied.missing.join(', ')}`);
    } else {
      problems.push(...copied.missing.map((relative) => `missing from --files: ${path.join(where, ...relative.split('/'))}`));
    }
  }

  const versions = readVersions(copied, options, problems, reporter);
  if (problems.length > 0) {
    throw new ConfigError('The import cannot start:', {
      problems,
      state: 'nothing was written',
      hint:
        copied && copied.missing.length > 0 && !options.allowMissingFiles
          ? 'copy the missing files into the folder in their install-dir layout (a restore onto a new server needs all five), or run with --allow-missing-files'
          : 'fix the options above and run again',
    });
  }

  const checked = await checkDump(dump, dumpStat!.size, options, reporter);
  const dated = createdAt ? { at: createdAt, source: 'created-at' as const } : dumpDate(checked.head, checked.tail, dumpStat!.mtime);
  reporter.info(`The archive is dated ${dated.at.toISOString()} (${DATED_BY[dated.source]})`);
  return {
    dump,
    dumpSize: dumpStat!.size,
    dumpModified: dumpStat!.mtime,
    dumpComplete: checked.complete,
    createdAt: dated.at,
    datedBy: dated.source,
    copied,
    ...versions,
    ...databaseAddress(copied, reporter),
  };
}

/** The CUPM version (install.log, or --cupm-version; both must agree) and the install dir install.log names. */
function readVersions(
  copied: CopiedFiles | undefined,
  options: ImportOptions,
  problems: string[],
  reporter: Reporter,
): { cupmVersion: string | null; installDir: string | null } {
  const log = copied?.found.find((f) => f.role === 'installLog');
  if (!log) {
    if (options.cupmVersion === undefined) {
      reporter.warn(
        'No install.log and no --cupm-version: the archive records the CUPM version as unknown, and a restore will need --allow-version-mismatch',
      );
    }
    return { cupmVersion: options.cupmVersion ?? null, installDir: null };
  }
  const text = decodeLog(fs.readFileSync(log.absolutePath));
  const fromLog = parseCupmVersion(text);
  const installDir = /^\s*Install(?:ation)?\s+Dir(?:ectory)?\s*[:=]\s*(.+?)\s*$/im.exec(text)?.[1] ?? null;
  if (fromLog !== null && options.cupmVersion !== undefined && !sameCupmVersion(fromLog, options.cupmVersion)) {
    problems.push(`--cupm-version ${options.cupmVersion} contradicts ${log.absolutePath}, which says CUPM ${fromLog}`);
  }
  if (fromLog === null && options.cupmVersion === undefined) {
    reporter.warn(`${log.absolutePath} does not say which CUPM version this is; the archive records it as unknown (give --cupm-version)`);
  }
  return { cupmVersion: fromLog ?? options.cupmVersion ?? null, installDir };
}

/** The database host and port the copied dfc.properties names, for the manifest's postgres.host/port. */
function databaseAddress(copied: CopiedFiles | undefined, reporter: Reporter): { dbHost: string | null; dbPort: number | null } {
  const file = copied?.found.find((f) => f.role === 'dfcProperties');
  if (!file) return { dbHost: null, dbPort: null };
  try {
    const text = fs.readFileSync(file.absolutePath, 'latin1');
    const properties = readProperties(text, { file: file.absolutePath });
    const key = dbHostKey(text);
    let dbHost = key === undefined ? null : (properties.get(key)?.trim() ?? null);
    if (key === DB_HOSTLIST_KEY && dbHost) dbHost = parseHostList(dbHost).entries[0]?.host ?? dbHost;
    if (key === DB_HOST_KEY && dbHost === '') dbHost = null;
    const portText = properties.get('dfc.postgres.port')?.trim();
    const dbPort = portText && /^\d{1,5}$/.test(portText) ? Number(portText) : null;
    return { dbHost, dbPort };
  } catch (error) {
    reporter.warn(`${file.absolutePath} could not be read for the database host (${messageOf(error)}); the manifest records it as unknown`);
    return { dbHost: null, dbPort: null };
  }
}

/**
 * Looks at both ends of the dump before anything is written: it must be a pg_dumpall script in a
 * byte encoding psql reads, and end with pg_dumpall's closing comment (else exit 3, unless
 * --allow-incomplete). Returns whether the dump is complete.
 */
async function checkDump(
  dump: string,
  size: number,
  options: ImportOptions,
  reporter: Reporter,
): Promise<{ complete: boolean; head: string; tail: string }> {
  const handle = await fsp.open(dump, 'r');
  let head: Buffer;
  let tail: Buffer;
  try {
    head = await readAt(handle, 0, Math.min(size, 4096));
    tail = await readAt(handle, Math.max(0, size - TRAILER_WINDOW), Math.min(size, TRAILER_WINDOW));
  } finally {
    await handle.close();
  }
  const refuse = (why: string, hint: string) => new ArchiveInvalidError(`${dump} ${why}`, { state: 'nothing was written', hint });
  if (size === 0) throw refuse('is empty.', 'give --dump the file pg_dumpall wrote');
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    throw refuse(
      'is UTF-16 text (what PowerShell\'s ">" writes); psql cannot read it.',
      'make the dump again from cmd.exe (pg_dumpall -o -U postgres > FILE), or convert the file to the database encoding without a byte order mark',
    );
  }
  const kind = scriptKind(head);
  if (kind !== 'cluster') {
    const single = kind === 'database';
    throw refuse(
      single
        ? 'is a pg_dump of a single database, not a pg_dumpall of the cluster (it has no roles).'
        : 'is not a pg_dumpall script (it does not start with "-- PostgreSQL database cluster dump").',
      'give --dump the file made with pg_dumpall, as the CUPM backup procedure does',
    );
  }
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    reporter.warn(
      `${dump} starts with a UTF-8 byte order mark (the file was saved by an editor); it is kept as it is (psql 15 ignores it; an old psql may not)`,
    );
  }
  const seen = { head: head.toString('latin1'), tail: tail.toString('latin1') };
  if (endsWithTrailer(seen.tail)) return { complete: true, ...seen };
  if (!options.allowIncomplete) {
    throw refuse(
      `does not end with "${DUMP_TRAILER}": the dump was cut short (pg_dumpall failed, the disk was full, or the copy is incomplete).`,
      'use a complete dump; if this is the only one there is, --allow-incomplete imports it anyway and the archive says so',
    );
  }
  reporter.warn(
    `${dump} does not end with "${DUMP_TRAILER}"; importing it anyway (--allow-incomplete): the archive records the dump as incomplete`,
  );
  return { complete: false, ...seen };
}

async function writeArchive(plan: ImportPlan, options: ImportOptions, reporter: Reporter): Promise<ImportResult> {
  const started = Date.now();
  const createdAt = plan.createdAt;
  const label = options.label === undefined ? DEFAULT_IMPORT_LABEL : options.label && canonicalLabel(options.label);
  const hostname = options.sourceHost ?? 'unknown';
  const finalPath = path.join(options.outputDir, archiveFileName(hostname, createdAt, label));
  const writer = await ArchiveWriter.create(finalPath, { compressionLevel: options.compressionLevel, encryptTo: options.encryptTo });
  const input = fs.createReadStream(plan.dump);
  const cancel = () => input.destroy(new JobFailedError('The import was cancelled.'));
  options.signal?.addEventListener('abort', cancel);
  try {
    const files = plan.copied?.found ?? [];
    for (const file of files) await writer.addFile(fileEntryName(file.relativePath), file.absolutePath);

    reporter.info(`Importing ${plan.dump} (${plan.dumpSize} bytes)`);
    const scanner = new DumpScanner();
    // The dump is read as psql would read it on restore: a script that is not pg_dumpall's (a
    // shell escape, a COPY to a file) is refused now, not after it was archived (pg/dump/guard/).
    const guard = new DumpGuard(plan.dump);
    input.once('error', (error) => guard.destroy(error));
    guard.once('error', (error) => scanner.destroy(error));
    if (options.signal?.aborted) cancel();
    const measurement = await writer.addStream(DUMP_ENTRY, input.pipe(guard).pipe(scanner), {
      tailBytes: TRAILER_WINDOW,
      onBytes: (n) => reporter.progress('import', n, plan.dumpSize),
    });
    if (options.signal?.aborted) throw new JobFailedError('The import was cancelled.');
    if (measurement.size !== plan.dumpSize || endsWithTrailer(measurement.tail.toString('latin1')) !== plan.dumpComplete) {
      throw new JobFailedError(`${plan.dump} changed while it was imported (${plan.dumpSize} bytes before, ${measurement.size} read).`, {
        hint: 'is pg_dumpall or a copy still writing it? Wait until it has finished, then run again',
      });
    }
    const facts = scanner.facts;
    const database = options.database ?? DEFAULT_DATABASE;
    if (!facts.databases.includes(database)) {
      if (!options.allowMissingDatabase) {
        throw new ArchiveInvalidError(
          `${plan.dump} holds no database "${database}" (CUPM's application database); it holds ${facts.databases.length > 0 ? facts.databases.join(', ') : 'no database at all'} (a pg_dumpall --roles-only or --globals-only file?).`,
          {
            state: 'nothing was written',
            hint: 'give --dump the full pg_dumpall of the CUPM server; to keep this file anyway, run with --allow-missing-database (restore will refuse it)',
          },
        );
      }
      reporter.warn(
        `${plan.dump} holds no database "${database}"; importing it anyway (--allow-missing-database): a restore cannot bring CUPM back from it`,
      );
    }
    const missingFiles = plan.copied?.missing ?? [];
    const manifest: ManifestBody = {
      format: FORMAT_NAME,
      formatVersion: FORMAT_VERSION,
      createdAt: createdAt.toISOString(),
      label,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      source: { hostname, addresses: options.sourceAddresses ?? [], platform: 'unknown', osRelease: 'unknown' },
      cupm: { version: plan.cupmVersion, installDir: plan.installDir ?? 'unknown' },
      postgres: {
        host: plan.dbHost ?? 'unknown',
        // The port CUPM's dfc.properties names; 5432 (CUPM's default) when no file says.
        port: plan.dbPort ?? 5432,
        serverVersion: facts.serverVersion ?? 'unknown',
        dumpToolVersion: facts.dumpToolVersion ?? 'unknown',
        databases: facts.databases,
        roles: facts.roles,
      },
      dumpComplete: plan.dumpComplete,
      imported: true,
      ...(facts.databases.includes(database) ? {} : { missingDatabase: database }),
      importedFrom: {
        datedBy: plan.datedBy,
        importedAt: new Date().toISOString(),
        dumpFile: path.basename(plan.dump),
        dumpPath: plan.dump,
        dumpModifiedAt: plan.dumpModified.toISOString(),
        dumpLineEnds: facts.lineEnds,
        dumpClientEncoding: facts.clientEncoding,
        filesDir: options.files === undefined ? null : path.resolve(options.files),
        missingFiles,
        importedOn: os.hostname(),
      },
    };
    const written = await writer.finish(manifest);
    return {
      archive: written.path,
      size: written.size,
      manifest: written.manifest,
      dumpBytes: measurement.size,
      durationMs: Date.now() - started,
      dumpComplete: plan.dumpComplete,
      files: files.map((f) => f.relativePath),
      missingFiles,
      facts,
    };
  } catch (error) {
    input.destroy();
    throw await writer.abortAfter(error, 'The import');
  } finally {
    options.signal?.removeEventListener('abort', cancel);
  }
}

async function readAt(handle: fsp.FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** Creates the dir if needed and proves it is writable; returns a problem line or undefined. */
async function checkWritableDir(dir: string): Promise<string | undefined> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.access(dir, fs.constants.W_OK);
    return undefined;
  } catch (error) {
    return `the output folder ${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
  }
}
