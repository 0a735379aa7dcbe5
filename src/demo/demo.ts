import path from 'node:path';
import { listArchives } from '../archive/catalog.js';
import { verifyArchive } from '../archive/verify.js';
import { backup, type BackupResult } from '../backup/backup.js';
import { loadConfig } from '../config/config.js';
import { JobFailedError } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import type { CatalogEntry } from '../archive/catalog.js';
import type { VerifyReport } from '../archive/verify.js';
import { createSandboxServer } from '../sandbox/sandbox-server.js';

export interface DemoResult {
  backup: BackupResult;
  verify: VerifyReport;
  list: CatalogEntry[];
}

/**
 * The embedded demo: a throwaway CUPM server (PostgreSQL cluster, install tree, stand-in
 * services), a backup of it, a verify and a list. The archive is kept in `outputDir`; everything
 * else is removed, whatever happens.
 */
export async function runDemo(outputDir: string, reporter: Reporter, signal?: AbortSignal): Promise<DemoResult> {
  reporter.info('Creating a sample CUPM server: a PostgreSQL cluster, an install tree, stand-in services...');
  const server = await createSandboxServer({ name: 'cupm-demo' });
  try {
    reporter.info(`  PostgreSQL on ${server.cluster.host}:${server.cluster.port}, CUPM in ${server.installDir}`);
    reporter.info(`  services: ${server.services.services.join(', ')} (JBoss holds a database session, as its pool does)`);
    // Only the sandbox's settings: the demo must not pick up a real server from the environment.
    const config = loadConfig({ env: { ...server.env(), CUPM_BACKUP_DIR: path.resolve(outputDir) }, envFile: undefined, cwd: server.dir });

    reporter.info('\n== cupm-backup backup');
    const result = await backup(config, { label: 'demo', signal }, reporter);
    reporter.info(`Archive: ${result.archive}`);

    reporter.info('\n== cupm-backup verify');
    const report = await verifyArchive(result.archive);
    if (!report.ok) throw new JobFailedError('The demo archive did not verify:', { problems: report.problems });
    reporter.info(`OK: ${report.manifest?.entries.length} entries, sizes and SHA-256 match, the dump is complete`);

    reporter.info('\n== cupm-backup list');
    const list = await listArchives(config.backupDir);
    for (const entry of list) reporter.info(`  ${entry.name}  ${entry.manifest?.createdAt ?? entry.error}`);

    const running = await Promise.all(server.services.services.map(async (s) => `${s}: ${await server.services.status(s)}`));
    reporter.info(`\nServices after the backup: ${running.join(', ')}`);
    return { backup: result, verify: report, list };
  } finally {
    reporter.info('Removing the sample server (cluster, install tree, services)...');
    await server.destroy();
  }
}
