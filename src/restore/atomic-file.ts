import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
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
  const temp = path.join(dir, `.${path.basename(file)}.cupm-backup-${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`);
  const mode = meta?.mode ?? 0o600;
  const handle = await fsp.open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The mode given to open() is filtered by the umask: set it exactly.
    await fsp.chmod(temp, mode);
    if (meta && meta.uid !== null && meta.gid !== null && process.getuid?.() === 0) await fsp.chown(temp, meta.uid, meta.gid);
    await fsp.rename(temp, file);
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** Removes `file` (when undoing the creation of a file that did not exist). */
export async function removeFile(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
  await syncDirectory(path.dirname(file));
}
