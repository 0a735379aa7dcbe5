import fsp from 'node:fs/promises';
import type pg from 'pg';
import { RefusedError, messageOf } from '../errors.js';

/** What the free-disk check found. */
export interface DiskCheck {
  /** Bytes needed: twice the dump (the new database next to the previous one, plus slack). */
  needed: number;
  free: number | undefined;
  /** The folder whose disk was measured, or undefined when none could be. */
  where: string | undefined;
  note: string | undefined;
}

/**
 * Free disk for the restored database: at least twice the dump's size on the disk of PostgreSQL's
 * data directory, since the previous database stays until the new one works. Measurable only when
 * the server runs here; when its data directory cannot be read, the disk of `fallbackDir` is
 * measured and the check says so; when the server runs elsewhere it is not checked, and says so.
 */
export async function checkDisk(
  client: pg.Client,
  dumpSize: number,
  databaseIsLocal: boolean,
  fallbackDir: string,
  statfs: (dir: string) => Promise<{ bavail: number; bsize: number }> = (dir) => fsp.statfs(dir),
): Promise<DiskCheck> {
  const needed = 2 * dumpSize;
  if (!databaseIsLocal) {
    return {
      needed,
      free: undefined,
      where: undefined,
      note: `free disk not measured: PostgreSQL runs on another host and its data folder cannot be reached from here (it needs about ${needed} bytes free)`,
    };
  }
  let dataDir: string | undefined;
  let note: string | undefined;
  try {
    dataDir = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0]?.data_directory;
  } catch (error) {
    note = `the data directory could not be asked for (${messageOf(error)})`;
  }
  let where = dataDir;
  let free: number | undefined;
  if (dataDir) {
    try {
      const stat = await statfs(dataDir);
      free = stat.bavail * stat.bsize;
    } catch (error) {
      note = `the data directory ${dataDir} cannot be read here (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
    }
  }
  if (free === undefined) {
    where = fallbackDir;
    const stat = await statfs(fallbackDir);
    free = stat.bavail * stat.bsize;
    note = `${note}; measured the disk of ${fallbackDir} instead`;
  }
  if (free < needed) {
    throw new RefusedError(
      `Not enough free disk for the restore: ${free} bytes free on the disk of ${where}, ${needed} needed (twice the dump).`,
      {
        problems: note ? [note] : [],
        state: 'nothing was changed',
        hint: 'free some space (old archives, logs) on that disk, then run again',
      },
    );
  }
  return { needed, free, where, note };
}
