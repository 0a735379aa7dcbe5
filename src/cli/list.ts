import path from 'node:path';
import type { Command } from 'commander';
import { listArchives, type CatalogEntry } from '../archive/catalog.js';
import { archiveKeys } from '../config/encryption-settings.js';
import { ConfigError, messageOf } from '../errors.js';
import { pathKind } from '../file-system.js';
import { withConnection } from '../offsite/destination.js';
import { createDestination } from '../offsite/index.js';
import { listRemoteArchives } from '../offsite/remote-catalog.js';
import { isS3Url } from '../offsite/s3-archive.js';
import { parseOffsiteTargets } from '../offsite/targets.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { identityOverride, keysFromFlags, withIdentity } from './encryption-options.js';
import { isFleetRun, runCommand, withFleetOptions, type FleetFlags } from './fleet.js';
import { formatBytes } from '../format/units.js';
import { formatTable } from '../format/table.js';

export function registerList(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      withIdentity(
        program
          .command('list')
          .description(
            'list the archives in a folder (default CUPM_BACKUP_DIR) with their manifest facts; encrypted ones (.zip.age) are read with --identity, else shown by name',
          )
          .argument('[dir]', 'the folder to list, or s3://bucket/prefix'),
      ),
    ),
  ).action(async (dir: string | undefined, flags: FleetFlags & { identity?: string }) => {
    if (dir !== undefined && isFleetRun(flags)) {
      throw new ConfigError('A folder to list does not go with --server or --all: each server lists its CUPM_BACKUP_DIR.', {
        state: 'nothing was changed',
      });
    }
    await runCommand(flags, async (io) => {
      // A fleet server's identity is in its own env file (CUPM_IDENTITY), like its backup folder.
      const config = io.server !== null ? io.config(identityOverride(flags)) : undefined;
      const remote = dir !== undefined && isS3Url(dir);
      const folder = remote ? dir : dir ? path.resolve(dir) : (config ?? io.config()).backupDir;
      if (!remote && !isFolder(folder)) {
        // One rule, plain or fleet: a folder named on the command line that does not exist is a
        // mistake in the command (exit 2); the configured backup folder (CUPM_BACKUP_DIR, a fleet
        // server's too) that does not exist yet only means no backup was written there (exit 0).
        if (dir !== undefined) {
          throw new ConfigError(`No such folder: ${folder}`, {
            state: 'nothing was listed',
            hint: 'give the folder that holds the archives (default CUPM_BACKUP_DIR)',
          });
        }
        if (flags.json) io.json({ dir: folder, exists: false, archives: [] });
        else
          io.out(
            `No archives yet: the backup folder ${folder} does not exist (no backup was written there). Run cupm-backup backup, or set CUPM_BACKUP_DIR.\n`,
          );
        return;
      }
      const keys = config ? archiveKeys(config.encryption) : keysFromFlags(flags);
      const archives: Array<Omit<CatalogEntry, 'modifiedAt'>> = remote ? await listS3(dir, flags) : await listArchives(folder, keys);
      if (flags.json) {
        io.json({ dir: folder, archives: archives.map(archiveJson) });
        return;
      }
      if (archives.length === 0) {
        io.out(`No archives in ${folder}\n`);
        return;
      }
      io.out(`${formatArchiveTable(archives).join('\n')}\n`);
    });
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
    return {
      ...base,
      createdAt: a.manifest.createdAt,
      hostname: a.manifest.source.hostname,
      cupmVersion: a.manifest.cupm.version,
      label: a.manifest.label,
    };
  }
  if (a.locked) {
    return {
      ...base,
      locked: a.locked,
      factsFrom: 'name',
      createdAt: a.nameFacts?.createdAt ?? null,
      hostname: a.nameFacts?.hostname ?? null,
      label: a.nameFacts?.label ?? null,
    };
  }
  return { ...base, error: a.error };
}

/** True for a folder, false when nothing is there; anything else is a configuration error (exit 2). */
function isFolder(folder: string): boolean {
  let kind: ReturnType<typeof pathKind>;
  try {
    kind = pathKind(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`The folder ${folder} cannot be read (${code ?? messageOf(error)}).`, {
      state: 'nothing was listed',
      hint: 'check its permissions',
    });
  }
  if (kind === 'other')
    throw new ConfigError(`${folder} is not a folder.`, { state: 'nothing was listed', hint: 'give the folder that holds the archives' });
  return kind === 'folder';
}

/**
 * The archives as a table: name, size, when, host, CUPM version, label, state. An encrypted
 * archive is "encrypted" (read with --identity) or, unopened, shows what its name says.
 */
export function formatArchiveTable<T extends Omit<CatalogEntry, 'modifiedAt'>>(archives: readonly T[]): string[] {
  const rows = archives.flatMap((a): Array<string[] | string> => {
    const m = a.manifest;
    const facts = m
      ? { createdAt: m.createdAt, host: m.source.hostname, cupm: m.cupm.version ?? '?', label: m.label ?? '' }
      : { createdAt: a.nameFacts?.createdAt ?? '', host: a.nameFacts?.hostname ?? '', cupm: '', label: a.nameFacts?.label ?? '' };
    const state = a.error
      ? 'UNREADABLE'
      : a.locked
        ? `encrypted (${a.locked === 'encrypted; no identity given' ? 'no identity given: --identity reads it' : a.locked.replace(/^encrypted; /, '')}; facts from its name)`
        : a.encrypted
          ? 'encrypted'
          : 'ok';
    const row = [a.name, formatBytes(a.size), facts.createdAt.replace(/\.000Z$/, 'Z'), facts.host, facts.cupm, facts.label, state];
    // Why it cannot be read, on its own line under the row (the path is the row's name).
    return a.error ? [row, `  -> ${a.error.split('\n')[0]!.replace(a.file, 'the file')}`] : [row];
  });
  return formatTable(
    [
      { header: 'ARCHIVE' },
      { header: 'SIZE', align: 'right' },
      { header: 'CREATED (UTC)' },
      { header: 'HOST' },
      { header: 'CUPM' },
      { header: 'LABEL' },
      { header: 'STATE' },
    ],
    rows,
  );
}
