import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import type { Readable, Transform } from 'node:stream';
import { ZipArchive } from 'archiver';
import { ConfigError, JobFailedError, messageOf } from '../errors.js';
import { startAgeEncryption } from './age.js';
import { ENCRYPTED_SUFFIX, type ArchiveKeys } from './encryption.js';
import { MANIFEST_ENTRY, PARTIAL_SUFFIX, type Manifest, type ManifestBody, type ManifestEntry } from './format.js';
import { MeasureStream, type Measurement } from './measure.js';
import { ArchiveReader } from './reader.js';

/** Deflate level: measured in bench/ as the best speed/size trade-off behind pg_dumpall. */
export const DEFAULT_COMPRESSION_LEVEL = 6;

export interface ArchiveWriterOptions {
  compressionLevel?: number;
  /** age recipients (`age1...`): the archive is written encrypted to them, as `<name>.zip.age`. */
  encryptTo?: readonly string[];
}

/**
 * Writes an archive v1 as `<name>.partial` (mode 0600), streaming every entry and measuring it on
 * the way in; `finish` adds the manifest, fsyncs, checks the central directory and renames, so a
 * file with the final name is always whole. Any failure leaves no file behind (`abort`).
 */
export class ArchiveWriter {
  readonly partialPath: string;
  private readonly entries: ManifestEntry[] = [];
  private readonly zip: ZipArchive;
  private readonly written: Promise<void>;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    readonly finalPath: string,
    private readonly output: fs.WriteStream,
    level: number,
    /** How this process reads the archive back: the file key when it is encrypted. */
    readonly keys: ArchiveKeys,
    encrypt: Transform | undefined,
  ) {
    this.partialPath = finalPath + PARTIAL_SUFFIX;
    this.zip = new ZipArchive({ zlib: { level } });
    // archiver reports recoverable trouble (a file that vanished) as a warning: for a backup it is fatal.
    this.zip.on('warning', (error) => this.fail(error));
    // Encrypted: the ZIP byte stream goes through age on its way to the file (encryption.ts).
    this.written = encrypt ? pipeline(this.zip, encrypt, output) : pipeline(this.zip, output);
    this.written.catch((error: Error) => this.fail(error));
  }

  /**
   * Creates `<finalPath>.partial`; an existing partial (from a killed run) is replaced. With
   * `encryptTo`, the final name is `<finalPath>.age`.
   */
  static async create(target: string, options: ArchiveWriterOptions = {}): Promise<ArchiveWriter> {
    const encryption = options.encryptTo?.length ? await startEncryption(options.encryptTo) : undefined;
    const finalPath = encryption ? target + ENCRYPTED_SUFFIX : target;
    const partial = finalPath + PARTIAL_SUFFIX;
    await fsp.rm(partial, { force: true });
    // 'wx' + 0600: a fresh file that only its owner can read (it holds password hashes and keys).
    const output = fs.createWriteStream(partial, { flags: 'wx', mode: 0o600, flush: true });
    await new Promise<void>((resolve, reject) => {
      output.once('open', () => resolve());
      output.once('error', reject);
    }).catch((error: NodeJS.ErrnoException) => {
      throw new JobFailedError(`Cannot create the archive ${partial}: ${error.code ?? error.message}.`, {
        state: 'nothing was written',
        hint: 'check that the backup folder exists, is writable and has free space',
      });
    });
    const keys: ArchiveKeys = encryption ? { fileKey: encryption.fileKey } : {};
    return new ArchiveWriter(finalPath, output, options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL, keys, encryption?.stream);
  }

  /** Streams `source` into entry `name`; resolves with its measurement once it is fully written. */
  async addStream(name: string, source: Readable, options: { tailBytes?: number; onBytes?: (n: number) => void } = {}): Promise<Measurement> {
    this.throwIfFailed();
    const measure = new MeasureStream(options.tailBytes ?? 0, options.onBytes);
    const entryDone = new Promise<void>((resolve) => {
      const onEntry = (entry: { name: string }) => {
        if (entry.name !== name) return;
        this.zip.off('entry', onEntry);
        resolve();
      };
      this.zip.on('entry', onEntry);
    });
    // A source that errors or is closed before its end must fail the archive, not end the entry
    // quietly with what came so far.
    finished(source).catch((error: Error) => this.fail(error));
    this.zip.append(source.pipe(measure), { name, mode: 0o600 });
    await Promise.race([entryDone, this.written.then(() => {}, () => {}), this.failed()]);
    this.throwIfFailed();
    const measurement = measure.measurement;
    this.entries.push({ path: name, size: measurement.size, sha256: measurement.sha256 });
    return measurement;
  }

  /** Adds a file from disk under entry `name`. */
  async addFile(name: string, file: string): Promise<Measurement> {
    return this.addStream(name, fs.createReadStream(file));
  }

  /** The entries written so far, as the manifest will list them. */
  get manifestEntries(): ManifestEntry[] {
    return [...this.entries];
  }

  /**
   * Writes manifest.json (with the entries), closes the ZIP, fsyncs, checks the central directory
   * against the manifest, and renames to the final name. Returns the final size in bytes.
   */
  async finish(manifest: ManifestBody): Promise<{ path: string; size: number; manifest: Manifest }> {
    this.throwIfFailed();
    const full: Manifest = { ...manifest, entries: this.manifestEntries };
    this.zip.append(JSON.stringify(full, null, 2) + '\n', { name: MANIFEST_ENTRY, mode: 0o600 });
    // finalize() settles only when archiver ends; when the output failed first (a full disk), it
    // never does, and awaiting it alone would hang the backup with the services stopped.
    await Promise.race([this.zip.finalize().catch((error: Error) => this.fail(error)), this.failed()]);
    await this.written.catch(() => {});
    this.throwIfFailed();
    this.closed = true;
    await checkCentralDirectory(this.partialPath, full, this.keys);
    await fsp.rename(this.partialPath, this.finalPath);
    await syncDirectory(path.dirname(this.finalPath));
    const { size } = await fsp.stat(this.finalPath);
    return { path: this.finalPath, size, manifest: full };
  }

  /** Stops writing and removes the partial file. Safe to call at any time, more than once. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.failure ??= new Error('aborted');
      // Destroying both ends settles the pipeline whatever state archiver's queue is in.
      this.zip.abort();
      this.zip.destroy();
      this.output.destroy();
      await this.written.catch(() => {});
    }
    await fsp.rm(this.partialPath, { force: true });
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.failureListeners.forEach((listener) => listener());
  }

  private readonly failureListeners: Array<() => void> = [];

  private failed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.failure) resolve();
      else this.failureListeners.push(resolve);
    });
  }

  private throwIfFailed(): void {
    if (!this.failure) return;
    const code = (this.failure as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'the disk is full' : messageOf(this.failure);
    throw new JobFailedError(`Writing the archive ${this.partialPath} failed: ${why}.`, { cause: this.failure });
  }
}

/** Re-opens the written ZIP and checks its central directory lists exactly the manifest's entries. */
async function checkCentralDirectory(file: string, manifest: Manifest, keys: ArchiveKeys): Promise<void> {
  const reader = await ArchiveReader.open(file, keys);
  try {
    const problems: string[] = [];
    const names = new Set(reader.entryNames);
    for (const entry of manifest.entries) {
      const info = reader.entry(entry.path);
      if (!info) problems.push(`${entry.path} is missing from the central directory`);
      else if (info.uncompressedSize !== entry.size) {
        problems.push(`${entry.path}: the central directory says ${info.uncompressedSize} bytes, ${entry.size} were written`);
      }
      names.delete(entry.path);
    }
    names.delete(MANIFEST_ENTRY);
    for (const extra of names) problems.push(`${extra} is in the central directory but not in the manifest`);
    const readBack = await reader.readManifest();
    if (JSON.stringify(readBack.entries) !== JSON.stringify(manifest.entries)) {
      problems.push('manifest.json read back differs from what was written');
    }
    if (problems.length > 0) {
      throw new JobFailedError(`The archive just written does not read back correctly: ${file}`, { problems });
    }
  } finally {
    await reader.close();
  }
}

/** Starts age encryption; a recipient age-encryption refuses is a configuration error (exit 2). */
async function startEncryption(recipients: readonly string[]) {
  try {
    return await startAgeEncryption(recipients);
  } catch (error) {
    throw new ConfigError(`Cannot encrypt to ${recipients.join(', ')}: ${messageOf(error)}.`, {
      state: 'nothing was written',
      hint: 'give --encrypt-to (or CUPM_ENCRYPT_TO) the age1... public key age-keygen printed',
    });
  }
}

/** fsync a directory so a rename survives a power cut (not possible, nor needed, on Windows). */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
