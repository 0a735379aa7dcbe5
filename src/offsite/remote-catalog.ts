import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { ByteSource } from '../archive/age.js';
import { readManifestFrom } from '../archive/catalog.js';
import { openEncryptedSource, type ArchiveKeys } from '../archive/encryption.js';
import type { Manifest } from '../archive/format.js';
import { factsFromName, isArchiveName, isEncryptedName, type NameFacts } from '../archive/names.js';
import { ArchiveReader } from '../archive/reader.js';
import type { DestinationConnection, RemoteFile } from './destination.js';

/** An archive found at a destination, with its manifest or the reason it cannot be read. */
export interface RemoteArchive {
  name: string;
  size: number;
  manifest?: Manifest;
  error?: string;
  /** An age-encrypted archive (`.zip.age`). */
  encrypted?: boolean;
  /** Encrypted and not opened (no identity, or not its): only its name speaks for it. */
  locked?: string;
  nameFacts?: NameFacts;
}

/**
 * Lists the archives at a destination and reads each one's manifest in place, through ranged
 * reads of its central directory and manifest entry (a few KB per archive, whatever its size;
 * an encrypted one is decrypted chunk by chunk the same way when `keys` open it).
 * No sidecar file is kept: an archive copied there by hand is judged like any other, and there is
 * no second file that could disagree with the archive.
 */
export async function listRemoteArchives(
  connection: DestinationConnection,
  display: string,
  keys: ArchiveKeys = {},
): Promise<RemoteArchive[]> {
  const files = (await connection.list()).filter((f) => isArchiveName(f.name));
  const archives: RemoteArchive[] = [];
  for (const file of files) {
    const entry: RemoteArchive = { name: file.name, size: file.size };
    const facts = factsFromName(file.name);
    if (facts) entry.nameFacts = facts;
    const label = `${file.name} on ${display}`;
    if (isEncryptedName(file.name)) entry.encrypted = true;
    await readManifestFrom(entry, () => openRemoteArchive(connection, file, label, keys));
    archives.push(entry);
  }
  const when = (a: RemoteArchive) => Date.parse(a.manifest?.createdAt ?? a.nameFacts?.createdAt ?? '1970-01-01T00:00:00Z');
  return archives.sort((a, b) => when(a) - when(b) || a.name.localeCompare(b.name));
}

/**
 * Opens an archive at a destination in place: its central directory and the entries asked for
 * are fetched by ranged reads, never the whole file (an encrypted one decrypted chunk by chunk).
 */
export async function openRemoteArchive(
  connection: DestinationConnection,
  file: RemoteFile,
  label: string,
  keys: ArchiveKeys = {},
): Promise<ArchiveReader> {
  if (!isEncryptedName(file.name)) return ArchiveReader.openRandomAccess(label, new RangeReader(connection, file.name), file.size);
  const opened = await openEncryptedSource(new RemoteSource(connection, file.name, file.size), label, keys);
  return ArchiveReader.openRandomAccess(label, opened.reader, opened.size);
}

/** yauzl's window onto a file at a destination: each range is one ranged read. */
class RangeReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly connection: DestinationConnection,
    private readonly name: string,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return this.connection.createReadStream(this.name, { start, end });
  }
}

/** A file at a destination as a ByteSource (for the age decryption of an off-site archive). */
class RemoteSource implements ByteSource {
  constructor(
    private readonly connection: DestinationConnection,
    private readonly name: string,
    readonly size: number,
  ) {}

  async read(position: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, position + length);
    if (end <= position) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of this.connection.createReadStream(this.name, { start: position, end })) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {}
}
