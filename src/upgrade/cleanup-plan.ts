import path from 'node:path';
import { DEFAULT_WINDOWS_INSTALL_DIR } from '../config/config.js';
import { ConfigError, JobFailedError } from '../errors.js';
import { ServiceNotFoundError, ServiceTimeoutError, type ServiceManager } from '../services/service-manager.js';
import type { InstalledProgram } from '../system/installed-programs.js';
import { expandWindowsEnv } from '../system/registry.js';
import type { WindowsSystem } from '../system/system.js';
import { comparable, isWindowsAbsolute, tooBroadToDelete } from '../system/windows-paths.js';
import type { CleanupOutcome, CleanupStep } from './cleanup-runner.js';
import { CLEANUP_SERVICES, DEFAULT_WINDOWS_USER, isCupmProgram, isPostgres82Program, ZERO_G_REGISTRY } from './target.js';

/** What the steps work through: the machine, and the services port to stop before deleting. */
export interface CleanupContext {
  system: WindowsSystem;
  services: ServiceManager;
}

/** What the clean-up removes on this server, all as Windows paths. */
export interface CleanupTarget {
  installDir: string;
  windowsUser: string;
  services: string[];
  /** `C:\Program Files\Zero G Registry` (and the (x86) one on 64-bit Windows). */
  zeroGFolders: string[];
  /** Where the user's home folder usually is, for the plan text (the run asks the profile list). */
  homeFolderGuesses: string[];
  /** Said with the plan: e.g. that the install dir is not a Windows path (a dry run on another OS). */
  note?: string;
}

/**
 * The clean-up's target from the settings: the install dir (C:\CUPM unless CUPM_INSTALL_DIR says
 * otherwise) and the Windows user. Refuses (exit 2) a folder whose deletion would wreck Windows.
 */
