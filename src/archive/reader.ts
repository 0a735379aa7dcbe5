import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { ArchiveInvalidError, messageOf } from '../errors.js';
import { openEncrypted, type ArchiveKeys } from './encryption.js';
import { MANIFEST_ENTRY, MAX_MANIFEST_BYTES, parseManifest, type Manifest } from './format.js';
import { entryCountProblem, rawEntryProblems } from './hostile.js';

/** One entry of the central directory, with its name decoded but not trusted. */
export interface ArchiveEntryInfo {
  name: string;
  compressedSize: number;
  uncompressedSize: number;
  isDirectory: boolean;
  isSymlink: boolean;
  raw: yauzl.Entry;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/**
 * Reads an archive through its central directory (yauzl). Entry names are decoded here and
 * checked by us rather than by yauzl, so that every bad name is reported, not only the first.
 */
export class ArchiveReader {
  /** Names that must never be extracted or trusted: traversal, absolute, duplicates, links. */
  readonly structuralProblems: string[] = [];
  private readonly byName = new Map<string, ArchiveEntryInfo>();

  private constructor(readonly file: string, private readonly zip: yauzl.ZipFile) {}

  /**
   * Opens `file` and reads its whole central directory; a file that is not a ZIP is invalid (exit
   * 3). An age-encrypted archive (`.zip.age`) is read in place with `keys` (encryption.ts).
   */
  static async open(file: string, keys: ArchiveKeys = {}): Promise<ArchiveReader> {
    const encrypted = await openEncrypted(file, keys);
    if (encrypted) return ArchiveReader.openRandomAccess(file, encrypted.reader, encrypted.size);
    let zip: yauzl.ZipFile;
    try {
      zip = await yauzl.openPromise(file, {
        lazyEntries: true,
        autoClose: false,
        decodeStrings: false,
        validateEntrySizes: true,
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        throw new ArchiveInvalidError(`Cannot read ${file}: ${code}.`);
      }
      throw new ArchiveInvalidError(`${file} is not a readable ZIP archive (${messageOf(error)}); it is corrupt or truncated.`);
    }
    return ArchiveReader.load(file, zip);
  }

  /**
   * Opens an archive that is not a local file (an off-site copy) through ranged reads: only the
   * central directory and the entries asked for are fetched. `label` names it in messages.
   */
  static async openRandomAccess(label: string, access: yauzl.RandomAccessReader, size: number): Promise<ArchiveReader> {
    let zip: yauzl.ZipFile;
    try {
      zip = await yauzl.fromRandomAccessReaderPromise(access, size, {
        lazyEntries: true,
        autoClose: false,
        decodeStrings: false,
        validateEntrySizes: true,
      });
    } catch (error) {
      access.close(() => {}); // yauzl leaves a reader it could not use open
      throw new ArchiveInvalidError(`${label} is not a readable ZIP archive (${messageOf(error)}); it is corrupt or truncated.`);
    }
    return ArchiveReader.load(label, zip);
  }

  private static async load(file: string, zip: yauzl.ZipFile): Promise<ArchiveReader> {
    const reader = new ArchiveReader(file, zip);
    const tooMany = entryCountProblem(zip.entryCount);
    if (tooMany) {
      zip.close();
      throw new ArchiveInvalidError(`${file} is not an archive of cupm-backup: ${tooMany}.`);
    }
    try {
      for await (const raw of zip.eachEntry()) reader.add(raw);
    } catch (error) {
      zip.close();
      throw new ArchiveInvalidError(`The central directory of ${file} is damaged: ${messageOf(error)}.`);
    }
    return reader;
  }

  private add(raw: yauzl.Entry): void {
    const nameBytes = raw.fileNameRaw;
    const name = yauzl.getFileNameLowLevel(raw.generalPurposeBitFlag, nameBytes, raw.extraFields, true);
    const unixMode = (raw.externalFileAttributes >>> 16) & 0xffff;
    const info: ArchiveEntryInfo = {
      name,
      compressedSize: raw.compressedSize,
      uncompressedSize: raw.uncompressedSize,
      isDirectory: name.endsWith('/'),
      isSymlink: (unixMode & S_IFMT) === S_IFLNK,
      raw,
    };
    const problem = entryNameProblem(name);
    if (problem) this.structuralProblems.push(problem);
    this.structuralProblems.push(...rawEntryProblems(name, raw));
    if (info.isSymlink) this.structuralProblems.push(`entry ${JSON.stringify(name)} is a symbolic link`);
    if (this.byName.has(name)) this.structuralProblems.push(`entry ${JSON.stringify(name)} appears more than once`);
    else this.byName.set(name, info);
  }

  get entryNames(): string[] {
    return [...this.byName.keys()];
  }

  entry(name: string): ArchiveEntryInfo | undefined {
    return this.byName.get(name);
  }

  /** A stream of the entry's uncompressed bytes; yauzl fails it if the size differs from the directory's. */
  async openEntry(name: string): Promise<Readable> {
    const info = this.byName.get(name);
    if (!info) throw new ArchiveInvalidError(`${this.file} has no entry ${name}.`);
    try {
      return await this.zip.openReadStreamPromise(info.raw);
    } catch (error) {
      throw new ArchiveInvalidError(`Cannot read ${name} in ${this.file}: ${messageOf(error)}.`);
    }
  }

  /** Reads and validates manifest.json (bounded: a huge "manifest" is refused unread). */
  async readManifest(): Promise<Manifest> {
    const info = this.byName.get(MANIFEST_ENTRY);
    if (!info) throw new ArchiveInvalidError(`${this.file} has no manifest.json: it is not a cupm-backup archive, or it is truncated.`);
    if (info.uncompressedSize > MAX_MANIFEST_BYTES) {
      throw new ArchiveInvalidError(`manifest.json in ${this.file} is ${info.uncompressedSize} bytes, more than a manifest can be (${MAX_MANIFEST_BYTES}).`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of await this.openEntry(MANIFEST_ENTRY)) {
        total += (chunk as Buffer).length;
        if (total > MAX_MANIFEST_BYTES) throw new Error(`more than ${MAX_MANIFEST_BYTES} bytes`);
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof ArchiveInvalidError) throw error;
      throw new ArchiveInvalidError(`Cannot read manifest.json in ${this.file}: ${messageOf(error)}.`);
    }
    return parseManifest(Buffer.concat(chunks).toString('utf8'));
  }

  async close(): Promise<void> {
    this.zip.close();
  }
}

/** Why an entry name is unsafe, or undefined when it is a plain relative path. */
export function entryNameProblem(name: string): string | undefined {
  const shown = JSON.stringify(name);
  if (name.includes('\0')) return `entry ${shown} has a NUL character in its name`;
  if (name.includes('\\')) return `entry ${shown} has a backslash in its name`;
  if (/^[a-zA-Z]:/.test(name)) return `entry ${shown} starts with a drive letter`;
  if (name.startsWith('/')) return `entry ${shown} is an absolute path`;
  if (name.split('/').includes('..')) return `entry ${shown} climbs out of its folder with ..`;
  return undefined;
}
