import fs from 'node:fs';
import fsp from 'node:fs/promises';

/** Small facts about paths, and the one fsync of a folder, shared by every layer. */

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
