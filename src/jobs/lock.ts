import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RefusedError } from '../errors.js';

/** The lock file's name inside the backup dir: one job at a time per backup dir (per server). */
export const LOCK_FILE = 'cupm-backup.lock';

/** Who holds the lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

/** For tests: called when a run has judged the lock stale, before it takes it over (the racy moment). */
export interface LockOptions {
  beforeTakeover?: (holder: LockHolder | undefined) => Promise<void>;
}

/** Runs fn while holding the lock in `dir`; always releases it. Held by a live job: exit 4. */
export async function withLock<T>(dir: string, command: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const file = path.join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), command };
  await acquire(file, me, options);
  try {
    return await fn();
  } finally {
    await release(file, me);
  }
}

async function acquire(file: string, me: LockHolder, options: LockOptions): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const mine = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(file, mine, { flag: 'wx', mode: 0o600 });
      await removeDeadTickets(file);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const content = await readText(file);
    if (content === undefined) continue; // removed meanwhile: try again
    const holder = parseHolder(content);
    if (holder && !isStale(holder)) throw heldBy(holder, file);
    if (!holder && (await isFresh(file))) {
      // Another job has just created it and not yet written its name: it is taking the lock.
      throw new RefusedError(`Another cupm-backup job is taking the lock ${file} right now.`, {
        state: 'nothing was changed',
        hint: 'run again when it has finished',
      });
    }
    // Stale (its process is gone) or unreadable for a while (a crash while writing it): take it over.
    await options.beforeTakeover?.(holder);
    await takeOver(file, content, me);
  }
  throw new RefusedError(`Cannot take the lock ${file}: other jobs keep taking it.`, { state: 'nothing was changed' });
}

/**
 * Removes the stale lock whose text is `stale`, atomically among contenders: two runs after a
 * crash may both judge the same lock stale, and the one that comes second must not remove the
 * fresh lock of the first. Whoever creates the takeover file of this stale lock (exclusive
 * create) removes it; the others find that file and refuse while its creator lives. A takeover
 * file whose creator is gone (killed during the takeover) is passed over by the next generation.
 */
async function takeOver(file: string, stale: string, me: LockHolder): Promise<void> {
  const base = `${file}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
  for (let generation = 1; ; generation++) {
    const ticket = `${base}.${generation}`;
    try {
      await fs.writeFile(ticket, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const taker = parseHolder((await readText(ticket)) ?? '');
      // A live run is taking over (or its ticket is too new to have its name yet): it wins.
      if (taker ? !isStale(taker) : await isFresh(ticket)) {
        throw new RefusedError(
          `Another cupm-backup job is taking over the stale lock ${file} right now${taker ? ` (pid ${taker.pid} on ${taker.host})` : ''}.`,
          {
            state: 'nothing was changed',
            hint: 'run again when it has finished',
          },
        );
      }
      continue;
    }
    try {
      // Only a ticket holder removes a lock with this text, so it cannot change under us; when it
      // is no longer the stale one, an earlier taker replaced it: leave it to the next attempt.
      if ((await readText(file)) === stale) await fs.rm(file, { force: true });
    } finally {
      await removeTickets(file, base);
    }
    return;
  }
}

async function removeTickets(file: string, base: string): Promise<void> {
  const prefix = path.basename(base) + '.';
  for (const name of await fs.readdir(path.dirname(file)).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await fs.rm(path.join(path.dirname(file), name), { force: true });
  }
}

/** Tickets left by a taker killed during its takeover: garbage once we hold the lock. */
async function removeDeadTickets(file: string): Promise<void> {
  const prefix = `${path.basename(file)}.takeover-`;
  for (const name of await fs.readdir(path.dirname(file)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const ticket = path.join(path.dirname(file), name);
    const taker = parseHolder((await readText(ticket)) ?? '');
    if (taker ? isStale(taker) : !(await isFresh(ticket))) await fs.rm(ticket, { force: true });
  }
}

function heldBy(holder: LockHolder, file: string): RefusedError {
  return new RefusedError(
    `Another cupm-backup job is running: "${holder.command}", pid ${holder.pid} on ${holder.host}, since ${holder.startedAt}.`,
    {
      state: 'nothing was changed',
      // A lock whose process is gone is taken over by the next run on the same host: nothing
      // to delete by hand. Only another host's process cannot be seen from here.
      hint:
        holder.host === os.hostname()
          ? `wait for it to finish, then run again (pid ${holder.pid} is running now; a lock whose process is gone is taken over by the next run)`
          : `wait for it to finish, then run again; its process runs on ${holder.host} and cannot be checked from here: only if that job is gone for certain (the host went down), delete ${file}`,
    },
  );
}

async function release(file: string, me: LockHolder): Promise<void> {
  const holder = await readHolder(file);
  // Never remove a lock that is no longer ours (someone judged ours stale and took over).
  if (holder && holder.pid === me.pid && holder.host === me.host && holder.startedAt === me.startedAt) {
    await fs.rm(file, { force: true });
  }
}

/** The holder recorded in a lock file, or undefined when it cannot be read. */
export async function readHolder(file: string): Promise<LockHolder | undefined> {
  const content = await readText(file);
  return content === undefined ? undefined : parseHolder(content);
}

function parseHolder(content: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(content) as LockHolder;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' ? holder : undefined;
  } catch {
    return undefined;
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function isFresh(file: string): Promise<boolean> {
  try {
    return Date.now() - (await fs.stat(file)).mtimeMs < 10_000;
  } catch {
    return false;
  }
}

/** A lock is stale when it was taken on this host by a process that no longer exists. */
function isStale(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
