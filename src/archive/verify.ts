import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { ConfigError, CupmError, JobFailedError, messageOf } from '../errors.js';
import { endsWithTrailer, TRAILER_WINDOW } from '../pg/dump/script.js';
import { dumpGuardSink } from '../pg/dump/guard/stream.js';
import { IdentityRequiredError, WrongIdentityError, sniffArchive, type ArchiveKeys } from './encryption.js';
import { DUMP_ENTRY, FILES_PREFIX, MANIFEST_ENTRY, type Manifest } from './format.js';
import { manifestPathProblems } from './hostile.js';
import { MeasureStream } from './measure.js';
import { ArchiveReader } from './reader.js';

export interface VerifyReport {
  archive: string;
  ok: boolean;
  problems: string[];
  /** The manifest, when it could be read. */
  manifest: Manifest | undefined;
  /** Uncompressed bytes read and hashed. */
  bytesChecked: number;
  /** What is known and accepted but worth saying: a dump the manifest declares incomplete (import --allow-incomplete). */
  warnings: string[];
  /** The archive is an age file (`.zip.age`). */
  encrypted: boolean;
  /** The archive is encrypted and no identity was given to open it (a usage error, not a bad archive). */
  needsIdentity?: boolean;
  /** The identity given opens it not (encrypted to other recipients): the error to show as it is. */
  wrongIdentity?: CupmError;
}

export interface VerifyOptions {
  onProgress?: (done: number, total: number) => void;
  /** What opens an encrypted archive (--identity, or the writer's file key). */
  keys?: ArchiveKeys;
  /** The application database the dump should hold (CUPM_DATABASE; default cupm): warned about when missing. */
  database?: string;
  /**
   * Opens an archive that is not a local file (`s3://...`: src/offsite/s3-archive.ts); `encrypted`
   * says what its name says. Its connection errors are thrown, not reported as a bad archive.
   */
  remote?: { open(keys: ArchiveKeys | undefined): Promise<ArchiveReader>; encrypted: boolean };
  /**
   * Check everything but the dump's bytes (its size is still checked): a live restore hashes and
   * guards the dump while it loads it, into a database CUPM does not use yet.
   */
  deferDump?: boolean;
}

/**
 * Re-reads every entry through the central directory and checks it against the manifest: no
 * entry missing or extra, every size and SHA-256 equal, the dump complete and a pg_dumpall script
 * psql may run. Never throws for a bad archive: every problem found is in the report (an identity
 * file that cannot be read is a ConfigError, thrown).
 */
export async function verifyArchive(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const report: VerifyReport = {
    archive: file,
    ok: false,
    problems: [],
    manifest: undefined,
    bytesChecked: 0,
    warnings: [],
    encrypted: false,
  };
  report.encrypted = options.remote ? options.remote.encrypted : (await sniffArchive(file).catch(() => 'other')) === 'age';
  let reader: ArchiveReader;
  try {
    reader = options.remote ? await options.remote.open(options.keys) : await ArchiveReader.open(file, options.keys);
  } catch (error) {
    // An identity file that cannot be used is the caller's problem, not the archive's (exit 2).
    if (error instanceof ConfigError && !(error instanceof IdentityRequiredError)) throw error;
    // A store that cannot be reached says nothing about the archive.
    if (error instanceof JobFailedError) throw error;
    if (error instanceof IdentityRequiredError) report.needsIdentity = true;
    if (error instanceof WrongIdentityError) report.wrongIdentity = error;
    report.problems.push(describe(error));
    return report;
  }
  try {
    report.problems.push(...reader.structuralProblems);
    let manifest: Manifest;
    try {
      manifest = await reader.readManifest();
    } catch (error) {
      report.problems.push(describe(error));
      return report;
    }
    report.manifest = manifest;
    const database = options.database ?? 'cupm';
    if (!manifest.postgres.databases.includes(database)) {
      report.warnings.push(
        `the dump holds no database "${database}" (it holds ${manifest.postgres.databases.join(', ') || 'none'}): a restore cannot bring CUPM back from this archive`,
      );
    }

    const listed = new Set<string>();
    for (const entry of manifest.entries) {
      if (listed.has(entry.path)) report.problems.push(`the manifest lists ${entry.path} twice`);
      listed.add(entry.path);
    }
    if (!listed.has(DUMP_ENTRY)) report.problems.push(`the manifest does not list the database dump ${DUMP_ENTRY}`);
    for (const name of reader.entryNames) {
      if (name !== MANIFEST_ENTRY && !listed.has(name)) report.problems.push(`entry ${name} is in the archive but not in the manifest`);
    }
    for (const path of listed) {
      if (path !== DUMP_ENTRY && !path.startsWith(FILES_PREFIX))
        report.problems.push(`the manifest lists ${path}, which is neither the dump nor a CUPM file`);
    }
    const unsafe = manifestPathProblems(manifest);
    report.problems.push(...unsafe);
    // A hostile archive (unsafe names, impossible sizes, files that are not CUPM's) is refused
    // unread: not a byte of its data is inflated.
    if (reader.structuralProblems.length > 0 || unsafe.length > 0) return report;

    const total = manifest.entries.reduce((sum, e) => sum + e.size, 0);
    for (const expected of manifest.entries) {
      const info = reader.entry(expected.path);
      if (!info) {
        report.problems.push(`${expected.path} is listed in the manifest but missing from the archive`);
        continue;
      }
      if (info.uncompressedSize !== expected.size) {
        // Not read at all: a size larger than declared is how a zip bomb starts.
        report.problems.push(`${expected.path}: the archive holds ${info.uncompressedSize} bytes, the manifest says ${expected.size}`);
        continue;
      }
      const isDump = expected.path === DUMP_ENTRY;
      if (isDump && options.deferDump) continue;
      const before = report.bytesChecked;
      const measure = new MeasureStream(isDump ? TRAILER_WINDOW : 0, (n) => {
        report.bytesChecked = before + n;
        options.onProgress?.(report.bytesChecked, total);
      });
      // The dump is also read the way psql would read it: only a pg_dumpall script passes (pg/dump/guard/).
      const guard = isDump ? dumpGuardSink(DUMP_ENTRY) : undefined;
      try {
        await pipeline(await reader.openEntry(expected.path), measure, guard ?? discard());
      } catch (error) {
        report.problems.push(`${expected.path} cannot be read: ${describe(error)}`);
        continue;
      }
      if (guard?.refusal) report.problems.push(guard.refusal.message);
      const got = measure.measurement;
      if (got.size !== expected.size) report.problems.push(`${expected.path}: read ${got.size} bytes, the manifest says ${expected.size}`);
      else if (got.sha256 !== expected.sha256)
        report.problems.push(`${expected.path}: SHA-256 differs from the manifest (tampered or corrupt)`);
      if (isDump && !endsWithTrailer(got.tail.toString('latin1'))) {
        const message = `${DUMP_ENTRY} does not end with "-- PostgreSQL database cluster dump complete": the dump is incomplete`;
        // Imported knowingly (import --allow-incomplete): the manifest says so, and it is a warning.
        if (manifest.dumpComplete === false) report.warnings.push(`${message} (the manifest records it as imported incomplete)`);
        else report.problems.push(message);
      }
    }
    report.ok = report.problems.length === 0;
    return report;
  } finally {
    await reader.close();
  }
}

/** A problem line: what is wrong, without the State/Next of the error (the report has its own). */
function describe(error: unknown): string {
  if (!(error instanceof CupmError)) return messageOf(error);
  return [error.message, ...error.problems.map((p) => `  - ${p}`)].join('\n');
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
