import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import { JobFailedError, messageOf } from '../errors.js';
import { listRoles } from '../pg/catalog.js';
import { withClient } from '../pg/connection.js';
import { startPsql } from '../pg/psql.js';
import type { PgTool } from '../pg/tools.js';
import { ident } from './databases.js';
import { DumpFilter } from './dump-filter.js';

// The snapshot is taken by pg_dumpall, which runs where the PostgreSQL tools run (src/pg).
export { dumpRoles } from '../pg/dumpall.js';

/** The roles side of the cluster before the restore: what undo puts back. */
export interface RolesBefore {
  /** The `pg_dumpall --roles-only` script (0600), re-applied on undo. */
  snapshot: string;
  roles: string[];
  /** [role, member] pairs. */
  memberships: Array<[string, string]>;
  tablespaces: string[];
}

/** Roles, memberships and tablespaces as they are now. */
export async function roleFacts(client: pg.Client): Promise<Omit<RolesBefore, 'snapshot'>> {
  const { rows: members } = await client.query<{ role: string; member: string }>(
    `SELECT r.rolname AS role, m.rolname AS member
       FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
      ORDER BY 1, 2`,
  );
  const { rows: spaces } = await client.query<{ spcname: string }>('SELECT spcname FROM pg_tablespace ORDER BY 1');
  return {
    roles: await listRoles(client),
    memberships: members.map((m) => [m.role, m.member]),
    tablespaces: spaces.map((s) => s.spcname),
  };
}

/**
 * Puts roles back as they were before the restore: drops the roles (and tablespaces) the dump
 * created, revokes the memberships it granted, resets role settings and re-applies the snapshot
 * (attributes, passwords, settings, memberships). The databases the dump created must be gone
 * already. Collects every problem and throws them together, so the message says exactly which
 * roles are not as they were.
 */
export async function restoreRoles(config: Pick<Config, 'pg'>, psql: PgTool, adminRole: string, before: RolesBefore): Promise<void> {
  const problems: string[] = [];
  const beforeRoles = new Set(before.roles);
  const beforeMembers = new Set(before.memberships.map(([r, m]) => `${r}\u0000${m}`));
  const existing = await withClient(config, 'postgres', async (client) => {
    const now = await roleFacts(client);
    for (const space of now.tablespaces.filter((s) => !before.tablespaces.includes(s))) {
      await client
        .query(`DROP TABLESPACE ${ident(space)}`)
        .catch((e) => problems.push(`tablespace "${space}" (created by the dump) could not be dropped: ${messageOf(e)}`));
    }
    for (const role of now.roles.filter((r) => !beforeRoles.has(r))) {
      try {
        // A new role may hold privileges on shared objects (GRANT CONNECT ON DATABASE postgres):
        // DROP OWNED takes them away; it owns nothing else, the databases it could own are gone.
        await client.query(`DROP OWNED BY ${ident(role)}`);
        await client.query(`DROP ROLE ${ident(role)}`);
      } catch (e) {
        problems.push(`role "${role}" (created by the dump) could not be dropped: ${messageOf(e)}`);
      }
    }
    for (const [role, member] of now.memberships) {
      if (beforeMembers.has(`${role}\u0000${member}`) || !beforeRoles.has(role) || !beforeRoles.has(member)) continue;
      await client
        .query(`REVOKE ${ident(role)} FROM ${ident(member)}`)
        .catch((e) => problems.push(`membership of "${member}" in "${role}" (granted by the dump) could not be revoked: ${messageOf(e)}`));
    }
    for (const role of before.roles) {
      // Settings the dump added; the snapshot sets the ones that were there.
      await client.query(`ALTER ROLE ${ident(role)} RESET ALL`).catch(() => {});
    }
    return new Set(await listRoles(client));
  });
  try {
    await applyScript(psql, config, before.snapshot, new DumpFilter({ existingRoles: existing, adminRole }));
  } catch (e) {
    problems.push(`the roles snapshot ${before.snapshot} could not be re-applied: ${messageOf(e)}`);
  }
  if (problems.length > 0) throw new JobFailedError('Roles could not all be put back as they were:', { problems });
}

/** Streams a script file through `filter` into psql; psql's own error wins over the EPIPE it causes. */
async function applyScript(psql: PgTool, config: Pick<Config, 'pg'>, file: string, filter: DumpFilter): Promise<void> {
  const run = startPsql(psql, config, 'postgres');
  const [fed, ran] = await Promise.allSettled([pipeline(fs.createReadStream(file), filter, run.stdin), run.finished]);
  if (ran.status === 'rejected') throw ran.reason;
  if (fed.status === 'rejected') throw fed.reason;
}
