import fs from 'node:fs';
import pg from 'pg';
// pg's own pgpass fallback is deprecated and reads only process.env; this helper takes our settings.
import pgpassHelper from 'pgpass/lib/helper.js';
import { ConfigError, JobFailedError, messageOf } from '../errors.js';

/** The PostgreSQL admin connection, in libpq's terms. Unset fields fall back to libpq defaults. */
export interface PgConnection {
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  password?: string | undefined;
  /** The env file PGPASSWORD was read from, when it came from one: named when the login fails. */
  passwordFile?: string | undefined;
  passfile?: string | undefined;
}

/** What the PostgreSQL layer needs of the configuration: how to reach the server. */
export interface PgSettings {
  pg: PgConnection;
}

/**
 * The effective admin connection. Unset values default to what a CUPM server uses (the admin
 * `postgres` on localhost:5432), the same for our `pg` client and for libpq children, so both
 * always talk to the same server as the same user.
 */
export interface ConnectionInfo {
  host: string;
  port: number;
  user: string;
}

export function connectionInfo(config: PgSettings): ConnectionInfo {
  return {
    host: config.pg.host ?? 'localhost',
    port: config.pg.port ?? 5432,
    user: config.pg.user ?? 'postgres',
  };
}

/**
 * The environment for pg_dumpall/psql: connection and password travel here, never in argv
 * (argv is world-readable in /proc and in Windows' process list).
 */
export function childEnv(config: PgSettings): Record<string, string> {
  const info = connectionInfo(config);
  const env: Record<string, string> = {
    PGHOST: info.host,
    PGPORT: String(info.port),
    PGUSER: info.user,
    // Stop libpq prompting in a scheduled task: a missing password must fail, not hang.
    PGCONNECT_TIMEOUT: '15',
  };
  if (config.pg.password !== undefined) env.PGPASSWORD = config.pg.password;
  if (config.pg.passfile !== undefined) env.PGPASSFILE = config.pg.passfile;
  return env;
}

/** Looks the password up in the pgpass file libpq would use, for our own `pg` client. */
function passwordFromPgpass(config: PgSettings, database: string): Promise<string | undefined> {
  const info = connectionInfo(config);
  const file = pgpassHelper.getFileName(config.pg.passfile ? { PGPASSFILE: config.pg.passfile } : process.env);
  return new Promise((resolve) => {
    fs.stat(file, (error, stat) => {
      if (error || !pgpassHelper.usePgPass(stat, file)) return resolve(undefined);
      pgpassHelper.getPassword(
        { host: info.host, port: info.port, database, user: info.user },
        fs.createReadStream(file),
        (password?: string) => resolve(password),
      );
    });
  });
}

