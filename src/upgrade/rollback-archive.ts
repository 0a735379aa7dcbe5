import fs from 'node:fs/promises';
import path from 'node:path';
import { listArchives, readManifestInto, type CatalogEntry } from '../archive/catalog.js';
import type { ArchiveKeys } from '../archive/encryption.js';
import type { Manifest } from '../archive/format.js';
import { verifyArchive } from '../archive/verify.js';
import { CupmError, messageOf } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import { isOldCupmVersion, UPGRADE_TARGET_VERSION } from '../artifacts/install-log.js';
import { PRE_UPGRADE_LABEL } from './target.js';

/** The archive a rollback restores: verified, of the version before the upgrade. */
export interface RollbackArchive {
  file: string;
  manifest: Manifest;
  /** The CUPM version to reinstall before restoring it (2.1 or 2.2). */
  cupmVersion: string;
}

/** The outcome of looking for the archive; `rejected` says why each other archive does not do. */
export interface RollbackArchiveSearch {
  dir: string;
  chosen: RollbackArchive | undefined;
  rejected: Array<{ file: string; reason: string }>;
}

/**
 * Finds the archive the restore after a clean-up will use: a verified archive of the old CUPM
 * version (not 8.5, not unknown). `pre-upgrade` archives come first, newest first; then any other.
 * Candidates are verified in that order until one passes (a corrupt newest one does not hide an
 * older good one). With `explicit`, only that archive is considered.
 */
export async function findRollbackArchive(
  dir: string,
  options: { explicit?: string; reporter?: Reporter; keys?: ArchiveKeys } = {},
): Promise<RollbackArchiveSearch> {
  const search: RollbackArchiveSearch = { dir, chosen: undefined, rejected: [] };
  const keys = options.keys ?? {};
  const entries = options.explicit ? await catalogOf(options.explicit, keys) : await listArchives(dir, keys).catch(notFoundIsEmpty);
  const candidates: Array<{ file: string; manifest: Manifest }> = [];
  for (const entry of entries) {
    if (!entry.manifest) {
      const why = entry.locked ? `${entry.locked} (set CUPM_IDENTITY to read it)` : `unreadable: ${(entry.error ?? '').split('\n')[0]}`;
      search.rejected.push({ file: entry.file, reason: why });
    } else if (!isOldCupmVersion(entry.manifest.cupm.version)) {
      search.rejected.push({
        file: entry.file,
        reason:
          entry.manifest.cupm.version === null
            ? 'its CUPM version is unknown, so it cannot say which version to reinstall'
            : `it holds CUPM ${entry.manifest.cupm.version}, not the version before the upgrade to ${UPGRADE_TARGET_VERSION}`,
      });
    } else {
      candidates.push({ file: entry.file, manifest: entry.manifest });
    }
  }
  const preUpgrade = (m: Manifest) => (m.label === PRE_UPGRADE_LABEL ? 0 : 1);
  candidates.sort(
    (a, b) => preUpgrade(a.manifest) - preUpgrade(b.manifest) || Date.parse(b.manifest.createdAt) - Date.parse(a.manifest.createdAt),
  );
  for (const candidate of candidates) {
    options.reporter?.info(`Verifying ${candidate.file}`);
    const report = await verifyArchive(candidate.file, {
      keys,
      onProgress: (done, total) => options.reporter?.progress('verify', done, total),
    });
    if (report.ok) {
      search.chosen = { file: candidate.file, manifest: candidate.manifest, cupmVersion: candidate.manifest.cupm.version! };
      break;
    }
    search.rejected.push({ file: candidate.file, reason: `it does not verify: ${report.problems.join('; ')}` });
  }
  return search;
}

/** "cupm-backup_X_20261125T020000Z_pre-upgrade.zip (CUPM 2.2, pre-upgrade, made 2026-11-25T02:00:00.000Z on X)" */
export function describeRollbackArchive(archive: RollbackArchive): string {
  const m = archive.manifest;
  return `${archive.file} (CUPM ${archive.cupmVersion}${m.label ? `, label ${m.label}` : ''}, made ${m.createdAt} on ${m.source.hostname}, verified)`;
}

/** One archive named on the command line, whatever its file name (renamed, copied from a CD). */
async function catalogOf(file: string, keys: ArchiveKeys): Promise<CatalogEntry[]> {
  const absolute = path.resolve(file);
  const entry: CatalogEntry = { file: absolute, name: path.basename(absolute), size: 0, modifiedAt: '' };
  try {
    const stat = await fs.stat(absolute);
    Object.assign(entry, { size: stat.size, modifiedAt: stat.mtime.toISOString() });
  } catch (error) {
    entry.error = error instanceof CupmError ? error.describe() : messageOf(error);
    return [entry];
  }
  await readManifestInto(entry, absolute, keys);
  return [entry];
}

function notFoundIsEmpty(error: unknown): [] {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
  throw error;
}
