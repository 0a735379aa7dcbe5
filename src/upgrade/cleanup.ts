import type { Config } from '../config/config.js';
import { archiveKeys } from '../config/encryption-settings.js';
import { ConfigError, DirtyStateError, JobFailedError, RefusedError } from '../errors.js';
import { withLock } from '../jobs/lock.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import type { ServiceManager } from '../services/service-manager.js';
import { WindowsServiceManager } from '../services/windows.js';
import type { WindowsSystem } from '../system/system.js';
import { WindowsSystemDriver } from '../system/windows-system.js';
import { isUncPath, isWindowsAbsolute, isWithin, quoteArg } from '../system/windows-paths.js';
import path from 'node:path';
import { DEFAULT_WINDOWS_INSTALL_DIR } from '../config/config.js';
import { checkCleanup, type CleanupCheckResult } from './cleanup-check.js';
import { writeCleanupScript, type CleanupScript } from './cleanup-script.js';
import { buildCleanupPlan, cleanupTarget, foldersDeleted, type CleanupContext, type CleanupTarget } from './cleanup-plan.js';
import { formatCleanupReports, runCleanupSteps, type CleanupReport } from './cleanup-runner.js';
import { describeRollbackArchive, findRollbackArchive, type RollbackArchive } from './rollback-archive.js';
import { UPGRADE_TARGET_VERSION } from '../artifacts/install-log.js';

export interface UpgradeCleanupOptions {
  dryRun?: boolean;
  /** Delete the install dir even without a verified archive of the old version. */
  noBackupCheck?: boolean;
  /** The archive the restore will use, instead of searching the backup dir. */
  archive?: string;
  /** The Windows user the installer created (cupmuser unless changed at install). */
  windowsUser?: string;
  /** Asked once the plan and the archive are known; false cancels (nothing changed). */
  confirm?: (question: string, details: string[]) => Promise<boolean>;
  /** The machine and its services: the Windows drivers by default (tests pass recorded ones). */
  system?: WindowsSystem;
  serviceManager?: ServiceManager;
  /** Environment for %SystemDrive%, %ProgramFiles% (process.env by default). */
  env?: Record<string, string | undefined>;
  /** Ctrl-C / SIGTERM: the step in flight finishes, then the clean-up stops (`cancelled`). */
  signal?: AbortSignal;
}

/** One step of the plan as --dry-run shows it. */
export interface PlannedCleanupStep {
  id: string;
  title: string;
  changes: string[];
}

/** The check that an archive of the old version exists before the install dir goes. */
export interface BackupCheck {
  /** --no-backup-check was given: nothing was looked for. */
  skipped: boolean;
  ok: boolean;
  dir: string;
  archive: { file: string; cupmVersion: string; label: string | null; createdAt: string; hostname: string } | null;
  rejected: Array<{ file: string; reason: string }>;
  /** What a person reads: which archive the restore will use, or why the clean-up refuses. */
  message: string;
}

export interface UpgradeCleanupResult {
  dryRun: boolean;
  target: CleanupTarget;
  plan: PlannedCleanupStep[];
  backupCheck: BackupCheck;
  /** How each step ended (empty on --dry-run). */
  steps: CleanupReport[];
  /** A Ctrl-C / SIGTERM stopped it after a step: the steps after it are `not-run`. */
  cancelled: boolean;
  ok: boolean;
  /** What comes after the clean-up: reinstall the old version, restore the archive. */
  next: string[];
}

/**
 * The install guide's clean-up of a failed 2.1/2.2 -> 8.5 upgrade (docs/cupm.md), as a plan of
 * idempotent steps. Plans anywhere (--dry-run); runs only on Windows. Before anything is touched it refuses (exit 4) when
 * no verified archive of the old version exists to restore afterwards. Steps run in order and a
 * failed one does not stop the rest; the result says what each did, and a second run continues.
 */
