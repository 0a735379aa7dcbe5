import path from 'node:path';
import type { Command } from 'commander';
import { listArchives, type CatalogEntry } from '../archive/catalog.js';
import { loadConfig } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { withConnection } from '../offsite/destination.js';
import { createDestination } from '../offsite/index.js';
import { listRemoteArchives } from '../offsite/remote-catalog.js';
import { isS3Url } from '../offsite/s3-archive.js';
import { parseOffsiteTargets } from '../offsite/targets.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { keysFromFlags, withIdentity } from './encryption-options.js';
import { formatBytes, printJson, printOut } from './output.js';

export function registerList(program: Command): void {
  withCommonOptions(withIdentity(
    program
      .command('list')
      .description('list the archives in a folder (default CUPM_BACKUP_DIR) with their manifest facts; encrypted ones (.zip.age) are read with --identity, else shown by name')
      .argument('[dir]', 'the folder to list, or s3://bucket/prefix'),
  )).action(async (dir: string | undefined, flags: CommonOptions & { identity?: string }) => {
    const remote = dir !== undefined && isS3Url(dir);
    const folder = remote ? dir : dir ? path.resolve(dir) : loadConfig({ envFile: flags.envFile }).backupDir;
    const archives: Array<Omit<CatalogEntry, 'modifiedAt'>> = remote ? await listS3(dir, flags) : await listArchives(folder, keysFromFlags(flags));
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

/** The archives under an s3:// prefix, their manifests read by ranged GETs (as retention reads them). */
async function listS3(url: string, flags: CommonOptions & { identity?: string }) {
  const config = configFor(flags);
  const parsed = parseOffsiteTargets(url, { cwd: process.cwd(), platform: process.platform, where: 'the folder to list' });
  if (parsed.problems.length > 0) throw new ConfigError(parsed.problems.join(' '));
  const destination = createDestination(parsed.targets[0]!, config.offsite);
  const archives = await withConnection(destination, (c) => listRemoteArchives(c, destination.display, keysFromFlags(flags)));
  return archives.map((a) => ({ ...a, file: `${destination.display}/${a.name}` }));
}

/** One archive in `list --json`: manifest facts, or for a locked encrypted one what its name says. */
function archiveJson(a: Omit<CatalogEntry, 'modifiedAt'>) {
  const base = { file: a.file, size: a.size, ok: !a.error, encrypted: a.encrypted === true };
  if (a.manifest) {
    return { ...base, createdAt: a.manifest.createdAt, hostname: a.manifest.source.hostname, cupmVersion: a.manifest.cupm.version, label: a.manifest.label };
  }
  if (a.locked) {
    return { ...base, locked: a.locked, factsFrom: 'name', createdAt: a.nameFacts?.createdAt ?? null, hostname: a.nameFacts?.hostname ?? null, label: a.nameFacts?.label ?? null };
  }
  return { ...base, error: a.error };
}
