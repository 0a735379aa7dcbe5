import type pg from 'pg';
import type { PgVersion } from './connection.js';

/** Databases a pg_dumpall carries (every connectable one but template0). */
/**
 * Which databases a backup dumps: CUPM's application database, the ones CUPM_EXTRA_DATABASES
 * names, and the built-in ones pg_dumpall always writes; every other database of the cluster
 * (a `<db>__previous_<stamp>` left by restore --keep-previous, another application's) is left out.
 */
export function databasesToDump(
  all: readonly string[],
  application: string,
  extra: readonly string[],
): { keep: string[]; excluded: string[] } {
  const wanted = new Set([application, ...extra, 'postgres', 'template1']);
  return { keep: all.filter((d) => wanted.has(d)), excluded: all.filter((d) => !wanted.has(d)) };
}

/** A database restore --keep-previous left: `<db>__previous_<yyyymmddhhmmss>` (restore/databases.ts). */
export function isPreviousDatabase(name: string): boolean {
  return /__previous_\d{14}$/.test(name);
}

export async function listDatabases(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datallowconn AND datname <> $1 ORDER BY datname',
    ['template0'],
  );
  return rows.map((r) => r.datname);
}

/** Bytes on disk of each connectable database: what sizes a dump of some of them before it is taken. */
export async function databaseSizes(client: pg.Client): Promise<Map<string, number>> {
  const { rows } = await client.query<{ datname: string; bytes: string }>(
    'SELECT datname, pg_database_size(datname)::text AS bytes FROM pg_database WHERE datallowconn AND datname <> $1',
    ['template0'],
  );
  return new Map(rows.map((r) => [r.datname, Number(r.bytes)]));
}

/** Roles of the cluster (pg_roles exists since 8.1; internal pg_* roles are not dumped). */
export async function listRoles(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname");
  return rows.map((r) => r.rolname);
}

/** A session on the application database other than ours. */
export interface Session {
  pid: number;
  user: string | null;
  clientAddress: string | null;
  application: string | null;
  state: string | null;
}

/**
 * Whether this server's autovacuum gathers planner statistics by itself: it runs and has the row
 * counts it needs (track_counts from 8.3; stats_start_collector and stats_row_level on 8.2, where
 * all of it is off by default).
 */
export async function autovacuumAnalyzes(client: pg.Client, version: PgVersion): Promise<boolean> {
  const needed = version.num >= 80300 ? ['autovacuum', 'track_counts'] : ['autovacuum', 'stats_start_collector', 'stats_row_level'];
  // Our own constant names, spliced as literals: an array parameter's type is guessed differently by 8.2.
  const { rows } = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN (${needed.map((n) => `'${n}'`).join(', ')})`,
  );
  return needed.every((name) => rows.some((r) => r.name === name && r.setting === 'on'));
}

/** Client sessions on `database` other than the caller's own (not autovacuum), in any server version from 8.2 on. */
export async function otherSessions(client: pg.Client, version: PgVersion, database: string): Promise<Session[]> {
  // 8.2-9.1 name the pid column procpid; application_name arrived in 9.0, state in 9.2.
  const pid = version.num >= 90200 ? 'pid' : 'procpid';
  const application = version.num >= 90000 ? 'application_name' : 'NULL::text';
  const state = version.num >= 90200 ? 'state' : 'NULL::text';
  // Autovacuum workers show up on the database too; they are the server's own, not a client's.
  const clientsOnly =
    version.num >= 100000
      ? "AND backend_type = 'client backend'"
      : `AND coalesce(${version.num >= 90200 ? 'query' : 'current_query'}, '') NOT LIKE 'autovacuum:%'`;
  const { rows } = await client.query<{
    pid: number;
    usename: string | null;
    client_addr: string | null;
    application: string | null;
    state: string | null;
  }>(
    `SELECT ${pid} AS pid, usename, host(client_addr) AS client_addr, ${application} AS application, ${state} AS state
       FROM pg_stat_activity
      WHERE datname = $1 AND ${pid} <> pg_backend_pid() ${clientsOnly}
      ORDER BY ${pid}`,
    [database],
  );
  return rows.map((r) => ({
    pid: r.pid,
    user: r.usename,
    clientAddress: r.client_addr,
    application: r.application === '' ? null : r.application,
    state: r.state,
  }));
}

/** "pid 123: user cupm from 10.0.0.5, application JBoss (idle)" */
export function describeSession(s: Session): string {
  const from = s.clientAddress ? `from ${s.clientAddress}` : 'over a local socket';
  const app = s.application ? `, application "${s.application}"` : '';
  const state = s.state ? ` (${s.state})` : '';
  return `pid ${s.pid}: user "${s.user ?? '?'}" ${from}${app}${state}`;
}
