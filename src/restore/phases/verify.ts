import path from 'node:path';
import { DUMP_ENTRY, type Manifest, type ManifestEntry } from '../../archive/format.js';
import { IdentityRequiredError } from '../../archive/encryption.js';
import { ArchiveReader } from '../../archive/reader.js';
import { verifyArchive } from '../../archive/verify.js';
import { archiveKeys } from '../../config/encryption-settings.js';
import type { Config } from '../../config/config.js';
import { ArchiveInvalidError } from '../../errors.js';
import type { Reporter } from '../../jobs/reporter.js';
import { withClient } from '../../pg/connection.js';
import { isS3Url, s3Remote } from '../../offsite/s3-archive.js';
import { databaseExists } from '../databases.js';

/** An archive that verified, and how to open it again for the load. */
export interface VerifiedArchive {
  /** As the user named it: a resolved path, or an s3:// URL read in place. */
  archive: string;
  remote: ReturnType<typeof s3Remote> | undefined;
  keys: ReturnType<typeof archiveKeys>;
  /** A live restore (the server has the application database, no --no-live): the dump is verified while it loads. */
  live: boolean;
  /** Why the plain restore (services stopped for the whole restore) runs instead, or undefined when live. */
  plainBecause: 'no-live' | 'no-database' | undefined;
  manifest: Manifest;
  dumpEntry: ManifestEntry;
  /** What verify warned of (an archive imported knowingly incomplete); the plan's first warnings. */
  warnings: string[];
}

/**
 * Phase 1: the archive verified (exit 3 when it cannot be trusted), nothing touched. An encrypted
 * archive is decrypted whole here, before anything is stopped: a wrong identity or a tampered byte
 * is refused now.
 */
export async function verifyForRestore(
  config: Config,
  archiveArg: string,
  wantLive: boolean,
  reporter: Reporter,
  dryRun = false,
): Promise<VerifiedArchive> {
  // s3://bucket/prefix/NAME.zip is read in place (ranged GETs), never downloaded first.
  const remote = isS3Url(archiveArg) ? s3Remote(archiveArg, config.offsite.s3) : undefined;
  const archive = remote ? archiveArg : path.resolve(archiveArg);

  // Onto a server that has the application database (unless --no-live): the dump is verified while
  // it loads. A server that cannot be reached is told by the server phase, after the archive is judged.
  const live = wantLive && (await withClient(config, 'postgres', (client) => databaseExists(client, config.database)).catch(() => false));
  const plainBecause = live ? undefined : wantLive ? 'no-database' : 'no-live';
  // --dry-run loads nothing: it verifies the dump too, so that it refuses what the load would.
  const deferDump = live && !dryRun;
  reporter.info(deferDump ? `Verifying ${archive} (all but the dump, which is hashed while it loads)` : `Verifying ${archive}`);
  const keys = archiveKeys(config.encryption);
  const report = await verifyArchive(archive, {
    keys,
    remote,
    deferDump,
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
  return { archive, remote, keys, live, plainBecause, manifest, dumpEntry, warnings: [...report.warnings] };
}

/** The verified archive opened again for the load: refuses (exit 3) a file swapped since it verified. */
export async function openVerified({ archive, remote, keys }: VerifiedArchive): Promise<ArchiveReader> {
  const reader = remote ? await remote.open(keys) : await ArchiveReader.open(archive, keys);
  if (reader.structuralProblems.length > 0) {
    const problems = reader.structuralProblems;
    await reader.close();
    throw new ArchiveInvalidError(`The archive ${archive} changed since it was verified:`, {
      problems,
      state: 'nothing was changed',
    });
  }
  return reader;
}
