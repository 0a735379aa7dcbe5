import fs from 'node:fs/promises';
import path from 'node:path';
import { CupmError, messageOf } from '../errors.js';
import { ARCHIVE_PREFIX, ARCHIVE_SUFFIX, type Manifest } from './format.js';
import { ArchiveReader } from './reader.js';

/** An archive found in a folder, with its manifest, or the reason it cannot be read. */
export interface CatalogEntry {
  file: string;
  name: string;
  size: number;
  modifiedAt: string;
  manifest?: Manifest;
  /** Set when the archive cannot be read: it is listed, never skipped in silence. */
  error?: string;
}

/** Lists the cupm-backup archives in `dir`, oldest first (by createdAt, else file time). */
export async function listArchives(dir: string): Promise<CatalogEntry[]> {
  const names = (await fs.readdir(dir)).filter((n) => n.startsWith(ARCHIVE_PREFIX) && n.endsWith(ARCHIVE_SUFFIX));
  const entries: CatalogEntry[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const stat = await fs.stat(file);
    if (!stat.isFile()) continue;
    const entry: CatalogEntry = { file, name, size: stat.size, modifiedAt: stat.mtime.toISOString() };
    try {
      const reader = await ArchiveReader.open(file);
      try {
        entry.manifest = await reader.readManifest();
      } finally {
        await reader.close();
      }
    } catch (error) {
      entry.error = error instanceof CupmError ? error.describe() : messageOf(error);
    }
    entries.push(entry);
  }
  const when = (e: CatalogEntry) => Date.parse(e.manifest?.createdAt ?? e.modifiedAt);
  return entries.sort((a, b) => when(a) - when(b) || a.name.localeCompare(b.name));
}