export async function upgradeCleanup(
  config: Config,
  options: UpgradeCleanupOptions = {},
  reporter: Reporter = silentReporter,
): Promise<UpgradeCleanupResult> {
  const env = options.env ?? process.env;
  const target = cleanupTarget(config.installDir, env, options.windowsUser, { planOnly: options.dryRun === true });
  const steps = buildCleanupPlan(target);
  const plan = steps.map((s) => ({ id: s.id, title: s.title, changes: s.changes ?? [] }));
  if (!options.dryRun && config.platform !== 'win32' && !options.system) {
    throw new ConfigError(
      'upgrade cleanup changes Windows itself (uninstallers, services, users, folders): it runs only on the CUPM Windows server.',
      {
        state: 'nothing was changed',
        hint: 'run it there; here, --dry-run prints the plan it would follow',
      },
    );
  }
  const backupCheck = await checkBackup(config, target, options, reporter);
  const result: UpgradeCleanupResult = {
    dryRun: options.dryRun === true,
    target,
    plan,
    backupCheck,
    steps: [],
    cancelled: false,
    ok: true,
    next: nextSteps(backupCheck),
  };
  if (options.dryRun) return result;

  if (!backupCheck.ok) {
    throw new RefusedError(backupCheck.message, {
      problems: backupCheck.rejected.map((r) => `${r.file}: ${r.reason}`),
      state: 'nothing was changed',
      hint: `back up the old version first (cupm-backup upgrade prepare) if it still runs; if the archive is elsewhere (a file server, a CD), pass --archive FILE; --no-backup-check deletes ${target.installDir} without one`,
    });
  }
  if (options.confirm && !(await options.confirm('Clean up the failed upgrade now?', planLines(result)))) {
    throw new JobFailedError('Cancelled at the prompt.', { state: 'nothing was changed' });
  }

  const ctx: CleanupContext = {
    system: options.system ?? new WindowsSystemDriver({ env }),
    // The services to delete are Windows services whatever CUPM_SERVICE_MANAGER says.
    services: options.serviceManager ?? new WindowsServiceManager({ timeoutSeconds: config.serviceTimeoutSeconds }),
  };
  if (options.signal?.aborted)
    throw new JobFailedError('Cancelled (Ctrl-C or SIGTERM) before the clean-up started.', { state: 'nothing was changed' });
  reporter.info(backupCheck.message);
  result.steps = await withLock(config.backupDir, 'upgrade cleanup', () =>
    runCleanupSteps(steps, ctx, reporter, { signal: options.signal }),
  );
  result.cancelled = result.steps.some((s) => s.status === 'not-run');
  result.ok = result.steps.every((s) => s.status === 'done' || s.status === 'absent');
  return result;
}

/** The text of the plan, for --dry-run and the confirmation prompt. */
export function planLines(result: Pick<UpgradeCleanupResult, 'plan' | 'backupCheck' | 'next' | 'target'>): string[] {
  const lines = [`Clean-up of a failed upgrade to CUPM ${UPGRADE_TARGET_VERSION} (install dir ${result.target.installDir}):`];
  if (result.target.note) lines.push(`  (note: ${result.target.note})`);
  for (const [i, step] of result.plan.entries()) {
    lines.push(`  ${i + 1}. ${step.title}`);
    for (const change of step.changes) lines.push(`       ${change}`);
  }
  lines.push('', `Backup check: ${result.backupCheck.message}`);
  for (const r of result.backupCheck.rejected) lines.push(`  not usable: ${r.file}: ${r.reason}`);
  if (result.next.length > 0) lines.push('', 'Then:', ...result.next.map((n, i) => `  ${i + 1}. ${n}`));
  return lines;
}

/** The error a clean-up with failed steps, or one cancelled half way, ends with (exit 5): what is left, and run it again. */
export function cleanupFailure(result: UpgradeCleanupResult): DirtyStateError {
  const failed = result.steps.filter((s) => s.status === 'failed');
  const total = result.steps.length;
  const ran = result.steps.filter((s) => s.status !== 'not-run').length;
  const failedToo = failed.length > 0 ? `; ${failed.length} of them failed` : '';
  const message = result.cancelled
    ? `The upgrade clean-up was cancelled (Ctrl-C or SIGTERM) after step ${ran} of ${total} (a step running then was let finish); ${notRun(ran + 1, total)} not run${failedToo}.`
    : `The upgrade clean-up is not complete: ${failed.length} of ${total} steps failed.`;
  const left = [result.cancelled ? 'not run' : undefined, failed.length > 0 ? 'FAILED' : undefined].filter(Boolean).join(' or ');
  return new DirtyStateError(message, {
    problems: formatCleanupReports(result.steps),
    state: `the steps marked done or already absent are finished; those marked ${left} left their part in place (a clean-up is never undone)`,
    hint: [...new Set(failed.map((s) => s.hint).filter(Boolean))]
      .concat('then run cupm-backup upgrade cleanup again: finished steps report "already absent" and the rest continue')
      .join('; '),
  });
}

/** "step 10 was" / "steps 4-10 were". */
function notRun(from: number, to: number): string {
  return from === to ? `step ${from} was` : `steps ${from}-${to} were`;
}

