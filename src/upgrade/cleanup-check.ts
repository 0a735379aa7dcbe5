import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { ConfigError, DirtyStateError, JobFailedError, messageOf } from '../errors.js';
import { fileSystemOf, isShareFileSystem } from '../file-system.js';
import { createServiceManager } from '../services/index.js';
import { ServiceNotFoundError, type ServiceManager } from '../services/service-manager.js';
import { volumeOf } from '../system/windows-paths.js';
import type { CleanupTarget } from './cleanup-plan.js';
import { ZERO_G_REGISTRY } from './target.js';

/** One thing the clean-up removes, as seen from the admin host. */
export interface CleanupCheckItem {
  kind: 'service' | 'folder';
  /** The service name, or the folder as a Windows path on the server. */
  name: string;
  /** gone: removed; left: still there; unknown: could not be checked (see detail). */
  state: 'gone' | 'left' | 'unknown';
  detail: string;
}

export interface CleanupCheckResult {
  /** True when everything checked is gone. */
  ok: boolean;
  items: CleanupCheckItem[];
  /** What this check cannot see from here (the script's log says). */
  notChecked: string[];
}

/**
 * `upgrade cleanup --check`: from the admin host, what the clean-up script left on the server:
 * the services through the configured (remote) service driver, the folders through the share
 * CUPM_INSTALL_DIR is on. Folders are mapped from the server's Windows paths onto the share by
 * their place relative to the install dir (C:\Program Files\Zero G Registry is ../Program Files/
 * Zero G Registry from C:\CUPM). Refuses (exit 2) when the share is not mounted: a local folder of
 * the same name is never looked at in its place.
 */
export async function checkCleanup(
  config: Config,
  target: CleanupTarget,
  options: { serviceManager?: ServiceManager } = {},
): Promise<CleanupCheckResult> {
  const share = config.installDir;
  if (share === undefined)
    throw new ConfigError("upgrade cleanup --check needs CUPM_INSTALL_DIR: the server's install dir on its mounted share.", {
      state: 'nothing was changed',
    });
  // The share's root (C$) holds the install dir; it must be there, and be a share.
  const depth = path.win32
    .relative(`${volumeOf(target.installDir) ?? 'c:'}\\`, target.installDir)
    .split('\\')
    .filter(Boolean).length;
  const root = path.resolve(share, ...Array<string>(depth).fill('..'));
  await requireShare(root, config);

  const items: CleanupCheckItem[] = [];
  const manager = options.serviceManager ?? createServiceManager(config);
  for (const service of target.services) items.push(await serviceItem(manager, service));
  // Zero G Registry and the profiles are on the system drive (C:), the install dir maybe elsewhere.
  const folders = [
    target.installDir,
    ...['Program Files', 'Program Files (x86)'].map((p) => path.win32.join('C:\\', p, ZERO_G_REGISTRY)),
    ...['Documents and Settings', 'Users'].map((p) => path.win32.join('C:\\', p, target.windowsUser)),
  ];
  const notChecked = [
    `the Add or Remove Programs entries of CUPM and PostgreSQL 8.2 and the user ${target.windowsUser} (the registry and the user list are not reachable through the share): the script's log next to it says what its steps found`,
  ];
  for (const folder of folders) {
    if (volumeOf(folder) !== volumeOf(target.installDir)) {
      notChecked.push(`${folder}: on another drive than the install dir's share`);
      continue;
    }
    const relative = path.win32.relative(target.installDir, folder).split('\\').filter(Boolean);
    items.push(await folderItem(folder, path.resolve(share, ...relative)));
  }
  return { ok: items.every((i) => i.state === 'gone'), items, notChecked };
}

/** The error --check ends with when something is left (exit 5) or could not be checked (exit 1); undefined when all is gone. */
export function cleanupCheckFailure(result: CleanupCheckResult): DirtyStateError | JobFailedError | undefined {
  const left = result.items.filter((i) => i.state === 'left');
  const unknown = result.items.filter((i) => i.state === 'unknown');
  if (left.length > 0) {
    return new DirtyStateError(`The clean-up is not complete: ${left.length} thing(s) the clean-up removes are still on the server.`, {
      problems: [...left, ...unknown].map(formatItem),
      state: 'the server is half cleaned up: the items above are still there, the others are gone',
      hint: 'run the clean-up script on the server again (it continues where it stopped; a reboot frees files a service held), then check again',
    });
  }
  if (unknown.length > 0) {
    return new JobFailedError(`Could not check ${unknown.length} thing(s) the clean-up removes.`, {
      problems: unknown.map(formatItem),
      state: 'nothing was changed; what could be checked is gone',
      hint: 'fix what the lines say (service control, the share), then check again',
    });
  }
  return undefined;
}

/** "[gone] service Apache2: ..." lines for people. */
export function formatCleanupCheck(result: CleanupCheckResult): string[] {
  return [...result.items.map(formatItem), ...result.notChecked.map((n) => `[not checked] ${n}`)];
}

function formatItem(item: CleanupCheckItem): string {
  return `[${item.state}] ${item.kind} ${item.name}: ${item.detail}`;
}

async function requireShare(root: string, config: Config): Promise<void> {
  const host = config.server?.host ?? 'the CUPM server';
  try {
    if (!(await fsp.stat(root)).isDirectory()) throw new Error('not a folder');
  } catch (error) {
    throw new ConfigError(
      `The share of ${host} is not reachable at ${root} (${(error as NodeJS.ErrnoException).code ?? messageOf(error)}): nothing can be checked.`,
      {
        state: 'nothing was changed',
        hint: `mount \\\\${host}\\C$ and set CUPM_INSTALL_DIR to the install dir in it`,
      },
    );
  }
  if (config.server && config.platform === 'linux') {
    const type = await fileSystemOf(root);
    if (type !== undefined && !isShareFileSystem(type)) {
      throw new ConfigError(
        `${root} is on this host's own disk (${type}), not on a mounted share of ${host}: the share is not mounted, or CUPM_INSTALL_DIR points at a local copy.`,
        {
          state: 'nothing was changed',
          hint: `mount \\\\${host}\\C$ and set CUPM_INSTALL_DIR to the install dir in it; a local folder of the same name is never checked in its place`,
        },
      );
    }
  }
}

async function serviceItem(manager: ServiceManager, service: string): Promise<CleanupCheckItem> {
  try {
    const state = await manager.status(service);
    return { kind: 'service', name: service, state: 'left', detail: `still exists (${state}; service manager ${manager.kind})` };
  } catch (error) {
    if (error instanceof ServiceNotFoundError)
      return { kind: 'service', name: service, state: 'gone', detail: `no such service (service manager ${manager.kind})` };
    return { kind: 'service', name: service, state: 'unknown', detail: messageOf(error) };
  }
}

async function folderItem(folder: string, local: string): Promise<CleanupCheckItem> {
  try {
    await fsp.stat(local);
    return { kind: 'folder', name: folder, state: 'left', detail: `still there (${local})` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return { kind: 'folder', name: folder, state: 'gone', detail: `not on the share (${local})` };
    return { kind: 'folder', name: folder, state: 'unknown', detail: `${local}: ${code ?? messageOf(error)}` };
  }
}
