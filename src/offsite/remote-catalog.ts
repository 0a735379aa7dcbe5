import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { ARCHIVE_PREFIX, ARCHIVE_SUFFIX, type Manifest } from '../archive/format.js';
import { ArchiveReader } from '../archive/reader.js';
import { CupmError, messageOf } from '../errors.js';
import type { DestinationConnection } from './destination.js';

/** An archive found at a destination, with its manifest or the reason it cannot be read. */
export interface RemoteArchive {
  name: string;
  size: number;
  manifest?: Manifest;
  error?: string;
}

/**
 * Lists the archives at a destination and reads each one's manifest in place, through ranged
 * reads of its central directory and manifest entry (a few KB per archive, whatever its size).
 * No sidecar file is kept: an archive copied there by hand is judged like any other, and there is
 * no second file that could disagree with the archive.
 */
export async function listRemoteArchives(connection: DestinationConnection, display: string): Promise<RemoteArchive[]> {
  const files = (await connection.list()).filter((f) => f.name.startsWith(ARCHIVE_PREFIX) && f.name.endsWith(ARCHIVE_SUFFIX));
  const archives: RemoteArchive[] = [];
  for (const file of files) {
    const entry: RemoteArchive = { name: file.name, size: file.size };
    try {
      const reader = await ArchiveReader.openRandomAccess(`${file.name} on ${display}`, new RangeReader(connection, file.name), file.size);
      try {
        entry.manifest = await reader.readManifest();
      } finally {
        await reader.close();
      }
    } catch (error) {
      entry.error = error instanceof CupmError ? error.describe() : messageOf(error);
    }
    archives.push(entry);
  }
  const when = (a: RemoteArchive) => (a.manifest ? Date.parse(a.manifest.createdAt) : 0);
  return archives.sort((a, b) => when(a) - when(b) || a.name.localeCompare(b.name));
}

/** yauzl's window onto a file at a destination: each range is one ranged read. */
class RangeReader extends yauzl.RandomAccessReader {
  constructor(private readonly connection: DestinationConnection, private readonly name: string) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return this.connection.createReadStream(this.name, { start, end });
  }
}
