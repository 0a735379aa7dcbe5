import pg from 'pg';
import { JobFailedError, messageOf } from '../errors.js';
import { describeSession, otherSessions } from '../pg/catalog.js';
import type { PgVersion } from '../pg/connection.js';

/** How long a rename or drop keeps trying while sessions come back (a pool reconnecting). */
const BUSY_RETRY_MS = 15_000;

export const ident = (name: string) => pg.Client.prototype.escapeIdentifier(name);
export const literal = (text: string) => pg.Client.prototype.escapeLiteral(text);

/** The name a database is moved aside to: `cupm__previous_20261125020000` (at most 63 bytes). */
export function previousName(database: string, stamp: string): string {
  return suffixedName(database, `__previous_${stamp}`);
}

/** The name a live restore loads a database under: `cupm__incoming_20261125020000` (at most 63 bytes). */
export function incomingName(database: string, stamp: string): string {
  return suffixedName(database, `__incoming_${stamp}`);
}

function suffixedName(database: string, suffix: string): string {
  let base = database;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

/** A UTC stamp for names: 20261125020000. */
export function nameStamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length > 0;
}

/**
 * Ends every other session on `database` (pg_terminate_backend, PostgreSQL 8.4+). On 8.2/8.3,
 * which cannot end sessions, the sessions are left and the rename or drop that follows names them.
 */
export async function endSessions(client: pg.Client, version: PgVersion, database: string): Promise<number> {
  if (version.num < 80400) return 0;
  const pid = version.num >= 90200 ? 'pid' : 'procpid';
  const { rows } = await client.query(
    `SELECT pg_terminate_backend(${pid}) AS ended FROM pg_stat_activity WHERE datname = $1 AND ${pid} <> pg_backend_pid()`,
    [database],
  );
  return rows.length;
}

/** Ends the sessions of `role` on any database (stale pool connections after a restore). */
export async function endRoleSessions(client: pg.Client, version: PgVersion, role: string): Promise<number> {
  if (version.num < 80400) return 0;
  const pid = version.num >= 90200 ? 'pid' : 'procpid';
  const { rows } = await client.query(
    `SELECT pg_terminate_backend(${pid}) FROM pg_stat_activity WHERE usename = $1 AND ${pid} <> pg_backend_pid()`,
    [role],
  );
  return rows.length;
}

/** ALTER DATABASE from RENAME TO to, ending sessions first and retrying while they come back. */
export async function renameDatabase(client: pg.Client, version: PgVersion, from: string, to: string): Promise<void> {
  await whileBusy(client, version, from, () => client.query(`ALTER DATABASE ${ident(from)} RENAME TO ${ident(to)}`));
}

/** Drops a database the restore created, even one the dump marked as a template. */
export async function dropDatabase(client: pg.Client, version: PgVersion, name: string): Promise<void> {
  if (!(await databaseExists(client, name))) return;
  // pg_dump marks template databases with datistemplate = true, and a template cannot be dropped.
  await client.query('UPDATE pg_catalog.pg_database SET datistemplate = false WHERE datname = $1 AND datistemplate', [name]);
  await whileBusy(client, version, name, () => client.query(`DROP DATABASE ${ident(name)}`));
}

/** Runs `action` on `database`, ending its sessions first; retries while it is "being accessed by other users". */
async function whileBusy(client: pg.Client, version: PgVersion, database: string, action: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + BUSY_RETRY_MS;
  for (;;) {
    await endSessions(client, version, database);
    try {
      await action();
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || Date.now() >= deadline) {
        if ((error as { code?: string }).code === '55006') {
          const sessions = await otherSessions(client, version, database).catch(() => []);
          throw new JobFailedError(`The database "${database}" is still in use: ${messageOf(error)}.`, {
            problems: sessions.map(describeSession),
            hint: 'stop the programs named above (PostgreSQL before 8.4 cannot end sessions itself), then run again',
          });
        }
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}
