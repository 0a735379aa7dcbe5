import type { Config } from '../config/config.js';
import { isPreviousDatabase, listDatabases } from '../pg/catalog.js';
import { connectionInfo, serverVersion, withClient, type PgVersion } from '../pg/connection.js';
import { dumpPair, dumpPairHint, findPgTool, majorNumber, type PgTool } from '../pg/tools.js';
import { fail, failFrom, pass, warn, type CheckResult } from './check.js';

/** pg_dumpall lost -o (table OIDs) in PostgreSQL 12. */
const LAST_WITH_OIDS = 120000;

/**
 * PostgreSQL: the admin login works, the application database is there, and the client tools can
 * dump and restore this server (a pg_dumpall older than the server fails; -o where it matters).
 */
export async function postgresChecks(config: Config): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const info = connectionInfo(config);
  const where = `${info.host}:${info.port} (user ${info.user})`;
  let server: PgVersion | undefined;
  let oidTables: number | undefined;
  try {
    const facts = await withClient(config, 'postgres', async (client) => ({
      version: await serverVersion(client),
      databases: await listDatabases(client),
    }));
    server = facts.version;
    results.push(pass('postgres.connect', 'PostgreSQL reachable with the admin login', `PostgreSQL ${server.text} at ${where}`));
    results.push(previousDatabasesCheck(facts.databases, info));
    if (facts.databases.includes(config.database)) {
      results.push(pass('postgres.database', `Application database "${config.database}"`, 'present'));
      if (server.num < LAST_WITH_OIDS) oidTables = await tablesWithOids(config);
    } else {
      results.push(
        fail(
          'postgres.database',
          `Application database "${config.database}"`,
          `not on this server (databases: ${facts.databases.join(', ') || 'none'})`,
          'check CUPM_DATABASE and PGHOST/PGPORT',
        ),
      );
    }
  } catch (error) {
    results.push(
      failFrom(
        'postgres.connect',
        'PostgreSQL reachable with the admin login',
        error,
        `check that PostgreSQL runs (service pgsql-8.2 on a CUPM server) at ${where}`,
      ),
    );
  }
  results.push(...(await toolChecks(config, server, oidTables)));
  return results;
}

/** Databases restore --keep-previous kept: each doubles the disk use; the exact command to drop one. */
function previousDatabasesCheck(databases: string[], info: { host: string; port: number; user: string }): CheckResult {
  const id = 'postgres.previous-databases';
  const title = 'Databases kept by restore --keep-previous';
  const previous = databases.filter(isPreviousDatabase);
  if (previous.length === 0) return pass(id, title, 'none');
  const commands = previous.map((name) => `psql -h ${info.host} -p ${info.port} -U ${info.user} -d postgres -c 'DROP DATABASE "${name}"'`);
  return warn(
    id,
    title,
    `${previous.join(', ')} (not backed up: backup leaves them out; they take disk space)`,
    `once the restore is known good, drop each: ${commands.join(' ; ')}`,
  );
}

async function toolChecks(config: Config, server: PgVersion | undefined, oidTables: number | undefined): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const name of ['pg_dumpall', 'psql'] as const) {
    const id = `postgres.${name}`;
    const title = `${name} found and compatible with the server`;
    let tool: PgTool;
    try {
      tool = await findPgTool(config, name);
    } catch (error) {
      results.push(failFrom(id, title, error));
      continue;
    }
    const what = `${tool.path} is ${tool.version.text}`;
    if (!server) {
      results.push(
        warn(id, title, `${what}; the server's version is unknown (not reachable)`, 'fix the connection first, then run doctor again'),
      );
      continue;
    }
    if (name === 'pg_dumpall') {
      const pair = dumpPair(tool.version, server);
      if (!pair.ok) {
        results.push(fail(id, title, `${tool.path} is ${pair.reason}`, dumpPairHint(pair.clients)));
        continue;
      }
    } else if (majorNumber(tool.version) < majorNumber(server)) {
      results.push(
        warn(
          id,
          title,
          `${what}, older than the server (${server.text}): it may not read what a newer pg_dumpall writes`,
          'set CUPM_PG_BIN to the bin folder of a PostgreSQL client at least as new as the server',
        ),
      );
      continue;
    }
    if (name === 'pg_dumpall') results.push(oidLine(id, title, what, tool, server, oidTables));
    else results.push(pass(id, title, `${what} (server ${server.text})`));
  }
  return results;
}

/** The install guide dumps with -o (docs/cupm.md); it exists until PostgreSQL 11 and only matters for tables WITH OIDS. */
function oidLine(id: string, title: string, what: string, tool: PgTool, server: PgVersion, oidTables: number | undefined): CheckResult {
  if (tool.version.num < LAST_WITH_OIDS) return pass(id, title, `${what} (server ${server.text}); dumps with -o as the install guide does`);
  if (oidTables !== undefined && oidTables > 0) {
    return warn(
      id,
      title,
      `${what} has no -o, and ${oidTables} table(s) of the application database have OIDs: their OID values are not kept`,
      "set CUPM_PG_BIN to the bin folder of the server's own version (<install>\\pgsql8.2\\bin on CUPM), whose pg_dumpall has -o",
    );
  }
  return pass(
    id,
    title,
    `${what} (server ${server.text}); no -o in this version${oidTables === 0 ? ', and no table has OIDs to keep' : ''}`,
  );
}

async function tablesWithOids(config: Config): Promise<number | undefined> {
  try {
    return await withClient(config, config.database, async (client) => {
      const { rows } = await client.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relhasoids AND s.nspname NOT IN ('pg_catalog', 'information_schema')",
      );
      return Number(rows[0]?.n ?? 0);
    });
  } catch {
    return undefined;
  }
}
