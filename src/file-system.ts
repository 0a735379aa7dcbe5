import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Small facts about paths, the one fsync of a folder and the one atomic file writer, shared by every layer. */

/**
 * What is at `p`: a folder, something else, or nothing (ENOENT). Any other error (EACCES, EIO,
 * ENOTDIR for a path through a file) is thrown: the caller says what to do about it.
 */
export function pathKind(p: string): 'folder' | 'other' | 'missing' {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  return stat.isDirectory() ? 'folder' : 'other';
}

/** True when `p` is a folder (false when it is missing or cannot be looked at). */
export function isDirectory(p: string): boolean {
  try {
    return pathKind(p) === 'folder';
  } catch {
    return false;
  }
}

/** True when `p` is a regular file this process may read. */
export function isReadableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.R_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Feeds bytes [start, end) of an open file (to its end when `end` is undefined) to `onChunk`,
 * read through one buffer reused for every chunk: no garbage per chunk. (A read stream allocates a
 * new 64 KiB buffer for each read; a gigabyte of them raised the RSS by 30-40 MB until collected.)
 * `onChunk` must not keep the chunk. Returns the bytes read: fewer than asked when the file ends first.
 */
export async function readRange(
  handle: fsp.FileHandle,
  range: { start: number; end?: number },
  buffer: Buffer,
  onChunk: (chunk: Buffer) => void,
): Promise<number> {
  let at = range.start;
  const end = range.end ?? Infinity;
  while (at < end) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - at), at);
    if (bytesRead === 0) break;
    onChunk(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
  return at - range.start;
}

/** fsyncs a folder, so a rename or removal in it survives a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a folder for fsync; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

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
 * The one way this tool writes a file whole: `content` goes to a temp file in the same folder
 * (tempNameFor), fsynced, given `meta`'s mode (0600 by default) and owner (when we are root and
 * it names one), then renamed over `file`; the folder is fsynced so the rename survives a power
 * cut. A reader sees the old file or the new, never half. A writer killed mid-way leaves only its
 * temp file, which the next run holding the same lock removes (removeTempFiles), or, for a file
 * written under no lock, a later write of it once the temp file is stale (`removeStaleTemps`).
 */
export async function writeFileAtomic(
  file: string,
  content: string | Uint8Array,
  meta: Partial<FileMeta> | null = null,
  options: AtomicWriteOptions = {},
): Promise<void> {
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
    if (meta?.uid != null && meta.gid != null && process.getuid?.() === 0) await unlessRefused(fsp.chown(temp, meta.uid, meta.gid));
    await renameOver(temp, file);
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
  // Best effort: the file is written; what the clean-up meets is no reason to fail the write.
  if (options.removeStaleTemps) await removeTempFiles(file, 'stale').catch(() => undefined);
}

export interface AtomicWriteOptions {
  /**
   * After the write, remove the temp files of killed writes of the same file that no write still
   * running can own (removeTempFiles 'stale'), best effort. For files written under no lock
   * (report pages, schedule files, the clean-up script), where nothing else ever removes them.
   */
  removeStaleTemps?: boolean;
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
 * a name that says so, removed as a temp file) and the name empty: a caller that must survive that
 * keeps the previous bytes elsewhere (the restore journal does, and puts them back on the next run).
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

