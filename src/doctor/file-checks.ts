import { locateCupmFiles, type CupmFile } from '../artifacts/cupm-files.js';
import { readCupmVersion } from '../artifacts/install-log.js';
import type { Config } from '../config/config.js';
import { failFrom, fail, pass, warn, type CheckResult } from './check.js';

/** What the file checks learned, for the checks that read the files further (hosts, ports). */
export interface FileFacts {
  files: CupmFile[] | undefined;
}

/** The install dir (no spaces), the five files present and readable, the version in install.log. */
export async function fileChecks(config: Config, facts: FileFacts): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const dir = config.installDir;
  if (dir === undefined) {
    return [fail('files.install-dir', 'CUPM install dir', 'CUPM_INSTALL_DIR is not set', 'set CUPM_INSTALL_DIR to the CUPM install folder (C:\\CUPM by default)')];
  }
  results.push(/\s/.test(dir)
    ? fail('files.install-path', 'Install dir path has no spaces', `${dir} has a space in it: the install guide forbids it (CUPM's scripts break on it)`, 'install CUPM into a folder without spaces, e.g. C:\\CUPM (not under Program Files)')
    : pass('files.install-path', 'Install dir path has no spaces', dir));
  try {
    facts.files = locateCupmFiles(dir);
    results.push(pass('files.present', 'The five CUPM files, present and readable', facts.files.map((f) => f.relativePath).join(', ')));
  } catch (error) {
    results.push(failFrom('files.present', 'The five CUPM files, present and readable', error, 'restore the missing files from an archive (cupm-backup restore), or reinstall CUPM'));
    return results;
  }
  const log = facts.files.find((f) => f.role === 'installLog')!;
  try {
    const version = readCupmVersion(log.absolutePath);
    results.push(version === null
      ? warn('files.version', 'CUPM version in install.log', `${log.absolutePath} does not say which version is installed`, 'archives record the version as unknown; restores then need --allow-version-mismatch')
      : pass('files.version', 'CUPM version in install.log', `CUPM ${version}`));
  } catch (error) {
    results.push(failFrom('files.version', 'CUPM version in install.log', error));
  }
  return results;
}
