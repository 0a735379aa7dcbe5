import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_SERVICES } from '../config/config.js';
import { startCluster, type Cluster } from './cluster.js';
import { createSampleCupmDatabase } from './cupm-database.js';
import { createInstallTree } from './install-tree.js';
import { createStandinWorld, type StandinWorld } from './standin-services.js';

/** A whole CUPM server in a temp dir: a PostgreSQL cluster, an install tree, stand-in services. */
export interface SandboxServer {
  name: string;
  dir: string;
  cluster: Cluster;
  installDir: string;
  backupDir: string;
  services: StandinWorld;
  appPassword: string;
  niceHost: string;
  /** Every setting cupm-backup needs to work on this server (as environment variables). */
  env(): Record<string, string>;
  destroy(): Promise<void>;
}

export interface SandboxOptions {
  name?: string;
  adminPassword?: string;
  appPassword?: string;
  /** The address the sample nicesyseng rows name (the "old app server"). */
  niceHost?: string;
  subscribers?: number;
  cupmVersion?: string;
  /** Start the stand-in services (default true). */
  startServices?: boolean;
}

/** Builds a sample CUPM server; `destroy` removes every trace of it. */
export async function createSandboxServer(options: SandboxOptions = {}): Promise<SandboxServer> {
  const name = options.name ?? 'cupm-demo';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${name}-`));
  const adminPassword = options.adminPassword ?? 'demo-admin-pw';
  const appPassword = options.appPassword ?? 'demo-app-pw';
  const niceHost = options.niceHost ?? '192.0.2.10';
  let cluster: Cluster | undefined;
  let services: StandinWorld | undefined;
  try {
    cluster = await startCluster({ password: adminPassword });
    await createSampleCupmDatabase(cluster, { rolePassword: appPassword, niceHost, subscribers: options.subscribers });
    const installDir = path.join(dir, 'CUPM');
    await createInstallTree(installDir, {
      dbHost: cluster.host,
      dbPort: cluster.port,
      cupmVersion: options.cupmVersion,
      dbPassword: appPassword,
    });
    const backupDir = path.join(dir, 'backups');
    services = await createStandinWorld(path.join(dir, 'services'), {
      services: DEFAULT_SERVICES,
      holdDb: {
        service: 'cupm JBossService',
        connection: { host: cluster.host, port: cluster.port, user: 'cupm', password: appPassword, database: 'cupm' },
      },
    });
    if (options.startServices ?? true) for (const service of DEFAULT_SERVICES) await services.start(service);
    const theCluster = cluster;
    const theServices = services;
    return {
      name,
      dir,
      cluster,
      installDir,
      backupDir,
      services,
      appPassword,
      niceHost,
      env: () => ({
        ...theCluster.env(),
        ...theServices.env(),
        CUPM_INSTALL_DIR: installDir,
        CUPM_BACKUP_DIR: backupDir,
        CUPM_PG_BIN: theCluster.binDir,
        CUPM_SERVICE_TIMEOUT: '20',
      }),
      async destroy() {
        await theServices.destroy();
        await theCluster.destroy();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await services?.destroy();
    await cluster?.destroy();
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
}
