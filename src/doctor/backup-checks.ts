import fs from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../format/units.js';
import { listArchives, type CatalogEntry } from '../archive/catalog.js';
import { DUMP_ENTRY } from '../archive/format.js';
import type { ArchiveKeys } from '../archive/encryption.js';
import { verifyArchive } from '../archive/verify.js';
import { archiveKeys } from '../config/encryption-settings.js';
import type { Config } from '../config/config.js';
import { messageOf } from '../errors.js';
import { isUncPath, looksLikeWindowsPath, volumeOf } from '../system/windows-paths.js';
import { fail, pass, warn, type CheckResult } from './check.js';

export interface BackupCheckOptions {
  now?: Date;
  /** A backup older than this draws a warning (default 26 hours: a nightly run plus slack). */
  maxAgeHours?: number;
  /** How many of the newest archives to verify looking for a good one (default 3). */
  verifyLimit?: number;
}

/** The backup dir writable, free space against the last archive, the newest verified backup's age, off the server. */
export async function backupChecks(config: Config, options: BackupCheckOptions = {}): Promise<CheckResult[]> {
  const dir = config.backupDir;
  const results: CheckResult[] = [await writable(dir)];
  const keys = archiveKeys(config.encryption);
  const archives = (await listArchives(dir, keys).catch(() => [] as CatalogEntry[])).reverse();
  results.push(await freeSpace(dir, archives));
  results.push(await newestVerified(archives, dir, { ...options, keys }));
  results.push(await offServer(config));
  return results;
}

async function writable(dir: string): Promise<CheckResult> {
  const id = 'backup.dir';
  const title = 'Backup dir writable';
  const existing = await nearestExisting(dir);
  const probe = path.join(existing, `.cupm-backup-doctor-${process.pid}`);
  try {
    await fs.writeFile(probe, 'probe', { flag: 'wx' });
    await fs.rm(probe, { force: true });
  } catch (error) {
    return fail(id, title, `cannot write in ${existing}: ${messageOf(error)}`, 'set CUPM_BACKUP_DIR to a folder this account may write to');
  }
  return existing === dir ? pass(id, title, dir) : pass(id, title, `${dir} does not exist yet; the first backup creates it in ${existing}`);
}

async function freeSpace(dir: string, archives: CatalogEntry[]): Promise<CheckResult> {
  const id = 'backup.space';
  const title = 'Free space for the next backup';
  let free: number;
  try {
    const stat = await fs.statfs(await nearestExisting(dir));
    free = stat.bavail * stat.bsize;
  } catch (error) {
    return warn(id, title, `cannot read the free space of ${dir}: ${messageOf(error)}`);
  }
  const last = archives.find((a) => a.manifest);
  if (!last) return pass(id, title, `${formatBytes(free)} free (no archive yet to compare with)`);
  const dump = last.manifest!.entries.find((e) => e.path === DUMP_ENTRY)?.size;
  const facts = `${formatBytes(free)} free; the last archive is ${formatBytes(last.size)}${dump === undefined ? '' : ` (dump ${formatBytes(dump)})`}`;
  if (free < last.size)
    return fail(id, title, `${facts}: the next backup does not fit`, 'free space there, or point CUPM_BACKUP_DIR at a larger disk');
  if (free < 3 * last.size) return warn(id, title, `${facts}: room for fewer than three more`, 'free space there, or prune old archives');
  return pass(id, title, facts);
}

async function newestVerified(
  archives: CatalogEntry[],
  dir: string,
  options: BackupCheckOptions & { keys: ArchiveKeys },
): Promise<CheckResult> {
  const id = 'backup.newest';
  const title = 'Newest verified backup';
  const limit = options.verifyLimit ?? 3;
  const broken: string[] = [];
  for (const archive of archives.filter((a) => a.manifest).slice(0, limit)) {
    const report = await verifyArchive(archive.file, { keys: options.keys });
    if (!report.ok) {
      broken.push(archive.name);
      continue;
    }
    const created = new Date(report.manifest!.createdAt);
    const hours = ((options.now ?? new Date()).getTime() - created.getTime()) / 3_600_000;
    const age = hours < 48 ? `${Math.max(0, Math.round(hours))} h` : `${Math.round(hours / 24)} days`;
    const notes = broken.length > 0 ? `; newer but NOT valid: ${broken.join(', ')}` : '';
    const detail = `${archive.name}, ${age} old (CUPM ${report.manifest!.cupm.version ?? '?'})${notes}`;
    if (hours > (options.maxAgeHours ?? 26)) return warn(id, title, detail, 'run cupm-backup backup (and schedule it nightly)');
    return broken.length > 0
      ? warn(id, title, detail, 'find out why the newer archives are broken (cupm-backup verify)')
      : pass(id, title, detail);
  }
  if (broken.length > 0)
    return warn(
      id,
      title,
      `none of the newest archives in ${dir} verifies: ${broken.join(', ')}`,
      'run cupm-backup backup now; check the broken ones with cupm-backup verify',
    );
  const locked = archives.find((a) => a.locked && a.nameFacts);
  if (locked) {
    // Encrypted, and this host holds no identity (as it should): its name says when it was made.
    return warn(
      id,
      title,
      `${locked.name} is encrypted and was not verified here (${locked.locked}); made ${locked.nameFacts!.createdAt} by its name`,
      'verify it where the identity is kept: cupm-backup verify --identity <file> <archive>',
    );
  }
  return warn(id, title, `no backup in ${dir}`, 'run cupm-backup backup');
}

/** The install guide: keep backups on a different file server (and a CD), not on the CUPM server (docs/cupm.md). */
async function offServer(config: Config): Promise<CheckResult> {
  const id = 'backup.off-server';
  const title = 'Backups kept off the CUPM server';
  const dir = config.backupDir;
  const advice = 'copy archives to a file server (CUPM_BACKUP_DIR may be a \\\\server\\share path) and to a CD, as the install guide says';
  if (looksLikeWindowsPath(dir)) {
    if (isUncPath(dir)) return pass(id, title, `${dir} is a network share`);
    const install = config.installDir;
    const same = install !== undefined && volumeOf(dir) === volumeOf(install);
    return warn(id, title, `${dir} is a local drive${same ? ", the same as CUPM's" : ''}`, advice);
  }
  try {
    const backupStat = await fs.stat(await nearestExisting(dir));
    const installStat = config.installDir ? await fs.stat(config.installDir).catch(() => undefined) : undefined;
    if (!installStat)
      return warn(id, title, `cannot tell: the install dir ${config.installDir ?? '(not set)'} is not there to compare with`, advice);
    if (backupStat.dev === installStat.dev) return warn(id, title, `${dir} is on the same disk as CUPM`, advice);
    return pass(id, title, `${dir} is on another volume than CUPM (make sure it is another machine, too)`);
  } catch (error) {
    return warn(id, title, `cannot tell where ${dir} is: ${messageOf(error)}`, advice);
  }
}

async function nearestExisting(dir: string): Promise<string> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      if ((await fs.stat(current)).isDirectory()) return current;
    } catch {
      // not there: try the parent
    }
    const parent = path.dirname(current);
    if (parent === current) return current;
    current = parent;
  }
}
