import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ARCHIVE_PREFIX } from '../archive/format.js';
import { formatBytes } from '../format/units.js';
import { RefusedError } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';

/**
 * The spool of a backup: while the services are down, pg_dumpall writes into this file at its
 * own speed, and the archive writer follows it as it grows; the services come back as soon as
 * the dump is complete. It holds the whole dump in plain text (password hashes included), so it
 * is owner-only, lives next to the archive, and is removed on every way out of the run; one
 * left by a killed run is removed by the next.
 */
export const SPOOL_SUFFIX = '.spool';

/** The spool of the archive `archivePath` (`<archive>.spool`, in the backup folder). */
export function spoolPathFor(archivePath: string): string {
  return archivePath + SPOOL_SUFFIX;
}

/** True for a spool file name of ours. */
export function isSpoolName(name: string): boolean {
  return name.startsWith(ARCHIVE_PREFIX) && name.endsWith(SPOOL_SUFFIX);
}

/** Removes spools left by a killed run (we hold the lock: no other job is writing them). */
export async function removeStaleSpools(dir: string, reporter: Reporter): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (!isSpoolName(name)) continue;
    reporter.warn(`Removing ${name}, the dump spool of an interrupted backup (that backup was lost; it holds password hashes)`);
    await fsp.rm(path.join(dir, name), { force: true });
  }
}

/** How the dump goes into the archive: through a spool (services back early) or streamed. */
export type DumpRoute = { spool: true } | { spool: false; why: string };

/**
 * Chooses the route before any service stops, from the free space of the backup folder's disk:
 * a spool needs room for the dump and the archive at once. Without room for the spool the dump
 * is streamed (services stay down until the archive is written); without room even for the
 * archive, refused (exit 4), naming both figures.
 */
export async function chooseDumpRoute(
  dir: string,
  estimate: { dumpBytes: number; archiveBytes: number },
  noStop: boolean,
  statfs: (dir: string) => Promise<{ bavail: number; bsize: number }> = (d) => fsp.statfs(d),
): Promise<DumpRoute> {
  const stat = await statfs(dir);
  const free = stat.bavail * stat.bsize;
  const figures = `spool (the dump) about ${formatBytes(estimate.dumpBytes)}, archive about ${formatBytes(estimate.archiveBytes)}, ${formatBytes(free)} free on the disk of ${dir}`;
  if (free < estimate.archiveBytes) {
    throw new RefusedError(`Not enough free disk for the backup: ${figures}.`, {
      state: 'nothing was changed; no service was stopped',
      hint: 'free some space in the backup folder (cupm-backup prune, old logs) or choose another one (--output-dir), then run again',
    });
  }
  if (noStop) return { spool: false, why: 'the services are not stopped (--no-stop): the dump is streamed into the archive' };
  if (free < estimate.dumpBytes + estimate.archiveBytes) {
    return {
      spool: false,
      why: `no room for a dump spool (${figures}): the dump is streamed into the archive, and the services stay stopped until it is written`,
    };
  }
  return { spool: true };
}

/**
 * Reads `file` from its start as it grows, like `tail -f`: to its end, then waits for it to grow
 * (inotify through fs.watch, with a slow timer in case an event is missed) or for `done` (the
 * writer exited). After `done` resolves it reads to the end once more and ends; when `done`
 * rejects, the stream fails with that error.
 */
export function followSpool(file: string, done: Promise<unknown>): Readable {
  const CHUNK = 1024 * 1024;
  let finished: { ok: boolean; error?: unknown } | undefined;
  let grew = false;
  let wake: (() => void) | undefined;
  const nudge = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  done
    .then(
      () => (finished = { ok: true }),
      (error: unknown) => (finished = { ok: false, error }),
    )
    .finally(nudge);
  async function* chunks(): AsyncGenerator<Buffer> {
    const handle = await fsp.open(file, 'r');
    const watcher = fs.watch(file, () => {
      grew = true;
      nudge();
    });
    watcher.on('error', () => {}); // the timer below still wakes us
    try {
      let position = 0;
      for (;;) {
        grew = false;
        const ended = finished;
        const buffer = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
        if (bytesRead > 0) {
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
          continue;
        }
        // At the end: read once more after the writer's exit was seen, then stop.
        if (ended) {
          if (!ended.ok) throw ended.error;
          return;
        }
        if (finished || grew) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      watcher.close();
      await handle.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** The last `bytes` bytes of `file` (for the dump's trailer). */
export async function fileTail(file: string, bytes: number): Promise<Buffer> {
  const handle = await fsp.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer;
  } finally {
    await handle.close();
  }
}
