import path from 'node:path';
import type { Manifest } from '../../archive/format.js';
import { isOldCupmVersion, readCupmVersion, sameCupmVersion } from '../../artifacts/install-log.js';
import { RefusedError } from '../../errors.js';
import { quoteArg } from '../../system/windows-paths.js';

export interface VersionCheck {
  installDir: string;
  archive: string;
  /** The application database (CUPM_DATABASE): the archive must hold it. */
  database: string;
  /** migrate: the only CUPM version that may move to a new server. */
  requiredVersion: string | undefined;
  allowVersionMismatch: boolean;
}

/**
 * Phase 2: the archive's CUPM version against this server's (the install guide moves only 8.5; a
 * restore must match the installed version, or --allow-version-mismatch, which warns), and the
 * application database in the archive. Refusals are exit 4; nothing is touched.
 */
export function checkVersions(
  manifest: Manifest,
  check: VersionCheck,
  warnings: string[],
): { archive: string | null; installed: string | null } {
  const { installDir, archive } = check;
  const installed = safeVersion(path.join(installDir, 'install.log'));
  const inArchive = manifest.cupm.version;
  if (check.requiredVersion !== undefined && (inArchive === null || !sameCupmVersion(inArchive, check.requiredVersion))) {
    throw new RefusedError(
      `Only CUPM ${check.requiredVersion} can move to a new server; this archive holds CUPM ${inArchive ?? '(unknown version)'}.`,
      {
        state: 'nothing was changed',
        hint: `upgrade the old server to CUPM ${check.requiredVersion} first, back it up again, and migrate that archive (the install guide's Windows 2003 -> 2008 procedure)`,
      },
    );
  }
  const versionsMatch = inArchive !== null && installed !== null && sameCupmVersion(inArchive, installed);
  if (!versionsMatch) {
    const text = `The archive holds CUPM ${inArchive ?? '(unknown version)'}; this server has CUPM ${installed ?? '(unknown: no version in ' + path.join(installDir, 'install.log') + ')'} installed.`;
    if (!check.allowVersionMismatch) {
      throw new RefusedError(text, {
        state: 'nothing was changed',
        hint: versionMismatchHint(inArchive, installed, archive),
      });
    }
    warnings.push(`${text} Going on (--allow-version-mismatch).`);
  }
  if (!manifest.postgres.databases.includes(check.database)) {
    throw new RefusedError(
      `The archive holds no database "${check.database}" (it holds: ${manifest.postgres.databases.join(', ') || 'none'}).`,
      {
        state: 'nothing was changed',
        hint: 'check CUPM_DATABASE, or the archive',
      },
    );
  }
  return { archive: inArchive, installed };
}

function safeVersion(file: string): string | null {
  try {
    return readCupmVersion(file);
  } catch {
    return null;
  }
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
