import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { isDirectory, isReadableFile } from '../file-system.js';

/** The five CUPM files a backup carries (docs/cupm.md), by role. */
export type CupmFileRole = 'installLog' | 'dfcProperties' | 'dfcKeystore' | 'loginConfig' | 'dfcDs';

/** A CUPM file: its role, its path relative to the install dir ('/'-separated), and on disk. */
export interface CupmFile {
  role: CupmFileRole;
  relativePath: string;
  absolutePath: string;
}

/** JBoss folders are named after the platform release (EnterprisePlatform-4.2.0.GA_CP09 in 8.5). */
const JBOSS_SERVER = ['server', 'cupm'];
const DS_FILE = [...JBOSS_SERVER, 'deploy', 'dfc-ds.xml'];
const LOGIN_FILE = [...JBOSS_SERVER, 'conf', 'login-config.xml'];

/**
 * Finds the five files under the install dir. The JBoss folder is found, not assumed: the one
 * top-level folder holding server/cupm/deploy/dfc-ds.xml. Every missing file is reported at once
 * (exit 2), each by its full path.
 */
export function locateCupmFiles(installDir: string): CupmFile[] {
  if (!isDirectory(installDir)) {
    throw new ConfigError(`The CUPM install dir ${installDir} does not exist or is not a folder.`, {
      state: 'nothing was changed',
      hint: 'set CUPM_INSTALL_DIR to the folder CUPM is installed in (C:\\CUPM by default)',
    });
  }
  const jboss = findJbossFolder(installDir);
  const wanted: Array<[CupmFileRole, string]> = [
    ['installLog', 'install.log'],
    ['dfcProperties', 'sep/dfc.properties'],
    ['dfcKeystore', 'sep/dfc.keystore'],
    ['loginConfig', [jboss, ...LOGIN_FILE].join('/')],
    ['dfcDs', [jboss, ...DS_FILE].join('/')],
  ];
  const files = wanted.map(([role, relativePath]) => ({
    role,
    relativePath,
    absolutePath: path.join(installDir, ...relativePath.split('/')),
  }));
  const missing = files.filter((f) => !isReadableFile(f.absolutePath));
  if (missing.length > 0) {
    throw new ConfigError(`CUPM files are missing or unreadable under ${installDir}:`, {
      problems: missing.map((f) => f.absolutePath),
      state: 'nothing was changed',
      hint: 'check CUPM_INSTALL_DIR; a backup needs all five files',
    });
  }
  return files;
}

/** The name of the JBoss folder ('EnterprisePlatform-4.2.0.GA_CP09' on 8.5), or a placeholder when absent. */
export function findJbossFolder(installDir: string): string {
  const candidates = fs
    .readdirSync(installDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(installDir, d.name, ...DS_FILE)))
    .map((d) => d.name)
    .sort();
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    // Reported as missing files by the caller, under the name 8.5 uses.
    return 'EnterprisePlatform-*';
  }
  // Two JBoss trees (an interrupted upgrade?): prefer the one 8.5 uses, refuse to guess otherwise.
  const platform = candidates.filter((name) => name.startsWith('EnterprisePlatform-'));
  if (platform.length === 1) return platform[0]!;
  throw new ConfigError(`More than one JBoss folder under ${installDir} holds server/cupm/deploy/dfc-ds.xml:`, {
    problems: candidates,
    state: 'nothing was changed',
    hint: 'move the stale one out of the install dir, then run again',
  });
}

/** The file of a role, from a located set. */
export function fileOf(files: CupmFile[], role: CupmFileRole): CupmFile {
  const file = files.find((f) => f.role === role);
  if (!file) throw new Error(`no CUPM file with role ${role}`);
  return file;
}
