import os from 'node:os';
import type pg from 'pg';
import { CupmError, RefusedError, messageOf } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import { connectionInfo, serverVersion, withClient, type PgSettings } from './connection.js';

/**
 * One job per CUPM server, wherever it runs from: a PostgreSQL advisory lock on a fixed key, held
 * by a session of its own for the whole job (pg_try_advisory_lock, PostgreSQL 8.2+). Two backup
 * folders, two hosts, a backup and a restore: whichever comes second is refused (exit 4), named
 * by the holder's session in pg_stat_activity. The session's application_name (9.0+) carries the
 * holder: host, pid, command, start; on 8.2 the refusal names the holder's address and login time.
 */
// "cupd" and "lock" as two 32-bit halves: pg_locks shows them as classid and objid (objsubid 1).
const KEY_HIGH = 0x63757064;
const KEY_LOW = 0x6c6f636b;
const KEY = ((BigInt(KEY_HIGH) << 32n) | BigInt(KEY_LOW)).toString();
const NAME_PREFIX = 'cupm-backup';

/** Who holds the server lock, as read from pg_stat_activity. */
export interface ServerLockHolder {
  pid: number;
  /** The holder's own words (command, pid and host of the tool, start), or null on 8.2. */
  applicationName: string | null;
  clientAddress: string | null;
  backendStart: string | null;
}

/** A held server lock: released at the end of the job; re-taken when PostgreSQL restarted under it. */
export interface ServerLock {
  /** True while our session holds the lock (false between a server restart and the re-take). */
  readonly held: boolean;
  /** Waits until the lock is held again after a restart of PostgreSQL (up to timeoutMs). */
  ensureHeld(timeoutMs?: number): Promise<boolean>;
  release(): Promise<void>;
}

/** The session name naming this job (at most 63 bytes: PostgreSQL cuts application_name there). */
export function holderName(command: string, startedAt: Date, pid = process.pid, host = os.hostname()): string {
  const word = command.split(/\s+/)[0] ?? command;
  const stamp = startedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const head = `${NAME_PREFIX} ${word} ${pid}@`;
  const tail = ` ${stamp}`;
  const safeHost = host.replace(/[^\x20-\x7e]/g, '?').slice(0, Math.max(1, 63 - head.length - tail.length));
  return `${head}${safeHost}${tail}`;
}

/** "backup, pid 123 on host-a since 2026-12-04T14:40:00Z" from a holder's session name. */
export function describeServerLockHolder(holder: ServerLockHolder): string {
  const match = holder.applicationName ? /^cupm-backup (\S+) (\d+)@(.*) (\d{8}T\d{6}Z)$/.exec(holder.applicationName) : null;
  if (match) {
    const [, command, pid, host, stamp] = match;
    const iso = `${stamp!.slice(0, 4)}-${stamp!.slice(4, 6)}-${stamp!.slice(6, 8)}T${stamp!.slice(9, 11)}:${stamp!.slice(11, 13)}:${stamp!.slice(13, 15)}Z`;
    return `"${command}", pid ${pid} on ${host}, since ${iso}`;
  }
  const from = holder.clientAddress ? `from ${holder.clientAddress}` : 'from a local socket';
  return `a cupm-backup session (server pid ${holder.pid}) ${from}${holder.backendStart ? `, connected since ${holder.backendStart}` : ''}`;
}

/**
 * Takes the server lock for `command`. Held by another job: exit 4 naming it. PostgreSQL not
 * reachable: `undefined` is returned after a warning (the job goes on under the folder lock; it
 * fails on its own where it needs the database) and the lock is taken as soon as PostgreSQL
 * answers. A login that is refused is a configuration error and is thrown.
 */
