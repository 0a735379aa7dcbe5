import path from 'node:path';
import type { Command } from 'commander';
import { listArchives, type CatalogEntry } from '../archive/catalog.js';
import { ConfigError } from '../errors.js';
import { isDirectory } from '../file-system.js';
import { withCommonOptions } from './common.js';
import { archiveKeys } from '../config/encryption-settings.js';
import { identityOverride, keysFromFlags, withIdentity } from './encryption-options.js';
import { isFleetRun, runCommand, withFleetOptions, type FleetFlags } from './fleet.js';
import { formatBytes } from './output.js';

export function registerList(program: Command): void {
  withFleetOptions(withCommonOptions(withIdentity(
    program
      .command('list')
      .description('list the archives in a folder (default CUPM_BACKUP_DIR) with their manifest facts; encrypted ones (.zip.age) are read with --identity, else shown by name')
      .argument('[dir]', 'the folder to list'),
  ))).action(async (dir: string | undefined, flags: FleetFlags & { identity?: string }) => {
    if (dir !== undefined && isFleetRun(flags)) {
      throw new ConfigError('A folder to list does not go with --server or --all: each server lists its CUPM_BACKUP_DIR.', { state: 'nothing was changed' });
    }
    await runCommand(flags, async (io) => {
      // A fleet server's identity is in its own env file (CUPM_IDENTITY), like its backup folder.
      const config = io.server !== null ? io.config(identityOverride(flags)) : undefined;
      const folder = dir ? path.resolve(dir) : (config ?? io.config()).backupDir;
      if (!isDirectory(folder)) {
        throw new ConfigError(`There is no folder ${folder} to list.`, {
          state: 'nothing was changed',
          hint: dir ? 'check the folder given' : 'check CUPM_BACKUP_DIR (a server\'s backup folder appears with its first backup)',
        });
      }
      const archives = await listArchives(folder, config ? archiveKeys(config.encryption) : keysFromFlags(flags));
      if (flags.json) {
        io.json({ dir: folder, archives: archives.map(archiveJson) });
        return;
      }
      if (archives.length === 0) {
        io.out(`No archives in ${folder}\n`);
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
        io.out(`${a.name}  ${formatBytes(a.size)}  ${facts}\n`);
      }
    });
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
