import { locateCupmFiles } from '../artifacts/cupm-files.js';
import type { Config } from '../config/config.js';
import { createServiceManager } from '../services/index.js';
import { ServiceNotFoundError, type ServiceManager } from '../services/service-manager.js';
import { fail, failFrom, pass, warn, type CheckResult } from './check.js';

/** The service that lets reg.exe on another machine read this one's registry. */
export const REMOTE_REGISTRY_SERVICE = 'RemoteRegistry';

/**
 * With CUPM_SERVER set (an admin host), beyond the channels of remoteChecks: the Remote Registry
 * service of the server where the `windows` driver needs it (it reads display names with
 * `reg.exe query \\HOST\HKLM\...`), and the five CUPM files on the share. Nothing when unset.
 */
export async function remoteServerChecks(config: Config, manager?: ServiceManager): Promise<CheckResult[]> {
  if (!config.server) return [];
  const results: CheckResult[] = [];
  if (config.serviceManager === 'windows') results.push(await remoteRegistryCheck(config, manager));
  if (config.installDir !== undefined) results.push(shareFilesCheck(config.installDir, config.server.host));
  return results;
}

/** RemoteRegistry on the server, asked through the service driver (`sc.exe \\HOST query RemoteRegistry`). */
export async function remoteRegistryCheck(config: Config, manager?: ServiceManager): Promise<CheckResult> {
  const host = config.server?.host ?? 'the server';
  const id = 'remote.remote-registry';
  const title = `Remote Registry on ${host}`;
  const why = `the windows driver reads the display names in CUPM_SERVICES (e.g. "cupm JBossService") from ${host}'s registry with reg.exe query \\\\${host}\\HKLM\\..., which needs it running`;
  const hint = `start it on ${host} (sc.exe \\\\${host} start ${REMOTE_REGISTRY_SERVICE}; sc.exe \\\\${host} config ${REMOTE_REGISTRY_SERVICE} start= auto keeps it on), or put the service (key) names in CUPM_SERVICES instead of display names`;
  let state;
  try {
    state = await (manager ?? createServiceManager(config)).status(REMOTE_REGISTRY_SERVICE);
  } catch (error) {
    if (error instanceof ServiceNotFoundError)
      return fail(id, title, `there is no ${REMOTE_REGISTRY_SERVICE} service on ${host}: ${why}`, hint);
    return failFrom(id, title, error, hint);
  }
  if (state === 'running') return pass(id, title, 'running (display names can be read from the registry)');
  return warn(
    id,
    title,
    `${state === 'stopped' ? 'stopped' : 'not running (pending or paused)'}: it must be running where CUPM_SERVICES names a service by its display name; ${why}`,
    hint,
  );
}

/** The five CUPM files (docs/cupm.md), read through the share. */
export function shareFilesCheck(installDir: string, host: string): CheckResult {
  const id = 'remote.files';
  const title = `The five CUPM files on ${host}'s share`;
  try {
    const files = locateCupmFiles(installDir);
    return pass(id, title, `present and readable under ${installDir}: ${files.map((f) => f.relativePath).join(', ')}`);
  } catch (error) {
    // Its own hint, not the local one of locateCupmFiles: here a missing file may be a share problem.
    return {
      ...failFrom(id, title, error),
      hint: `check that CUPM_INSTALL_DIR is the CUPM folder on the mounted share of ${host} (\\\\${host}\\C$\\CUPM) and that the server account may read it; restore missing files from an archive`,
    };
  }
}
