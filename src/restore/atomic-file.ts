import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { syncDirectory } from '../file-system.js';

/** What a file's replacement must keep: its mode and, when we may set it, its owner. */
export interface FileMeta {
  mode: number;
  uid: number | null;
  gid: number | null;
}

/** The mode and owner of `file`, or null when there is no such file. */
export async function fileMeta(file: string): Promise<FileMeta | null> {
  try {
    const stat = await fsp.stat(file);
    return { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Replaces `file` with `content` atomically: a temp file in the same folder, written, fsynced,
 * given the old file's mode (and owner, when we are root), then renamed over it; the folder is
 * fsynced so the rename survives a power cut. A reader sees the old file or the new, never half.
 */
export async function writeFileAtomic(file: string, content: Buffer, meta: FileMeta | null): Promise<void> {
  const dir = path.dirname(file);
  const temp = tempNameFor(file);
  const mode = meta?.mode ?? 0o600;
  const handle = await fsp.open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The mode given to open() is filtered by the umask: set it exactly. A share (the CUPM server's
    // C$ mounted on an admin host) may have no POSIX mode or owner to set: keep what it allows.
    await unlessRefused(fsp.chmod(temp, mode));
    if (meta && meta.uid !== null && meta.gid !== null && process.getuid?.() === 0)
      await unlessRefused(fsp.chown(temp, meta.uid, meta.gid));
    await renameOver(temp, file);
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** What a file system says when it has no POSIX modes or owners to set (SMB, FAT). */
const NO_POSIX_META = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EINVAL']);

async function unlessRefused(change: Promise<void>): Promise<void> {
  try {
    await change;
  } catch (error) {
    if (!NO_POSIX_META.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  }
}

/** How SMB1 servers refuse a rename onto an existing name. */
const RENAME_OVER_REFUSED = new Set(['EEXIST', 'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EBUSY']);

/**
 * Renames `temp` over `file`. Where the file system refuses to replace a name (SMB1 servers), the
 * old file is renamed aside first, the new one put in its place, and the old one removed; if the
 * second rename fails the old one is put back. A crash in between leaves the old file aside (under
 * a name that says so) and the name empty: the restore journal, which has the file's previous
 * bytes, puts it back on the next run.
 */
async function renameOver(temp: string, file: string): Promise<void> {
  try {
    await fsp.rename(temp, file);
    return;
  } catch (error) {
    if (!RENAME_OVER_REFUSED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    const exists = await fsp.stat(file).then(
      () => true,
      () => false,
    );
    if (!exists) throw error;
  }
  const aside = `${temp}.old`;
  await fsp.rename(file, aside);
  try {
    await fsp.rename(temp, file);
  } catch (error) {
    await fsp.rename(aside, file).catch(() => {});
    throw error;
  }
  await fsp.rm(aside, { force: true });
}

/** Removes `file` (when undoing the creation of a file that did not exist). */
export async function removeFile(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
  await syncDirectory(path.dirname(file));
}

/** The temp file beside `file` a write of this process uses: `.NAME.cupm-backup-<pid>-<random>.tmp`. */
function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.cupm-backup-${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Removes the temp files (and the `.old` names of a replaced file, see renameOver) that a write of
 * `file` by process `pid` leaves when that process is killed mid-way; returns the paths removed.
 */
export async function removeTempFiles(file: string, pid: number): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.cupm-backup-${pid}-`;
  const ours = (name: string) => name.startsWith(prefix) && /^[0-9a-f]{8}\.tmp(?:\.old)?$/.test(name.slice(prefix.length));
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter(ours);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  for (const name of names) await fsp.rm(path.join(dir, name), { force: true });
  if (names.length > 0) await syncDirectory(dir);
  return names.map((name) => path.join(dir, name));
}

/**
 * Proves that `file` can be written the way writeFileAtomic writes it: a temp file is created
 * beside it and removed. Returns why not (the error), or undefined when it can.
 */
export async function writableProblem(file: string): Promise<string | undefined> {
  const temp = tempNameFor(file);
  try {
    await (await fsp.open(temp, 'wx', 0o600)).close();
  } catch (error) {
    return `${file}: cannot create a file in ${path.dirname(file)} (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
  }
  try {
    await fsp.rm(temp);
  } catch (error) {
    return `${file}: cannot remove a file in ${path.dirname(file)} (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`;
  }
  return undefined;
}
