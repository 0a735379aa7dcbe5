import path from 'node:path';
import { backup, type BackupOptions, type BackupResult } from '../backup/backup.js';
import type { Config } from '../config/config.js';
import { readCupmVersion } from '../artifacts/install-log.js';
import { RefusedError } from '../errors.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { upgradeChecklist, type ChecklistSection } from './checklist.js';
import { isOldCupmVersion, UPGRADE_TARGET_VERSION } from '../artifacts/install-log.js';
import { PRE_UPGRADE_LABEL } from './target.js';

export interface PrepareResult {
  backup: BackupResult;
  checklist: ChecklistSection[];
  /** What the reader must know before upgrading with this archive (wrong version ...). */
  warnings: string[];
}

/**
 * `upgrade prepare`: the install guide's manual backup before an upgrade (a `pre-upgrade` archive, which
 * retention never deletes), then the upgrade checklist with this archive's facts.
 */
export async function prepareUpgrade(
  config: Config,
  options: Omit<BackupOptions, 'label'> & { anyVersion?: boolean } = {},
  reporter: Reporter = silentReporter,
): Promise<PrepareResult> {
  // The version is read before anything is stopped: on a server that already runs the target
  // version there is nothing this archive could roll back.
  const installed = installedVersion(config);
  if (installed !== null && !isOldCupmVersion(installed) && !options.anyVersion) {
    throw new RefusedError(
      `This server already runs CUPM ${installed}: upgrade prepare is for the upgrade from 2.1/2.2 to ${UPGRADE_TARGET_VERSION}, and its archive could not roll one back.`,
      {
        state: 'nothing was changed; no service was stopped',
        hint: 'for an ordinary backup run cupm-backup backup; to make this pre-upgrade backup anyway, run upgrade prepare --any-version',
      },
    );
  }
  const result = await backup(config, { ...options, label: PRE_UPGRADE_LABEL }, reporter);
  const version = result.manifest.cupm.version;
  const warnings: string[] = [];
  if (version === null) {
    warnings.push(
      'install.log does not say which CUPM version this is: upgrade rollback cannot tell which version to reinstall from this archive.',
    );
  } else if (!isOldCupmVersion(version)) {
    warnings.push(
      `This server already runs CUPM ${version}: the upgrade this prepares for goes from 2.1/2.2 to ${UPGRADE_TARGET_VERSION}, and this archive cannot roll one back.`,
    );
  }
  for (const warning of warnings) reporter.warn(warning);
  return {
    backup: result,
    checklist: upgradeChecklist({
      archive: result.archive,
      cupmVersion: version,
      backupDir: config.backupDir,
      installDir: config.installDir,
    }),
    warnings,
  };
}

/** The CUPM version install.log names, or null when there is none to read (the backup then reports it). */
function installedVersion(config: Config): string | null {
  if (!config.installDir) return null;
  try {
    return readCupmVersion(path.join(config.installDir, 'install.log'));
  } catch {
    return null;
  }
}
