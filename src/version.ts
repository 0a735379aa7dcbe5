import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TOOL_NAME = 'cupm-backup';

const TOOL_INSTALLATION = findToolRoot(path.dirname(fileURLToPath(import.meta.url)));

/**
 * The folder this installation of cupm-backup lives in (a checkout or the npm package): the nearest
 * folder above this module that holds cupm-backup's package.json. Found by walking up rather than
 * by a fixed number of `..`, because this module runs from src/ (tsx), dist/ (the library) and
 * dist/command/builds/<build>/chunks/ (the bundled command) alike.
 */
export const TOOL_ROOT: string = TOOL_INSTALLATION.root;

/** This tool's version, from its package.json (read once, by the walk that found TOOL_ROOT). */
export const TOOL_VERSION: string = TOOL_INSTALLATION.pkg.version;

/** A file of this installation, e.g. toolFile('bin', 'cupm-backup'). */
export function toolFile(...parts: string[]): string {
  return path.join(TOOL_ROOT, ...parts);
}

interface ToolPackage {
  name?: string;
  version: string;
}

/** The installation's root folder and its parsed package.json (each package.json on the way read once). */
function findToolRoot(start: string): { root: string; pkg: ToolPackage } {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = readPackage(dir);
    if (pkg?.name === TOOL_NAME) return { root: dir, pkg };
    if (path.dirname(dir) === dir) throw new Error(`${TOOL_NAME}: no package.json of ${TOOL_NAME} above ${start}`);
  }
}

function readPackage(dir: string): ToolPackage | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as ToolPackage;
  } catch {
    return undefined;
  }
}
