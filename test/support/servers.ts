import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { backup } from '../../src/backup/backup.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { DEFAULT_SERVICES } from '../../src/config/config.js';
import { startCluster, type Cluster } from '../../src/sandbox/cluster.js';
import { createInstallTree } from '../../src/sandbox/install-tree.js';
import { createSandboxServer, type SandboxOptions, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { createStandinWorld } from '../../src/sandbox/standin-services.js';
import { waitFor } from './faults.js';

/**
 * What the stand-in services record (events(), or timeline() as `${verb} ${service}`) when a job
 * stops the three CUPM services once and starts them again: stopped in order, started in reverse.
 */
export const STOPPED_AND_STARTED_ONCE: readonly string[] = [
  'stop Apache',
  'stop cupm JBossService',
  'stop cupm NiceService',
  'start cupm NiceService',
  'start cupm JBossService',
  'start Apache',
];

/**
 * Two CUPM servers for restore and migration stories: the old one (where the backup is made) and
 * the new one (where it is restored), each with its own cluster, admin password, install tree
 * and stand-in services.
 */
export async function createOldAndNewServers(
  options: { old?: SandboxOptions; new?: SandboxOptions } = {},
): Promise<{ old: SandboxServer; new: SandboxServer }> {
  const old = await createSandboxServer({
    name: 'cupm-old',
    adminPassword: 'old-admin-pw',
    appPassword: 'old-app-pw',
    niceHost: '192.0.2.10',
    subscribers: 60,
    ...options.old,
  });
  try {
    const fresh = await createSandboxServer({
      name: 'cupm-new',
      adminPassword: 'new-admin-pw',
      appPassword: 'new-app-pw',
      niceHost: '198.51.100.20',
      subscribers: 5,
      ...options.new,
    });
    return { old, new: fresh };
  } catch (error) {
    await old.destroy();
    throw error;
  }
}

/**
 * A server whose PostgreSQL has never seen CUPM: no `cupm` database, no `cupm` role (a fresh
 * install, or a rebuilt database host), with an install tree and stand-in services.
 */
export async function createBareServer(adminPassword = 'bare-admin-pw'): Promise<SandboxServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-bare-'));
  const cluster = await startCluster({ password: adminPassword });
  const installDir = path.join(dir, 'CUPM');
  await createInstallTree(installDir, { dbHost: cluster.host, dbPort: cluster.port });
  const services = await createStandinWorld(path.join(dir, 'services'), { services: DEFAULT_SERVICES });
  for (const service of DEFAULT_SERVICES) await services.start(service);
  const backupDir = path.join(dir, 'backups');
  return {
    name: 'cupm-bare',
    dir,
    cluster,
    installDir,
    backupDir,
    services,
    appPassword: '',
    niceHost: '',
    env: () => ({
      ...cluster.env(),
      ...services.env(),
      CUPM_INSTALL_DIR: installDir,
      CUPM_BACKUP_DIR: backupDir,
      CUPM_PG_BIN: cluster.binDir,
      CUPM_SERVICE_TIMEOUT: '20',
    }),
    async destroy() {
      await services.destroy();
      await cluster.destroy();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** The configuration the tool would load on `server`, with extra settings. */
export function configOf(server: SandboxServer, extra: Record<string, string> = {}): Config {
  return loadConfig({ env: { ...server.env(), ...extra }, cwd: server.dir });
}

/** Backs the server up with the real backup job (`extra`: more settings); returns the archive path. */
export async function backupOf(server: SandboxServer, extra: Record<string, string> = {}): Promise<string> {
  return (await backup(configOf(server, extra))).archive;
}

/**
 * `pg_dump` of one database, without what differs between two dumps of equal databases: the
 * random \restrict keys and the "Dumped from/by" version lines.
 */
export async function normalizedDump(cluster: Cluster, database: string): Promise<string> {
  const { stdout } = await execa(path.join(cluster.binDir, 'pg_dump'), ['-d', database], { env: cluster.env(), stripFinalNewline: false });
  return stdout
    .split('\n')
    .filter((line) => !/^\\(?:un)?restrict\b/.test(line) && !/^-- Dumped (?:from database|by pg_dump) version/.test(line))
    .join('\n');
}

/** Removes from a normalized dump the nicesyseng rows of `host` (what a purge deletes). */
export function withoutNiceRows(dump: string, host: string): string {
  let inBlock = false;
  return dump
    .split('\n')
    .filter((line) => {
      if (line.startsWith('COPY public.nicesyseng ')) inBlock = true;
      else if (line === '\\.') inBlock = false;
      else if (inBlock && line.split('\t')[1] === host) return false;
      return true;
    })
    .join('\n');
}

/** Everything a restore may change on a server, to compare before and after. */
export interface ServerState {
  databases: string[];
  dumps: Record<string, string>;
  roles: unknown[];
  memberships: unknown[];
  files: Record<string, string>;
  services: Record<string, string>;
  /** What lies in the backup dir besides archives (journals, snapshots, temp files). */
  backupDirLeftovers: string[];
}

/** Turns the server's autovacuum off (8.2's default) or back to PostgreSQL's default, and waits until new sessions see it. */
export async function setAutovacuum(server: SandboxServer, on: boolean): Promise<void> {
  await server.cluster.query(on ? 'ALTER SYSTEM RESET autovacuum' : 'ALTER SYSTEM SET autovacuum = off');
  await server.cluster.query('SELECT pg_reload_conf()');
  await waitFor(`autovacuum ${on ? 'on' : 'off'} in new sessions`, async () => {
    const [row] = await server.cluster.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'autovacuum'");
    return row?.setting === (on ? 'on' : 'off') ? true : undefined;
  });
}

/**
 * The user tables of `database`, schema-qualified, in order; `neverAnalyzed`: only those no ANALYZE
 * has run on (autovacuum's own are counted apart, in last_autoanalyze): a restore that analyzes leaves none.
 */
export async function tablesOf(server: SandboxServer, database = 'cupm', { neverAnalyzed = false } = {}): Promise<string[]> {
  const rows = await server.cluster.query<{ name: string }>(
    `SELECT schemaname || '.' || relname AS name FROM pg_stat_user_tables${neverAnalyzed ? ' WHERE last_analyze IS NULL' : ''} ORDER BY 1`,
    undefined,
    database,
  );
  return rows.map((r) => r.name);
}

export async function serverState(server: SandboxServer): Promise<ServerState> {
  const { cluster } = server;
  const databases = (await cluster.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname);
  const dumps: Record<string, string> = {};
  for (const db of databases) if (db !== 'template0') dumps[db] = await normalizedDump(cluster, db);
  const roles = await cluster.query(
    `SELECT a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin, a.rolpassword, r.rolconfig
       FROM pg_authid a JOIN pg_roles r ON r.oid = a.oid ORDER BY 1`,
  );
  const memberships = await cluster.query(
    'SELECT r.rolname AS role, m.rolname AS member FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member ORDER BY 1, 2',
  );
  const services: Record<string, string> = {};
  for (const service of server.services.services) services[service] = await server.services.status(service);
  const leftovers = await fs.readdir(server.backupDir).catch(() => [] as string[]);
  return {
    databases,
    dumps,
    roles,
    memberships,
    files: await treeHashes(server.installDir),
    services,
    backupDirLeftovers: leftovers.filter((name) => !name.endsWith('.zip')).sort(),
  };
}

/** relative path -> "mode sha256" of every file under `dir`. */
export async function treeHashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const stat = await fs.stat(file);
    out[path.relative(dir, file)] = `${(stat.mode & 0o777).toString(8)} ${crypto
      .createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex')}`;
  }
  return out;
}

/** Reads a file of the install tree as latin1 (what the editors and Java see). */
export async function installFile(server: SandboxServer, relative: string): Promise<string> {
  return fs.readFile(path.join(server.installDir, ...relative.split('/')), 'latin1');
}