export function cleanupTarget(
  installDir: string | undefined,
  env: Record<string, string | undefined>,
  windowsUser = DEFAULT_WINDOWS_USER,
  options: { planOnly?: boolean } = {},
): CleanupTarget {
  const dir = installDir ?? DEFAULT_WINDOWS_INSTALL_DIR;
  const problems: string[] = [];
  // Only printing the plan (--dry-run, any OS): an install dir such as a mounted share
  // (/mnt/cupm01/CUPM) is shown as it is; the real run happens on the Windows server.
  const note =
    options.planOnly && !isWindowsAbsolute(dir)
      ? `the install dir ${dir} is not a Windows path: this plan shows it as configured here; on the CUPM server the clean-up deletes its Windows install dir (CUPM_INSTALL_DIR there, C:\\CUPM by default)`
      : undefined;
  if (note) {
    // nothing to refuse: nothing is deleted by a plan
  } else if (!isWindowsAbsolute(dir))
    problems.push(`the install dir ${dir} is not a Windows path (C:\\CUPM by default): set CUPM_INSTALL_DIR to it`);
  else {
    const broad = tooBroadToDelete(dir);
    if (broad) problems.push(`the install dir is deleted by the clean-up, and ${broad}`);
  }
  if (!/^[^\\/"[\]:;|=,+*?<>]{1,20}$/.test(windowsUser)) problems.push(`"${windowsUser}" is not a Windows user name`);
  if (problems.length > 0) {
    throw new ConfigError('The upgrade clean-up cannot be planned:', {
      problems,
      state: 'nothing was changed',
      hint: 'check CUPM_INSTALL_DIR and --windows-user',
    });
  }
  const systemDrive = env.SystemDrive ?? env.SYSTEMDRIVE ?? 'C:';
  const programFiles = [lookup(env, 'ProgramFiles') ?? `${systemDrive}\\Program Files`, lookup(env, 'ProgramFiles(x86)')].filter(
    (p): p is string => p !== undefined,
  );
  const zeroG = new Map(programFiles.map((p) => [comparable(p), path.win32.join(p, ZERO_G_REGISTRY)]));
  return {
    installDir: dir,
    ...(note ? { note } : {}),
    windowsUser,
    services: [...CLEANUP_SERVICES],
    zeroGFolders: [...zeroG.values()],
    homeFolderGuesses: [
      path.win32.join(`${systemDrive}\\Documents and Settings`, windowsUser) + ' (Windows Server 2003)',
      path.win32.join(`${systemDrive}\\Users`, windowsUser) + ' (Windows Server 2008)',
    ],
  };
}

/**
 * The install guide's clean-up of a failed 2.x -> 8.5 upgrade (docs/cupm.md), in its order: the
 * standard uninstall, then by hand what it left (PostgreSQL 8.2, the services, the user and its
 * home, the folders). Services go before the folders: a running service holds files in the install
 * dir.
 */
export function buildCleanupPlan(target: CleanupTarget): CleanupStep<CleanupContext>[] {
  const steps: CleanupStep<CleanupContext>[] = [
    {
      id: 'uninstall-cupm',
      title: 'Run the CUPM uninstaller, where it is still registered',
      changes: [
        'runs the uninstaller of "Cisco Unified Provisioning Manager" (2.x or 8.5) listed in Add or Remove Programs, silently (-i silent)',
      ],
      run: ({ system }) => uninstallMatching(system, 'CUPM', isCupmProgram),
    },
    {
      id: 'uninstall-postgresql-8.2',
      title: 'Remove PostgreSQL 8.2, where it is still installed',
      changes: ['runs msiexec /x for "PostgreSQL 8.2" listed in Add or Remove Programs (another PostgreSQL version is left alone)'],
      run: ({ system }) => uninstallMatching(system, 'PostgreSQL 8.2', isPostgres82Program),
    },
  ];
  for (const service of target.services) {
    steps.push({
      id: `service:${service}`,
      title: `Stop, then delete the service ${service}`,
      changes: [`stops "${service}" if it runs, then sc.exe delete "${service}"`],
      run: (ctx) => stopAndDeleteService(ctx, service),
    });
  }
  steps.push(
    {
      id: 'delete-user',
      title: `Delete the Windows user ${target.windowsUser}`,
      changes: [`net user ${target.windowsUser} /delete`],
      run: async ({ system }) => {
        const outcome = await system.deleteUser(target.windowsUser);
        return outcome === 'deleted'
          ? { status: 'done', detail: `user ${target.windowsUser} deleted` }
          : { status: 'absent', detail: `no user ${target.windowsUser}` };
      },
    },
    {
      id: 'delete-user-home',
      title: `Delete the home folder of ${target.windowsUser}`,
      changes: [`deletes ${target.homeFolderGuesses.join(' or ')}, or where the profile list puts it`],
      run: ({ system }) => deleteHomeFolders(system, target.windowsUser),
    },
    {
      id: 'delete-install-dir',
      title: `Delete the install dir ${target.installDir}`,
      changes: [
        `deletes ${target.installDir} and everything in it (only once the backup check found an archive of the old version, or with --no-backup-check)`,
      ],
      run: ({ system }) => deleteFolders(system, [target.installDir]),
    },
    {
      id: 'delete-zero-g-registry',
      title: `Delete ${target.zeroGFolders.join(' and ')}`,
      changes: target.zeroGFolders.map((f) => `deletes ${f} (InstallAnywhere's registry)`),
      run: ({ system }) => deleteFolders(system, target.zeroGFolders),
    },
  );
  return steps;
}

/** The folders the clean-up deletes, to keep the archive the restore needs out of them. */
export function foldersDeleted(target: CleanupTarget): string[] {
  return [target.installDir, ...target.zeroGFolders];
}

async function uninstallMatching(system: WindowsSystem, what: string, matches: (name: string) => boolean): Promise<CleanupOutcome> {
  const programs = (await system.installedPrograms()).filter((p) => matches(p.displayName));
  if (programs.length === 0) return { status: 'absent', detail: `${what} is not listed in Add or Remove Programs` };
  const details: string[] = [];
  let removed = false;
  for (const program of programs) {
    const result = await system.uninstall(program);
    if (result.outcome === 'done') removed = true;
    details.push(`${label(program)}: ${result.detail}`);
  }
  return { status: removed ? 'done' : 'absent', detail: details.join('; ') };
}

function label(program: InstalledProgram): string {
  return `${program.displayName}${program.displayVersion ? ` ${program.displayVersion}` : ''}`;
}

/**
 * Stops a service through the ServiceManager (the same code that stops CUPM for a backup, so a
 * STOP_PENDING service is waited for, then reported), and deletes it only once it is stopped: the
 * install guide deletes services "only once they are not running", and `sc delete` of a running one would
 * merely mark it.
 */
async function stopAndDeleteService({ system, services }: CleanupContext, service: string): Promise<CleanupOutcome> {
  let state;
  try {
    state = await services.status(service);
  } catch (error) {
    if (error instanceof ServiceNotFoundError) return { status: 'absent', detail: `no service ${service}` };
    throw error;
  }
  let stopped = false;
  if (state !== 'stopped') {
    try {
      await services.stop(service);
      stopped = true;
    } catch (error) {
      if (error instanceof ServiceTimeoutError) {
        throw new JobFailedError(
          `${error.message.replace(/\.$/, '')}, so it was NOT deleted (sc.exe delete would only mark a running service).`,
          {
            hint: `end its process (Task Manager, or taskkill /F /FI "SERVICES eq ${service}") or reboot, then run cupm-backup upgrade cleanup again`,
            cause: error,
          },
        );
      }
      throw error;
    }
  }
  const outcome = await system.deleteService(service);
  const how = stopped ? 'stopped, then ' : '';
  if (outcome === 'deleted') return { status: 'done', detail: `${how}deleted` };
  if (outcome === 'marked-for-deletion')
    return {
      status: 'done',
      detail: `${how}marked for deletion: Windows removes it once the Services console and other handles close, or at the next reboot`,
    };
  return { status: 'absent', detail: `${how}no service ${service} left to delete` };
}

async function deleteHomeFolders(system: WindowsSystem, user: string): Promise<CleanupOutcome> {
  const deleted: string[] = [];
  for (const folder of await system.profileFolders(user)) {
    // A profile path from the registry is deleted only if it is an ordinary folder named after the user.
    if (tooBroadToDelete(folder) || !path.win32.basename(folder).toLowerCase().startsWith(user.toLowerCase())) continue;
    if ((await system.removeFolder(folder)) === 'deleted') deleted.push(folder);
  }
  return deleted.length > 0
    ? { status: 'done', detail: `deleted ${deleted.join(', ')}` }
    : { status: 'absent', detail: `no home folder of ${user}` };
}

async function deleteFolders(system: WindowsSystem, folders: string[]): Promise<CleanupOutcome> {
  const deleted: string[] = [];
  for (const folder of folders) if ((await system.removeFolder(folder)) === 'deleted') deleted.push(folder);
  return deleted.length > 0
    ? { status: 'done', detail: `deleted ${deleted.join(', ')}` }
    : { status: 'absent', detail: `${folders.join(', ')}: not there` };
}

function lookup(env: Record<string, string | undefined>, name: string): string | undefined {
  const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : env[key];
  return value ? expandWindowsEnv(value, env) : undefined;
}
