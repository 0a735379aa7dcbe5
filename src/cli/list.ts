import path from 'node:path';
import type { Command } from 'commander';
import { listArchives } from '../archive/catalog.js';
import { loadConfig } from '../config/config.js';
import { withCommonOptions, type CommonOptions } from './common.js';
import { formatBytes, printJson } from './output.js';

export function registerList(program: Command): void {
  withCommonOptions(
    program
      .command('list')
      .description('list the archives in a folder (default CUPM_BACKUP_DIR) with their manifest facts')
      .argument('[dir]', 'the folder to list'),
  ).action(async (dir: string | undefined, flags: CommonOptions) => {
    const folder = dir ? path.resolve(dir) : loadConfig({ envFile: flags.envFile }).backupDir;
    const archives = await listArchives(folder);
    if (flags.json) {
      printJson({
        dir: folder,
        archives: archives.map((a) => ({
          file: a.file,
          size: a.size,
          ok: !a.error,
          ...(a.manifest
            ? {
                createdAt: a.manifest.createdAt,
                hostname: a.manifest.source.hostname,
                cupmVersion: a.manifest.cupm.version,
                label: a.manifest.label,
              }
            : { error: a.error }),
        })),
      });
      return;
    }
    if (archives.length === 0) {
      process.stdout.write(`No archives in ${folder}\n`);
      return;
    }
    for (const a of archives) {
      const m = a.manifest;
      const facts = m
        ? `${m.createdAt}  ${m.source.hostname}  CUPM ${m.cupm.version ?? '?'}${m.label ? `  [${m.label}]` : ''}`
        : `UNREADABLE: ${a.error?.split('\n')[0]}`;
      process.stdout.write(`${a.name}  ${formatBytes(a.size)}  ${facts}\n`);
    }
  });
}
