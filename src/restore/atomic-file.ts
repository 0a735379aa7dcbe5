import fsp from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { tempNameFor } from '../file-system.js';

/**
 * The restore's preflight of a CUPM file: proves that `file` can be written the way
 * writeFileAtomic (src/file-system.ts) writes it: a temp file is created beside it and removed.
 * Returns why not (the error), or undefined when it can.
 */
export async function writableProblem(file: string): Promise<string | undefined> {
  const temp = tempNameFor(file);
  try {
    await (await fsp.open(temp, 'wx', 0o600)).close();
  } catch (error) {
    return `${file}: cannot create a file in ${path.dirname(file)} (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
  }
  try {
    await fsp.rm(temp);
  } catch (error) {
    return `${file}: cannot remove a file in ${path.dirname(file)} (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
  }
  return undefined;
}
