import path from 'node:path';
import { verifyArchive } from '../archive/verify.js';
import { archiveKeys } from '../config/encryption-settings.js';
import { DEFAULT_WINDOWS_INSTALL_DIR, type Config } from '../config/config.js';
import { ArchiveInvalidError, RefusedError } from '../errors.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { looksLikeWindowsPath, quoteArg } from '../system/windows-paths.js';
import { buildCleanupPlan, cleanupTarget } from './cleanup-plan.js';
import type { PlannedCleanupStep } from './cleanup.js';
import { isOldCupmVersion, UPGRADE_TARGET_VERSION } from '../artifacts/install-log.js';

export interface RollbackOptions {
  windowsUser?: string;
  /** Passed on to the printed commands, so they read the same settings. */
  envFile?: string;
  env?: Record<string, string | undefined>;
  reporter?: Reporter;
}

/** The way back from a failed upgrade, for one archive. */
export interface RollbackSequence {
  archive: { file: string; cupmVersion: string; label: string | null; createdAt: string; hostname: string; installDir: string };
  installDir: string;
  /** 1. `upgrade cleanup` and what it will do. */
  cleanupCommand: string;
  cleanupPlan: PlannedCleanupStep[];
  /** 2. The version to reinstall, and how. */
  cupmVersion: string;
  reinstall: string[];
  /** 3. The exact restore command. */
  restoreCommand: string;
  /** 4. After the restore. */
  after: string[];
  warnings: string[];
}

/**
 * `upgrade rollback ARCHIVE`: checks the archive (whole, and of the version before the upgrade),
 * then lays out the whole sequence — clean-up plan, the version to reinstall read from the
 * archive's manifest, the exact restore command. Changes nothing.
 */
export async function rollbackSequence(config: Config, archive: string, options: RollbackOptions = {}): Promise<RollbackSequence> {
  const reporter = options.reporter ?? silentReporter;
  const file = path.resolve(archive);
  const report = await verifyArchive(file, {
    keys: archiveKeys(config.encryption),
    onProgress: (done, total) => reporter.progress('verify', done, total),
  });
  if (!report.ok || !report.manifest) {
    throw new ArchiveInvalidError(`The archive ${file} is NOT valid, so it cannot carry a rollback:`, {
      problems: report.problems,
      state: 'nothing was changed',
      hint: 'choose another archive of the old version (cupm-backup list); do not clean up the failed upgrade before you have one that verifies',
    });
  }
  const m = report.manifest;
  const version = m.cupm.version;
  if (version === null || !isOldCupmVersion(version)) {
    const holds = m.cupm.version === null ? 'a CUPM version it does not know (install.log did not say)' : `CUPM ${m.cupm.version}`;
    throw new RefusedError(
      `The archive ${file} holds ${holds}: a rollback of the upgrade to ${UPGRADE_TARGET_VERSION} needs an archive of the version before it (2.1 or 2.2).`,
      {
        state: 'nothing was changed',
        hint: "choose the pre-upgrade archive (cupm-backup list shows each archive's CUPM version and label)",
      },
    );
  }
  // The server's install dir: the setting, else where the archive came from, else the default.
  const warnings: string[] = [];
  const candidates = [config.installDir, m.cupm.installDir].filter((d): d is string => d !== undefined && looksLikeWindowsPath(d));
  const installDir = candidates[0] ?? DEFAULT_WINDOWS_INSTALL_DIR;
  if (config.installDir !== undefined && !looksLikeWindowsPath(config.installDir)) {
    warnings.push(`CUPM_INSTALL_DIR (${config.installDir}) is not a Windows path; the sequence uses ${installDir}`);
  }
  const target = cleanupTarget(installDir, options.env ?? process.env, options.windowsUser);
  const envFile = options.envFile ? ` --env-file ${quoteArg(options.envFile)}` : '';
  const user = options.windowsUser ? ` --windows-user ${quoteArg(options.windowsUser)}` : '';
  if (m.label !== 'pre-upgrade')
    warnings.push(`the archive is labelled ${m.label ?? '(none)'}, not pre-upgrade: make sure it is the state you want back`);
  if (looksLikeWindowsPath(m.cupm.installDir) && m.cupm.installDir.toLowerCase() !== installDir.toLowerCase()) {
    warnings.push(`the archive came from ${m.cupm.installDir}; the clean-up and reinstall use ${installDir}`);
  }
  return {
    archive: {
      file,
      cupmVersion: version,
      label: m.label,
      createdAt: m.createdAt,
      hostname: m.source.hostname,
      installDir: m.cupm.installDir,
    },
    installDir,
    cleanupCommand: `cupm-backup upgrade cleanup --archive ${quoteArg(file)}${user}${envFile}`,
    cleanupPlan: buildCleanupPlan(target).map((s) => ({ id: s.id, title: s.title, changes: s.changes ?? [] })),
    cupmVersion: version,
    reinstall: [
      `Reinstall Cisco Unified Provisioning Manager ${version} (the version in the archive) from its installation media, into ${installDir} (no spaces in the path).`,
      'Use the same database user and ports as before; let the installer create its services, then make sure CUPM starts.',
    ],
    // The plain restore: CUPM is out of service anyway (nothing for a live restore to save), and the
    // reinstalled 2.x runs PostgreSQL 8.2, which cannot end sessions (pg_terminate_backend is 8.4).
    restoreCommand: `cupm-backup restore ${quoteArg(file)} --no-live${envFile}`,
    after: [
      'The restore stops the services, verifies the whole archive, restores the database and the five files, and starts the services again (--no-live: CUPM is out of service during a rollback, so loading while it runs would save nothing).',
      `Check the server: cupm-backup doctor${envFile}`,
    ],
    warnings,
  };
}

/** The sequence as a person reads it. */
export function formatRollback(seq: RollbackSequence): string[] {
  const a = seq.archive;
  const lines = [
    `Rollback of a failed upgrade to CUPM ${UPGRADE_TARGET_VERSION}, with ${a.file}`,
    `  (CUPM ${a.cupmVersion}${a.label ? `, label ${a.label}` : ''}, made ${a.createdAt} on ${a.hostname} from ${a.installDir}; verified)`,
    '',
    '1. Clean up the failed upgrade (on the CUPM server, from an elevated prompt):',
    `     ${seq.cleanupCommand}`,
    '   It will:',
    ...seq.cleanupPlan.map((s, i) => `     ${i + 1}. ${s.title}`),
    '   (add --dry-run to review it first; it asks before it starts)',
    '',
    `2. Reinstall CUPM ${seq.cupmVersion}:`,
    ...seq.reinstall.map((r) => `     ${r}`),
    '',
    '3. Restore the archive:',
    `     ${seq.restoreCommand}`,
    '',
    '4. Then:',
    ...seq.after.map((r) => `     ${r}`),
  ];
  if (seq.warnings.length > 0) lines.push('', ...seq.warnings.map((w) => `warning: ${w}`));
  return lines;
}