/**
 * The temp file beside `file` a write of this process uses: `.NAME.cupm-backup-<pid>-<random>.tmp`
 * (hidden, unique to the process and the write, and saying whose it is).
 */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.cupm-backup-${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`);
}

/**
 * How long no atomic write can take (a few KB to a few MB, fsynced), however slow the disk or the
 * share: a temp file not written to for longer belongs to a killed writer.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Removes the temp files (and the `.old` names of a replaced file, see renameOver) that a write of
 * `file` leaves when its process is killed mid-way; returns the paths removed. `writer`: the pid of
 * the process known to be killed (a journal names it), or 'any' when the caller holds the lock
 * that alone lets `file` be written, so every temp file of it is a killed writer's, or 'stale'
 * right after writing `file` under no lock: only those no write still running can own (staleTemps).
 */
export async function removeTempFiles(file: string, writer: number | 'any' | 'stale'): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.cupm-backup-`;
  const pid = typeof writer === 'number' ? String(writer) : '\\d+';
  const rest = new RegExp(`^${pid}-[0-9a-f]{8}\\.tmp(?:\\.old)?$`);
  const ours = (name: string) => name.startsWith(prefix) && rest.test(name.slice(prefix.length));
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter(ours);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  if (writer === 'stale') names = await staleTemps(file, names);
  for (const name of names) await fsp.rm(path.join(dir, name), { force: true });
  if (names.length > 0) await syncDirectory(dir);
  return names.map((name) => path.join(dir, name));
}

/**
 * Of the temp `names` beside `file` (just written), those no write still running can own, whoever
 * wrote them (a pid says nothing of another admin host writing the same share): a temp file not
 * written to for STALE_TEMP_MS, counted from the earlier of this host's clock and the file
 * system's (the mtime `file` just got: a share's server stamps it, and its clock may lag ours); an
 * aside (`.old`) whose temp file is gone (its write got past the swap, or gave up) or stale, as the
 * aside keeps the old file's mtime, which says nothing of its write's age. Anything not a file is
 * left alone.
 */
async function staleTemps(file: string, names: string[]): Promise<string[]> {
  const dir = path.dirname(file);
  const written = await fsp.stat(file).then(
    (stat) => stat.mtimeMs,
    () => Infinity,
  );
  const bound = Math.min(Date.now(), written) - STALE_TEMP_MS;
  const state = async (name: string): Promise<'stale' | 'fresh' | 'gone' | 'other'> => {
    try {
      const stat = await fsp.lstat(path.join(dir, name));
      if (!stat.isFile()) return 'other';
      return stat.mtimeMs < bound ? 'stale' : 'fresh';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      throw error;
    }
  };
  const stale: string[] = [];
  for (const name of names) {
    const own = await state(name);
    if (own === 'gone' || own === 'other') continue;
    const aside = name.endsWith('.old');
    const garbage = aside ? ['gone', 'stale'].includes(await state(name.slice(0, -'.old'.length))) : own === 'stale';
    if (garbage) stale.push(name);
  }
  return stale;
}

/** File systems an admin host reaches the CUPM server's C$ through. */
const SHARE_FILE_SYSTEMS = /^(?:cifs|smb3|smbfs|nfs4?|fuse\.smbnetfs|fuse\.[\w.-]+|fuse)$/;

/** True for the type of a mounted network share (cifs, smbnetfs's FUSE ...), as `fileSystemOf` names it. */
export function isShareFileSystem(type: string): boolean {
  return SHARE_FILE_SYSTEMS.test(type);
}

/** The mount a file lives on (Linux, /proc/self/mountinfo): its mount point, type and source. */
export interface MountFacts {
  point: string;
  type: string;
  source: string;
  /** The file's real path (symbolic links resolved). */
  real: string;
}

/** The mount `file` lives on; undefined when it cannot be told (not Linux, no such file). */
export async function mountOf(file: string, mountinfo?: string): Promise<MountFacts | undefined> {
  let real: string;
  let text: string;
  try {
    real = await fsp.realpath(file);
    text = mountinfo ?? (await fsp.readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
  const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  let best: MountFacts | undefined;
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 5) continue;
    const point = unescape(fields[4]!);
    const inside = point === '/' || real === point || real.startsWith(`${point}/`);
    if (inside && (!best || point.length >= best.point.length))
      best = { point, type: fields[separator + 1]!, source: unescape(fields[separator + 2] ?? ''), real };
  }
  return best;
}

/** The file system type of the mount `file` lives on (Linux, /proc/self/mountinfo); undefined when it cannot be told. */
export async function fileSystemOf(file: string): Promise<string | undefined> {
  return (await mountOf(file))?.type;
}
