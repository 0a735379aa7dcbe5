import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';

/**
 * A throwaway PostgreSQL cluster (initdb + pg_ctl on a free port in a temp dir), for the demo,
 * the tests and the benchmark. As root it runs as the `postgres` OS user: initdb refuses root.
 */
export interface Cluster {
  host: string;
  port: number;
  /** The admin (superuser) role and its password. */
  adminUser: string;
  password: string;
  dir: string;
  dataDir: string;
  binDir: string;
  /** The settings a CUPM config needs to reach this cluster as admin. */
  env(): Record<string, string>;
  /** Runs SQL as admin in `database` and returns the rows. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<R[]>;
  /** Stops the server (fast shutdown); the data stays until destroy. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes every file. */
  destroy(): Promise<void>;
}

export interface ClusterOptions {
  password: string;
  adminUser?: string;
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>;
}

/** The folder holding initdb/pg_ctl/postgres: PATH first, then Debian's /usr/lib/postgresql/<newest>/bin. */
export function findServerBinDir(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) {
      return path.dirname(fs.realpathSync(path.join(dir, 'initdb')));
    }
  }
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return path.join(root, versions[0], 'bin');
  throw new Error('initdb not found: install the PostgreSQL server (Debian: apt-get install -y postgresql)');
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a server tool, as `postgres` when we are root. */
async function asServerUser(file: string, args: string[]) {
  if (isRoot()) return execa('runuser', ['-u', 'postgres', '--', file, ...args], { stdin: 'ignore' });
  return execa(file, args, { stdin: 'ignore' });
}

/** Starts a new cluster with a password-protected admin on 127.0.0.1. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const binDir = findServerBinDir();
  const adminUser = options.adminUser ?? 'postgres';
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cupm-pg-'));
  const dataDir = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pwfile');
  await fsp.writeFile(pwfile, options.password + '\n', { mode: 0o600 });
  if (isRoot()) {
    const { stdout } = await execa('id', ['-u', 'postgres']);
    const { stdout: gid } = await execa('id', ['-g', 'postgres']);
    await fsp.chown(dir, Number(stdout), Number(gid));
    await fsp.chown(pwfile, Number(stdout), Number(gid));
  }
  const port = await freePort();
  const host = '127.0.0.1';
  try {
    await asServerUser(path.join(binDir, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      adminUser,
      `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  } finally {
    await fsp.rm(pwfile, { force: true });
  }
  const settings: Record<string, string | number> = {
    listen_addresses: `'${host}'`,
    port,
    unix_socket_directories: `'${dir}'`,
    fsync: 'off',
    full_page_writes: 'off',
    synchronous_commit: 'off',
    max_connections: 50,
    ...options.settings,
  };
  await fsp.appendFile(
    path.join(dataDir, 'postgresql.conf'),
    '\n# cupm-backup sandbox\n' +
      Object.entries(settings)
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n') +
      '\n',
  );
  const pgCtl = path.join(binDir, 'pg_ctl');
  const logFile = path.join(dir, 'server.log');
  const start = async () => {
    await asServerUser(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
  };
  const stop = async () => {
    if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return;
    await asServerUser(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => {});
  };
  await start();

  const cluster: Cluster = {
    host,
    port,
    adminUser,
    password: options.password,
    dir,
    dataDir,
    binDir,
    env: () => ({ PGHOST: host, PGPORT: String(port), PGUSER: adminUser, PGPASSWORD: options.password }),
    async query<R extends pg.QueryResultRow>(sql: string, params?: unknown[], database = 'postgres') {
      const client = new pg.Client({ host, port, user: adminUser, password: options.password, database });
      await client.connect();
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    stop,
    start,
    async destroy() {
      await stop();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
