import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TOOL_NAME = 'cupm-backup';

/**
 * The folder this installation of cupm-backup lives in (a checkout or the npm package): the nearest
 * folder above this module that holds cupm-backup's package.json. Found by walking up rather than
 * by a fixed number of `..`, because this module runs from src/ (tsx), dist/ (the library) and
 * dist/command/chunks/ (the bundled command) alike.
 */
export const TOOL_ROOT: string = findToolRoot(path.dirname(fileURLToPath(import.meta.url)));

/** This tool's version, from its package.json. */
export const TOOL_VERSION: string = readPackage(TOOL_ROOT)!.version;

/** A file of this installation, e.g. toolFile('bin', 'cupm-backup'). */
export function toolFile(...parts: string[]): string {
  return path.join(TOOL_ROOT, ...parts);
}

function findToolRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (readPackage(dir)?.name === TOOL_NAME) return dir;
    if (path.dirname(dir) === dir) throw new Error(`${TOOL_NAME}: no package.json of ${TOOL_NAME} above ${start}`);
  }
}

function readPackage(dir: string): { name?: string; version: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
  } catch {
    return undefined;
  }
}
