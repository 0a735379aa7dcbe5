import fs from 'node:fs';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
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

  private constructor(
    readonly file: string,
    private readonly zip: yauzl.ZipFile,
  ) {}

  /**
   * Opens `file` and reads its whole central directory; a file that is not a ZIP is invalid (exit
   * 3). An age-encrypted archive (`.zip.age`) is read in place with `keys` (encryption.ts).
   */
  static async open(file: string, keys: ArchiveKeys = {}): Promise<ArchiveReader> {
    const encrypted = await openEncrypted(file, keys);
    if (encrypted) return ArchiveReader.openRandomAccess(file, encrypted.reader, encrypted.size);
    let zip: yauzl.ZipFile;
    let access: LocalFileAccess | undefined;
    try {
      access = await LocalFileAccess.open(file);
      zip = await yauzl.fromRandomAccessReaderPromise(access, access.size, {
        lazyEntries: true,
        autoClose: false,
        decodeStrings: false,
        validateEntrySizes: true,
      });
    } catch (error) {
      access?.close(() => {});
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

  /**
   * A stream of the entry's uncompressed bytes; it fails as soon as they pass the size the
   * central directory gives (a zip bomb is not read through), or when they end short of it.
   * yauzl reads the raw bytes; inflating here, in large chunks, is twice as fast as yauzl's
   * 16 KiB ones (verify and restore read whole dumps).
   */
  async openEntry(name: string): Promise<Readable> {
    const info = this.byName.get(name);
    if (!info) throw new ArchiveInvalidError(`${this.file} has no entry ${name}.`);
    const method = info.raw.compressionMethod;
    if (method !== STORED && method !== DEFLATED) {
      throw new ArchiveInvalidError(
        `Cannot read ${name} in ${this.file}: compression method ${method} is not one a cupm-backup archive uses.`,
      );
    }
    if (info.raw.isEncrypted()) throw new ArchiveInvalidError(`Cannot read ${name} in ${this.file}: it is encrypted (ZIP encryption).`);
    let raw: Readable;
    try {
      raw = await this.zip.openReadStreamPromise(info.raw, { decodeFileData: false });
    } catch (error) {
      throw new ArchiveInvalidError(`Cannot read ${name} in ${this.file}: ${messageOf(error)}.`);
    }
    const check = new ExactSize(info.uncompressedSize);
    // Errors of any stage destroy the others, and reach the reader of `check`.
    if (method === STORED) pipeline(raw, check, () => {});
    else pipeline(raw, zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK }), check, () => {});
    return check;
  }

  /** Reads and validates manifest.json (bounded: a huge "manifest" is refused unread). */
  async readManifest(): Promise<Manifest> {
    const info = this.byName.get(MANIFEST_ENTRY);
    if (!info) throw new ArchiveInvalidError(`${this.file} has no manifest.json: it is not a cupm-backup archive, or it is truncated.`);
    if (info.uncompressedSize > MAX_MANIFEST_BYTES) {
      throw new ArchiveInvalidError(
        `manifest.json in ${this.file} is ${info.uncompressedSize} bytes, more than a manifest can be (${MAX_MANIFEST_BYTES}).`,
      );
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

/**
 * A local archive for yauzl, read in READ_SLICE slices (yauzl's own file reader takes 16 KiB
 * ones: a round trip to the thread pool each).
 */
class LocalFileAccess extends yauzl.RandomAccessReader {
  private constructor(
    private readonly fd: number,
    readonly size: number,
  ) {
    super();
  }

  static async open(file: string): Promise<LocalFileAccess> {
    // A plain descriptor: a FileHandle would close it when garbage-collected.
    const fd = await promisify(fs.open)(file, 'r');
    try {
      const stat = await promisify(fs.fstat)(fd);
      if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      return new LocalFileAccess(fd, stat.size);
    } catch (error) {
      fs.close(fd, () => {});
      throw error;
    }
  }

  override _readStreamForRange(start: number, end: number): Readable {
    // Not fs.createReadStream on the shared descriptor: destroying it would close the descriptor.
    const fd = this.fd;
    let position = start;
    return new Readable({
      highWaterMark: READ_SLICE,
      read(size) {
        const length = Math.min(Math.max(size, READ_SLICE), end - position);
        if (length <= 0) {
          this.push(null);
          return;
        }
        const buffer = Buffer.allocUnsafe(length);
        fs.read(fd, buffer, 0, length, position, (error, bytesRead) => {
          if (error) this.destroy(error);
          else if (bytesRead === 0) this.destroy(new Error('unexpected end of file'));
          else {
            position += bytesRead;
            this.push(bytesRead < length ? buffer.subarray(0, bytesRead) : buffer);
          }
        });
      },
    });
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (error: Error | null) => void): void {
    readFully(this.fd, buffer, offset, length, position, callback);
  }

  override close(callback: (error: Error | null) => void): void {
    fs.close(this.fd, (error) => callback(error ?? null));
  }
}

function readFully(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
  callback: (error: Error | null) => void,
): void {
  if (length === 0) return callback(null);
  fs.read(fd, buffer, offset, length, position, (error, bytesRead) => {
    if (error) return callback(error);
    if (bytesRead === 0) return callback(new Error('unexpected end of file'));
    readFully(fd, buffer, offset + bytesRead, length - bytesRead, position + bytesRead, callback);
  });
}

/**
 * Read and inflate sizes, measured (README "Performance"): zlib inflates a whole input chunk
 * without waiting for its reader, so 256 KiB of deflated input is a burst of ~2 MiB of output;
 * 1 MiB reads were 25 % faster but held 40 MB more in memory. yauzl's own 16 KiB reads and
 * inflate chunks ran at half the speed.
 */
const READ_SLICE = 256 * 1024;
const INFLATE_CHUNK = 64 * 1024;
const STORED = 0;
const DEFLATED = 8;

/** Passes exactly `expected` bytes: fails on one more (at once) or on an end before them. */
class ExactSize extends Transform {
  private seen = 0;

  constructor(private readonly expected: number) {
    super({ highWaterMark: INFLATE_CHUNK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected)
      callback(new Error(`too many bytes in the stream: more than the ${this.expected} the central directory gives`));
    // Handed on after the current tick: zlib hands out a chunk and only then starts inflating the
    // next one, so whatever reads this stream (hashing, the dump filter) would otherwise run
    // while zlib's thread waits. Deferred, the two overlap (verify: 1.9 s instead of 2.9 s a GB).
    else process.nextTick(callback, null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.seen < this.expected)
      callback(new Error(`the stream ended after ${this.seen} bytes; the central directory gives ${this.expected}`));
    else callback();
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
