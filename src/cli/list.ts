import path from 'node:path';
import type { Command } from 'commander';
import { listArchives, type CatalogEntry } from '../archive/catalog.js';
import { loadConfig } from '../config/config.js';
import { withCommonOptions, type CommonOptions } from './common.js';
import { keysFromFlags, withIdentity } from './encryption-options.js';
import { formatBytes } from '../format/units.js';
import { printJson, printOut } from './output.js';

export function registerList(program: Command): void {
  withCommonOptions(withIdentity(
    program
      .command('list')
      .description('list the archives in a folder (default CUPM_BACKUP_DIR) with their manifest facts; encrypted ones (.zip.age) are read with --identity, else shown by name')
      .argument('[dir]', 'the folder to list'),
  )).action(async (dir: string | undefined, flags: CommonOptions & { identity?: string }) => {
    const folder = dir ? path.resolve(dir) : loadConfig({ envFile: flags.envFile }).backupDir;
    const archives = await listArchives(folder, keysFromFlags(flags));
    if (flags.json) {
      printJson({ dir: folder, archives: archives.map(archiveJson) });
      return;
    }
    if (archives.length === 0) {
      printOut(`No archives in ${folder}\n`);
      return;
    }
    for (const a of archives) {
      const m = a.manifest;
      const lock = a.encrypted ? (m ? '  (encrypted)' : '') : '';
      const facts = m
        ? `${m.createdAt}  ${m.source.hostname}  CUPM ${m.cupm.version ?? '?'}${m.label ? `  [${m.label}]` : ''}${lock}`
        : a.locked
          ? `ENCRYPTED (${a.locked}; --identity reads its manifest)${a.nameFacts ? `  by its name: ${a.nameFacts.createdAt}  ${a.nameFacts.hostname}${a.nameFacts.label ? `  [${a.nameFacts.label}]` : ''}` : ''}`
          : `UNREADABLE: ${a.error?.split('\n')[0]}`;
      printOut(`${a.name}  ${formatBytes(a.size)}  ${facts}\n`);
    }
  });
}

/** One archive in `list --json`: manifest facts, or for a locked encrypted one what its name says. */
function archiveJson(a: CatalogEntry) {
  const base = { file: a.file, size: a.size, ok: !a.error, encrypted: a.encrypted === true };
  if (a.manifest) {
    return { ...base, createdAt: a.manifest.createdAt, hostname: a.manifest.source.hostname, cupmVersion: a.manifest.cupm.version, label: a.manifest.label };
  }
  if (a.locked) {
    return { ...base, locked: a.locked, factsFrom: 'name', createdAt: a.nameFacts?.createdAt ?? null, hostname: a.nameFacts?.hostname ?? null, label: a.nameFacts?.label ?? null };
  }
  return { ...base, error: a.error };
}