async function checkBackup(
  config: Config,
  target: CleanupTarget,
  options: UpgradeCleanupOptions,
  reporter: Reporter,
): Promise<BackupCheck> {
  const dir = config.backupDir;
  if (options.noBackupCheck) {
    return {
      skipped: true,
      ok: true,
      dir,
      archive: null,
      rejected: [],
      message: `skipped (--no-backup-check): ${target.installDir} is deleted without checking for an archive of the old version`,
    };
  }
  const search = await findRollbackArchive(dir, { explicit: options.archive, reporter, keys: archiveKeys(config.encryption) });
  const check: BackupCheck = { skipped: false, ok: false, dir, archive: null, rejected: search.rejected, message: '' };
  const where = options.archive ? options.archive : `the backup dir ${dir}`;
  if (!search.chosen) {
    check.message = `No verified archive of the CUPM version before the upgrade (2.1/2.2) in ${where}: without one there is nothing to restore after ${target.installDir} is deleted.`;
    return check;
  }
  const inside = foldersDeleted(target).find((folder) => isWithin(search.chosen!.file, folder));
  if (inside) {
    check.message = `The archive the restore needs, ${search.chosen.file}, lies in ${inside}, which the clean-up deletes.`;
    check.rejected.push({
      file: search.chosen.file,
      reason: `inside ${inside}: copy it elsewhere first, then pass --archive with the copy`,
    });
    return check;
  }
  check.ok = true;
  check.archive = archiveFacts(search.chosen);
  check.message = `the restore will use ${describeRollbackArchive(search.chosen)}`;
  return check;
}

function archiveFacts(archive: RollbackArchive): NonNullable<BackupCheck['archive']> {
  const m = archive.manifest;
  return { file: archive.file, cupmVersion: archive.cupmVersion, label: m.label, createdAt: m.createdAt, hostname: m.source.hostname };
}

function nextSteps(check: BackupCheck): string[] {
  if (!check.archive)
    return [
      'reinstall the CUPM version you upgraded from (2.1 or 2.2)',
      'restore your archive of that version: cupm-backup restore ARCHIVE --no-live',
    ];
  return [
    `reinstall CUPM ${check.archive.cupmVersion} (the version in the archive), with the same install dir`,
    `restore the archive: cupm-backup restore ${quoteArg(check.archive.file)} --no-live`,
  ];
}

export interface CleanupScriptRunOptions {
  noBackupCheck?: boolean;
  archive?: string;
  windowsUser?: string;
  /** The install dir as a Windows path on the server (C:\CUPM unless CUPM_INSTALL_DIR is one, or \\HOST\C$\...). */
  serverInstallDir?: string;
}

/**
 * `upgrade cleanup --script FILE` (an admin host, a server Node cannot run on): the same backup
 * check as the clean-up itself (refused, exit 4, without an archive to restore afterwards), then
 * the clean-up as a cmd.exe batch file to run on the server (src/upgrade/cleanup-script.ts).
 */
export async function upgradeCleanupScript(
  config: Config,
  file: string,
  options: CleanupScriptRunOptions = {},
  reporter: Reporter = silentReporter,
): Promise<{ script: CleanupScript; target: CleanupTarget; backupCheck: BackupCheck }> {
  const target = cleanupTarget(serverInstallDir(config, options.serverInstallDir), { SystemDrive: 'C:' }, options.windowsUser);
  const backupCheck = await checkBackup(config, target, options, reporter);
  if (!backupCheck.ok) {
    throw new RefusedError(backupCheck.message, {
      problems: backupCheck.rejected.map((r) => `${r.file}: ${r.reason}`),
      state: 'no script was written',
      hint: 'back up the old version first (cupm-backup upgrade prepare) if it still runs; pass --archive FILE for an archive elsewhere; --no-backup-check writes the script without one',
    });
  }
  const script = await writeCleanupScript(file, target, {
    serviceTimeoutSeconds: config.serviceTimeoutSeconds,
    server: config.server?.host,
  });
  return { script, target, backupCheck };
}

/** `upgrade cleanup --check`: what is left on the server, seen from here (src/upgrade/cleanup-check.ts). */
export async function upgradeCleanupCheck(
  config: Config,
  options: Pick<CleanupScriptRunOptions, 'windowsUser' | 'serverInstallDir'> & { serviceManager?: ServiceManager } = {},
): Promise<CleanupCheckResult> {
  const target = cleanupTarget(serverInstallDir(config, options.serverInstallDir), { SystemDrive: 'C:' }, options.windowsUser);
  return checkCleanup(config, target, { serviceManager: options.serviceManager });
}

/** The server's install dir as a Windows path: the flag, CUPM_INSTALL_DIR when it is one (\\HOST\C$\CUPM is C:\CUPM), else C:\CUPM. */
function serverInstallDir(config: Config, flag: string | undefined): string {
  if (flag !== undefined) return flag;
  const dir = config.installDir;
  const admin = dir === undefined ? null : /^[\\/]{2}[^\\/]+[\\/]([A-Za-z])\$(?:[\\/](.*))?$/.exec(dir);
  if (admin) return path.win32.join(`${admin[1]!.toUpperCase()}:\\`, admin[2] ?? '');
  if (dir !== undefined && isWindowsAbsolute(dir) && !isUncPath(dir)) return dir;
  return DEFAULT_WINDOWS_INSTALL_DIR;
}