export async function takeServerLock(config: PgSettings, command: string, reporter: Reporter): Promise<ServerLock> {
  const name = holderName(command, new Date());
  const info = connectionInfo(config);
  let session: Session | undefined;
  let released = false;
  let retaking: Promise<void> | undefined;
  let lostTo: string | undefined;

  const open = async (): Promise<Session> => {
    const opened = await openSession(config);
    try {
      await nameLockSession(opened.client, name);
      const { rows } = await opened.client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${KEY}) AS ok`);
      if (rows[0]?.ok) return opened;
      const holder = await readHolder(opened.client);
      throw new RefusedError(
        `Another cupm-backup job is working on the PostgreSQL server ${info.host}:${info.port}: ${holder ? describeServerLockHolder(holder) : 'its session ended just now'}.`,
        {
          state: 'nothing was changed; no service was stopped',
          hint: 'only one job (backup, nightly, restore, migrate) runs per CUPM server, whichever host or backup folder it runs from: wait for it to finish, then run again',
        },
      );
    } catch (error) {
      await opened.close();
      throw error;
    }
  };

  const retakeSoon = () => {
    if (released || retaking) return;
    session = undefined;
    retaking = (async () => {
      for (let delay = 500; !released; delay = Math.min(delay * 2, 5000)) {
        try {
          session = await open();
          session.ended.then(retakeSoon, retakeSoon);
          lostTo = undefined;
          reporter.info(`PostgreSQL at ${info.host}:${info.port} answers: the server lock is held again`);
          return;
        } catch (error) {
          if (error instanceof RefusedError && lostTo === undefined) {
            lostTo = error.message;
            reporter.warn(`The server lock was lost while PostgreSQL restarted: ${error.message}`);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    })().finally(() => {
      retaking = undefined;
    });
  };

  try {
    session = await open();
    session.ended.then(retakeSoon, retakeSoon);
  } catch (error) {
    if (error instanceof RefusedError || !isUnreachable(error)) throw error;
    reporter.warn(
      `PostgreSQL at ${info.host}:${info.port} does not answer (${messageOf(error).split('\n')[0]}): one job per server is ensured by the backup folder's lock only until it answers; the server lock is taken then`,
    );
    retakeSoon();
  }

  return {
    get held() {
      return session !== undefined;
    },
    async ensureHeld(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!session && !released && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      return session !== undefined;
    },
    async release() {
      released = true;
      await retaking?.catch(() => {});
      const current = session;
      session = undefined;
      // Closing the session releases the advisory lock with it.
      await current?.close();
    },
  };
}

interface Session {
  client: pg.Client;
  /** Settles when the connection ends (a server restart, or our close). */
  ended: Promise<void>;
  close(): Promise<void>;
}

/** An admin session to the postgres database, open until close(): the existing client, held. */
function openSession(config: PgSettings): Promise<Session> {
  return new Promise((resolve, reject) => {
    let close!: () => void;
    const closed = new Promise<void>((r) => (close = r));
    let opened = false;
    const done = withClient(config, 'postgres', async (client) => {
      opened = true;
      const ended = new Promise<void>((r) => client.once('end', () => r()));
      resolve({
        client,
        ended,
        close: async () => {
          close();
          await done.catch(() => {});
        },
      });
      await Promise.race([closed, ended]);
    });
    done.catch((error: unknown) => {
      if (!opened) reject(error);
    });
  });
}

async function nameLockSession(client: pg.Client, name: string): Promise<void> {
  const version = await serverVersion(client);
  if (version.num >= 90000) await client.query('SELECT set_config($1, $2, false)', ['application_name', name]);
}

async function readHolder(client: pg.Client): Promise<ServerLockHolder | undefined> {
  const version = await serverVersion(client);
  const pid = version.num >= 90200 ? 'pid' : 'procpid';
  const application = version.num >= 90000 ? 'a.application_name' : 'NULL::text';
  const { rows } = await client.query<{
    pid: number;
    application: string | null;
    client_addr: string | null;
    backend_start: string | null;
  }>(
    `SELECT a.${pid} AS pid, ${application} AS application, host(a.client_addr) AS client_addr, a.backend_start::text AS backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.${pid} = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ${KEY_HIGH} AND l.objid = ${KEY_LOW} AND l.objsubid = 1`,
  );
  const row = rows[0];
  return row
    ? { pid: row.pid, applicationName: row.application || null, clientAddress: row.client_addr, backendStart: row.backend_start }
    : undefined;
}

/** A server that does not answer (down, restarting), as opposed to one that refuses our login. */
function isUnreachable(error: unknown): boolean {
  if (error instanceof CupmError)
    return error.exitCode === 1 && /not reachable|Cannot connect/.test(error.message) && !/password|pg_hba/.test(error.message);
  return false;
}
