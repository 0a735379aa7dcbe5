import fsp from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { mountOf } from '../file-system.js';
import { execaRunner, type CommandRunner } from '../system/command-runner.js';

/** Where a local folder is on an SMB share: the server, the share, the folder inside it (backslashes). */
export interface ShareLocation {
  host: string;
  share: string;
  dir: string;
}

/** Free space on the disk behind a share folder, and how it was found. */
export interface ShareSpace {
  free: number | undefined;
  /** statfs of the mount (kernel CIFS answers it), smbclient's `du` (smbnetfs answers statfs with zeros), or nothing. */
  how: 'statfs' | 'smbclient' | 'not-measured';
  note?: string;
}

/**
 * Free space where files are written over an SMB share (an admin host's CUPM_INSTALL_DIR). The
 * mount's statfs where it is real (kernel CIFS); smbnetfs answers statfs with zeros, so then
 * Samba's `smbclient //HOST/SHARE -c 'cd DIR; du'` asks the server, which measures the disk of that
 * very folder. The account reaches smbclient through its environment (USER, PASSWD), never its
 * argument list. Never throws: what cannot be measured says why.
 */
export async function shareFreeSpace(
  dir: string,
  account: { user: string | undefined; password: string | undefined },
  options: { runner?: CommandRunner; mountinfo?: string; timeoutMs?: number } = {},
): Promise<ShareSpace> {
  try {
    const stat = await fsp.statfs(dir);
    if (stat.blocks > 0) return { free: stat.bavail * stat.bsize, how: 'statfs' };
  } catch (error) {
    return {
      free: undefined,
      how: 'not-measured',
      note: `${dir} cannot be measured (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`,
    };
  }
  const location = await shareLocationOf(dir, options.mountinfo);
  if (!location)
    return { free: undefined, how: 'not-measured', note: `${dir} reports no disk size, and is not on an SMB mount this tool can read` };
  if (!account.user || account.password === undefined)
    return {
      free: undefined,
      how: 'not-measured',
      note: `${dir} is on \\\\${location.host}\\${location.share}, which only smbclient can measure: it needs CUPM_SERVER_USER and CUPM_SERVER_PASSWORD`,
    };
  const command = location.dir ? `cd "${location.dir}"; du` : 'du';
  const result = await (options.runner ?? execaRunner)
    .run('smbclient', [`//${location.host}/${location.share}`, '-c', command], {
      timeoutMs: options.timeoutMs ?? 60_000,
      env: { USER: account.user, PASSWD: account.password, PASSWD_FD: undefined, PASSWD_FILE: undefined, LC_ALL: 'C' },
      notFoundHint: "install Samba's smbclient (Debian: apt-get install smbclient)",
    })
    .catch((error: unknown) => ({ exitCode: -1, stdout: '', stderr: messageOf(error) }));
  const blocks = /(\d+) blocks of size (\d+)\. (\d+) blocks available/.exec(result.stdout);
  if (result.exitCode !== 0 || !blocks) {
    const said = `${result.stdout} ${result.stderr}`.replace(/\s+/g, ' ').trim().slice(0, 300);
    return {
      free: undefined,
      how: 'not-measured',
      note: `smbclient could not measure \\\\${location.host}\\${location.share}\\${location.dir}${said ? `: ${said}` : ''}`,
    };
  }
  return { free: Number(blocks[3]) * Number(blocks[2]), how: 'smbclient' };
}

/** The share a folder is on, from /proc/self/mountinfo: smbnetfs (<mount>/HOST/SHARE/...) or kernel CIFS (//HOST/SHARE). */
export async function shareLocationOf(dir: string, mountinfo?: string): Promise<ShareLocation | undefined> {
  const best = await mountOf(dir, mountinfo);
  if (!best) return undefined;
  const below = path.relative(best.point, best.real).split(path.sep).filter(Boolean);
  if (best.type === 'fuse.smbnetfs') {
    if (below.length < 2) return undefined;
    const [host, share, ...rest] = below;
    return { host: host!, share: share!, dir: rest.join('\\') };
  }
  if (/^(?:cifs|smb3)$/.test(best.type)) {
    const source = /^\/\/([^/]+)\/([^/]+)(?:\/(.*))?$/.exec(best.source);
    if (!source) return undefined;
    return { host: source[1]!, share: source[2]!, dir: [...(source[3] ? source[3].split('/') : []), ...below].filter(Boolean).join('\\') };
  }
  return undefined;
}
