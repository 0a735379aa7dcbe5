import crypto from 'node:crypto';
import { lookup } from 'node:dns/promises';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { messageOf } from '../errors.js';
import { fileSystemOf, isShareFileSystem } from '../file-system.js';
import { remoteProbe } from '../restore/ports.js';
import { looksLikeWindowsPath } from '../system/windows-paths.js';
import { fail, pass, warn, type CheckResult } from './check.js';

/**
 * With CUPM_SERVER set (the tool on an admin host): the server's name, the channels the tool
 * uses (SMB 445 for files and the rpc driver, RPC 135 for sc.exe from Windows), and the install
 * dir, which must be the server's share, mounted, readable and writable. Nothing when unset.
 */
export async function remoteChecks(config: Config, options: { ports?: { smb: number; rpc: number } } = {}): Promise<CheckResult[]> {
  const server = config.server;
  if (!server) return [];
  const results: CheckResult[] = [];
  try {
    const { address } = await lookup(server.host);
    results.push(pass('remote.host', `CUPM server ${server.host}`, `resolves to ${address}`));
  } catch (error) {
    results.push(
      fail(
        'remote.host',
        `CUPM server ${server.host}`,
        `not found (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`,
        "check CUPM_SERVER (or use its IP address) and this host's DNS settings",
      ),
    );
    return results;
  }
  const ports = options.ports ?? { smb: 445, rpc: 135 };
  const probe = remoteProbe(server.host);
  const smb = await probe.bind(ports.smb);
  results.push(
    smb === 'in-use'
      ? pass('remote.smb', `SMB (TCP ${ports.smb}) on ${server.host}`, 'accepts connections')
      : fail(
          'remote.smb',
          `SMB (TCP ${ports.smb}) on ${server.host}`,
          smb === 'free' ? 'refused' : 'no answer',
          `files on the share and service control need it: check that the Server service runs on ${server.host} and that a firewall lets this host reach TCP ${ports.smb}`,
        ),
  );
  if (config.serviceManager === 'windows') {
    const rpc = await probe.bind(ports.rpc);
    results.push(
      rpc === 'in-use'
        ? pass('remote.rpc', `RPC (TCP ${ports.rpc}) on ${server.host}`, 'accepts connections')
        : warn(
            'remote.rpc',
            `RPC (TCP ${ports.rpc}) on ${server.host}`,
            rpc === 'free' ? 'refused' : 'no answer',
            `sc.exe \\\\${server.host} and reg.exe (Remote Registry) may need it: let this host reach TCP ${ports.rpc}`,
          ),
    );
  }
  if (config.installDir !== undefined) results.push(await installDirCheck(config.installDir, config.platform, server.host));
  return results;
}

async function installDirCheck(installDir: string, platform: NodeJS.Platform, host: string): Promise<CheckResult> {
  const id = 'remote.install-dir';
  const title = `Install dir on ${host}'s share`;
  if (platform !== 'win32' && looksLikeWindowsPath(installDir)) {
    return fail(
      id,
      title,
      `${installDir} is a Windows path; this host reaches the server's files through a mounted share`,
      `mount \\\\${host}\\C$ (e.g. with smbnetfs or mount.cifs) and set CUPM_INSTALL_DIR to the CUPM folder in it`,
    );
  }
  if (platform === 'linux') {
    const fsType = await fileSystemOf(installDir);
    if (fsType !== undefined && !isShareFileSystem(fsType)) {
      return fail(
        id,
        title,
        `${installDir} is on this host's own disk (${fsType}), not on a mounted share of ${host}: the share is not mounted, or CUPM_INSTALL_DIR points at a local copy`,
        `mount \\\\${host}\\C$ and set CUPM_INSTALL_DIR to the CUPM folder in it; a local folder of the same name is never used in its place`,
      );
    }
  }
  const probe = path.join(installDir, `.cupm-backup-doctor-${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    await fsp.readdir(installDir);
    await fsp.writeFile(probe, 'cupm-backup doctor\n', { flag: 'wx' });
    await fsp.rm(probe);
    return pass(id, title, `${installDir} is readable and writable`);
  } catch (error) {
    await fsp.rm(probe, { force: true }).catch(() => {});
    return fail(
      id,
      title,
      `${installDir}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
      `the server account needs read and write rights on the share (\\\\${host}\\C$ is for administrators)`,
    );
  }
}
