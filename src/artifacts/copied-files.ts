import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { CupmFile, CupmFileRole } from './cupm-files.js';
import { isDirectory, isReadableFile } from '../file-system.js';

/** The five files a manual backup copies, relative to the install dir; `*` is the JBoss folder. */
const WANTED: Array<[CupmFileRole, string]> = [
  ['installLog', 'install.log'],
  ['dfcProperties', 'sep/dfc.properties'],
  ['dfcKeystore', 'sep/dfc.keystore'],
  ['loginConfig', '*/server/cupm/conf/login-config.xml'],
  ['dfcDs', '*/server/cupm/deploy/dfc-ds.xml'],
];

/** What a folder of copied CUPM files holds. */
export interface CopiedFiles {
  /** Found files; relativePath is the install-dir path the archive records (fixed parts in CUPM's spelling). */
  found: CupmFile[];
  /** Install-dir paths of the files not found (the JBoss folder as found, or `EnterprisePlatform-*`). */
  missing: string[];
  /** The JBoss folder's name as found, or undefined. */
  jbossFolder: string | undefined;
}

/**
 * Finds the five CUPM files in a folder that holds them in their install-dir layout (a manual
 * backup: `DIR/sep/dfc.properties`, `DIR/EnterprisePlatform-.../server/cupm/deploy/dfc-ds.xml`).
 * Names match case-insensitively, as they did on the Windows server they were copied from. The
 * JBoss folder is found, not assumed: the top-level folder holding server/cupm.
 */
export function locateCopiedFiles(dir: string): CopiedFiles {
  if (!isDirectory(dir)) {
    throw new ConfigError(`The folder of copied CUPM files ${dir} does not exist or is not a folder.`, {
      state: 'nothing was written',
      hint: 'give --files the folder that holds install.log, sep\\ and the EnterprisePlatform-... folder',
    });
  }
  const jbossFolder = findCopiedJbossFolder(dir);
  const found: CupmFile[] = [];
  const missing: string[] = [];
  for (const [role, pattern] of WANTED) {
    const relativePath = pattern.replace('*', jbossFolder ?? 'EnterprisePlatform-*');
    const absolutePath =
      jbossFolder === undefined && pattern.startsWith('*') ? undefined : resolveCaseInsensitive(dir, relativePath.split('/'));
    if (absolutePath && isReadableFile(absolutePath)) found.push({ role, relativePath, absolutePath });
    else missing.push(relativePath);
  }
  return { found, missing, jbossFolder };
}

/** The top-level folder holding server/cupm (dfc-ds.xml preferred, else login-config.xml). */
function findCopiedJbossFolder(dir: string): string | undefined {
  const folders = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  for (const file of ['deploy/dfc-ds.xml', 'conf/login-config.xml']) {
    const candidates = folders
      .filter((name) => resolveCaseInsensitive(dir, [name, 'server', 'cupm', ...file.split('/')]) !== undefined)
      .sort();
    if (candidates.length === 1) return candidates[0];
    if (candidates.length > 1) {
      const platform = candidates.filter((name) => name.toLowerCase().startsWith('enterpriseplatform-'));
      if (platform.length === 1) return platform[0];
      throw new ConfigError(`More than one folder under ${dir} holds server/cupm/${file}; the tool does not guess which is CUPM's:`, {
        problems: candidates,
        state: 'nothing was written',
        hint: 'remove the stale copy from the folder, then run again',
      });
    }
  }
  return undefined;
}

/** The path of `parts` under `dir`, each part matched exactly or else case-insensitively (when unique). */
function resolveCaseInsensitive(dir: string, parts: string[]): string | undefined {
  let current = dir;
  for (const part of parts) {
    const exact = path.join(current, part);
    if (fs.existsSync(exact)) {
      current = exact;
      continue;
    }
    let names: string[];
    try {
      names = fs.readdirSync(current);
    } catch {
      return undefined;
    }
    const matches = names.filter((name) => name.toLowerCase() === part.toLowerCase());
    if (matches.length !== 1) return undefined;
    current = path.join(current, matches[0]!);
  }
  return current;
}
