import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, type Transform } from 'node:stream';
import { ConfigError, CupmError, JobFailedError, messageOf } from '../errors.js';
import { startAgeEncryption } from './age.js';
import { ENCRYPTED_SUFFIX, type ArchiveKeys } from './encryption.js';
import { MANIFEST_ENTRY, PARTIAL_SUFFIX, type Manifest, type ManifestBody, type ManifestEntry } from './format.js';
import { Measurer, type Measurement } from './measure.js';
import { ArchiveReader } from './reader.js';
import { ZipStream } from './zip-stream.js';
import { syncDirectory } from '../file-system.js';

/**
 * Deflate level, chosen by measurement (README "Performance"): the fastest level whose archive
 * stays within 1.1 x the size of `gzip -6` of the dump. On a generated CUPM database, against
 * gzip -6: level 1 1.18 x, 2-3 1.12 x, 4 1.07 x, 6 0.98 x; backup time against pg_dumpall:
 * 1.4 x, 1.5 x, 1.8 x, 2.3 x (two cores). CUPM_COMPRESSION_LEVEL overrides it.
 */
export const DEFAULT_COMPRESSION_LEVEL = 4;

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
  private readonly zip = new ZipStream();
  private readonly written: Promise<void>;
  /** Entries are written one after the other: each waits for the one before. */
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    readonly finalPath: string,
    private readonly output: fs.WriteStream,
    private readonly level: number,
    /** How this process reads the archive back: the file key when it is encrypted. */
    readonly keys: ArchiveKeys,
    encrypt: Transform | undefined,
  ) {
    this.partialPath = finalPath + PARTIAL_SUFFIX;
    // The archive is a ZIP byte stream piped to the file; encrypted, it goes through age on its
    // way there (encryption.ts).
    this.written = encrypt ? pipeline(this.zip.zip, encrypt, output) : pipeline(this.zip.zip, output);
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
    const output = fs.createWriteStream(partial, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1024 * 1024 });
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
  async addStream(
    name: string,
    source: Readable,
    options: { tailBytes?: number; onBytes?: (n: number) => void } = {},
  ): Promise<Measurement> {
    const measurer = new Measurer(options.tailBytes ?? 0, options.onBytes);
    const added = this.queue.then(async () => {
      this.throwIfFailed();
      // A source that errors or is closed before its end fails the entry (pipeline), and so the archive.
      await this.zip.addEntry(name, source, { level: this.level, observe: (chunk) => measurer.update(chunk) });
    });
    this.queue = added.catch(() => {});
    try {
      await Promise.race([added, this.failed()]);
    } catch (error) {
      this.fail(error as Error);
    }
    this.throwIfFailed();
    const measurement = measurer.finish();
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
    const text = Buffer.from(JSON.stringify(full, null, 2) + '\n', 'utf8');
    const done = this.queue.then(async () => {
      this.throwIfFailed();
      await this.zip.addEntry(MANIFEST_ENTRY, Readable.from([text]), { level: this.level });
      await this.zip.finish();
    });
    this.queue = done.catch(() => {});
    // When the output failed first (a full disk), the ZIP stream may wait for it forever: the
    // failure settles the race, so the backup never hangs with the services stopped.
    await Promise.race([done.catch((error: Error) => this.fail(error)), this.failed()]);
    await Promise.race([this.written.catch(() => {}), this.failed()]);
    this.throwIfFailed();
    this.closed = true;
    await checkCentralDirectory(this.partialPath, full, this.keys);
    await fsp.rename(this.partialPath, this.finalPath);
    await syncDirectory(path.dirname(this.finalPath));
    const { size } = await fsp.stat(this.finalPath);
    return { path: this.finalPath, size, manifest: full };
  }

  /**
   * Aborts after `error` ended the job named `job` ("The backup"), and returns what to throw: the
   * CupmError at its root (a writer failure wraps the source's), or a JobFailedError; either way
   * saying that no archive was written.
   */
  async abortAfter(error: unknown, job: string): Promise<CupmError> {
    await this.abort();
    const state = 'no archive was written (the partial file was removed)';
    const cause = error instanceof JobFailedError && error.cause instanceof CupmError ? error.cause : error;
    // Its own words kept; told with the archive's state when it has none (a new error: the one thrown stays as made).
    if (cause instanceof CupmError) return cause.state === undefined ? cause.withState(state) : cause;
    return new JobFailedError(`${job} failed: ${messageOf(error)}`, { state, cause: error });
  }

  /** Stops writing and removes the partial file. Safe to call at any time, more than once. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.failure ??= new Error('aborted');
      // Destroying both ends settles the pipeline whatever state the entry being written is in.
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
