import { backup, type BackupOptions, type BackupResult } from '../backup/backup.js';
import type { Config } from '../config/config.js';
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
  options: Omit<BackupOptions, 'label'> = {},
  reporter: Reporter = silentReporter,
): Promise<PrepareResult> {
  const result = await backup(config, { ...options, label: PRE_UPGRADE_LABEL }, reporter);
  const version = result.manifest.cupm.version;
  const warnings: string[] = [];
  if (version === null) {
    warnings.push('install.log does not say which CUPM version this is: upgrade rollback cannot tell which version to reinstall from this archive.');
  } else if (!isOldCupmVersion(version)) {
    warnings.push(`This server already runs CUPM ${version}: the upgrade this prepares for goes from 2.1/2.2 to ${UPGRADE_TARGET_VERSION}, and this archive cannot roll one back.`);
  }
  for (const warning of warnings) reporter.warn(warning);
  return {
    backup: result,
    checklist: upgradeChecklist({ archive: result.archive, cupmVersion: version, backupDir: config.backupDir, installDir: config.installDir }),
    warnings,
  };
}