/** Opens an admin connection to `database`, runs fn, always closes. Connection errors are explained. */
export async function withClient<T>(config: PgSettings, database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const info = connectionInfo(config);
  const client = new pg.Client({
    ...info,
    database,
    password: async () => config.pg.password ?? (await passwordFromPgpass(config, database)) ?? '',
    // No application_name in the startup packet: servers before 9.0 (CUPM's 8.2) refuse a login
    // that sends it, and node-postgres does not retry without it as libpq does. Set after login.
    connectionTimeoutMillis: 15_000,
  });
  // An idle client that loses its server (a restart during restore) emits 'error'; never crash on it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw explainConnectionError(error, info, database, config.pg.passwordFile);
  }
  try {
    await nameSession(client);
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Names our session in pg_stat_activity where the server knows application names (9.0+). */
async function nameSession(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
  if (Number(rows[0]?.num) >= 90000) await client.query("SET application_name = 'cupm-backup'");
}

/** Turns a failed connect into an error that names the cause and the setting to fix. */
export function explainConnectionError(error: unknown, info: ConnectionInfo, database: string, passwordFile?: string) {
  const target = `PostgreSQL at ${info.host}:${info.port} (user "${info.user}", database "${database}")`;
  const code = (error as { code?: string }).code;
  const state = 'nothing was changed';
  if (code === '28P01' || /password authentication failed/i.test(messageOf(error))) {
    return new ConfigError(
      `Cannot log in to ${target}: the password was refused.${passwordFile ? ` The password came from PGPASSWORD in ${passwordFile}.` : ''}`,
      {
        state,
        hint: passwordFile
          ? `check PGPASSWORD in ${passwordFile}: unquoted, a value ends at the first "#" (the rest is a comment); write it in single quotes, PGPASSWORD='the#password' (README "The env file")`
          : 'set PGPASSWORD (or a pgpass entry) to the admin password of this server',
        cause: error,
      },
    );
  }
  const hba = /no pg_hba\.conf entry for host "([^"]+)", user "([^"]+)", database "([^"]+)"/.exec(messageOf(error));
  if (hba) {
    const [, client, user] = hba;
    const line = `host    all    ${user}    ${client}/${client!.includes(':') ? 128 : 32}    md5`;
    return new ConfigError(`${target} refused this host (${client}): pg_hba.conf has no line that lets "${user}" in from it.`, {
      state,
      problems: [`add to pg_hba.conf on ${info.host}, above any "reject" line: ${line}`],
      hint: `add that line to the server's pg_hba.conf (in its data folder: SHOW hba_file names it; on CUPM usually <install>\\pgsql8.2\\data\\pg_hba.conf; "all" because pg_dumpall reads every database), then restart PostgreSQL (service pgsql-8.2) so it reads the file, and run again`,
      cause: error,
    });
  }
  if (code === '28000' || code === '3D000') {
    return new ConfigError(`Cannot connect to ${target}: ${messageOf(error)}.`, {
      state,
      hint: code === '3D000' ? 'check CUPM_DATABASE' : 'check PGUSER and pg_hba.conf on the server',
      cause: error,
    });
  }
  if (/client password must be a string|password is required/i.test(messageOf(error))) {
    return new ConfigError(`Cannot log in to ${target}: the server asks for a password and none is configured.`, {
      state,
      hint: 'set PGPASSWORD in the environment or cupm-backup.env, or add a pgpass entry',
      cause: error,
    });
  }
  const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'];
  const reason =
    unreachable.includes(code ?? '') || /timeout/i.test(messageOf(error))
      ? `the server is not reachable (${code ?? messageOf(error)})`
      : messageOf(error);
  return new JobFailedError(`Cannot connect to ${target}: ${reason}.`, {
    state,
    hint: 'check that PostgreSQL is running (service pgsql-8.2 on a CUPM server) and that PGHOST/PGPORT point at it',
    cause: error,
  });
}

/** A PostgreSQL version: `num` as in server_version_num (8.2.4 -> 80204, 15.18 -> 150018). */
export interface PgVersion {
  text: string;
  num: number;
  /** The major version as PostgreSQL names it: "8.2", "15". */
  major: string;
}

/** Parses "15.18", "8.2.4", "PostgreSQL 16beta1 on ...", "pg_dumpall (PostgreSQL) 15.18 (Debian...)". */
export function parsePgVersion(text: string): PgVersion | undefined {
  const match = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text.replace(/^[^\d]*\)\s*/, ''));
  if (!match) return undefined;
  const [, a, b, c] = match;
  const first = Number(a);
  if (first >= 10) {
    return { text: match[0], num: first * 10000 + Number(b ?? 0), major: String(first) };
  }
  return { text: match[0], num: first * 10000 + Number(b ?? 0) * 100 + Number(c ?? 0), major: `${first}.${b ?? 0}` };
}

/** The server's version, from server_version_num where the server has it (8.2 has it too). */
export async function serverVersion(client: pg.Client): Promise<PgVersion> {
  const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
  const text = rows[0]?.server_version ?? '';
  const version = parsePgVersion(text);
  if (!version) throw new JobFailedError(`Cannot read the PostgreSQL server version from "${text}".`);
  return { ...version, text: text.split(' ')[0] ?? text };
}
