import fs from 'node:fs/promises';
import path from 'node:path';
import { CupmError, messageOf } from '../errors.js';
import { IdentityRequiredError, WrongIdentityError, sniffArchive, type ArchiveKeys } from './encryption.js';
import type { Manifest } from './format.js';
import { factsFromName, isArchiveName, type NameFacts } from './names.js';
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
  /** An age-encrypted archive (`.zip.age`). */
  encrypted?: boolean;
  /**
   * Encrypted, and no identity given (or not one it was encrypted to): its manifest is unread and
   * only its name speaks for it. Not an error: the backup host is meant to hold no identity.
   */
  locked?: string;
  /** What the name says (host, time, label): the facts of a locked archive. */
  nameFacts?: NameFacts;
}

/**
 * Lists the cupm-backup archives in `dir` (`.zip` and encrypted `.zip.age`), oldest first (by
 * createdAt, from the manifest, else the name, else the file time). Encrypted ones are opened
 * with `keys` when given.
 */
export async function listArchives(dir: string, keys: ArchiveKeys = {}): Promise<CatalogEntry[]> {
  const names = (await fs.readdir(dir)).filter(isArchiveName);
  const entries: CatalogEntry[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const stat = await fs.stat(file);
    if (!stat.isFile()) continue;
    const entry: CatalogEntry = { file, name, size: stat.size, modifiedAt: stat.mtime.toISOString() };
    const facts = factsFromName(name);
    if (facts) entry.nameFacts = facts;
    entry.encrypted = (await sniffArchive(file).catch(() => 'other')) === 'age';
    await readManifestInto(entry, file, entry.encrypted ? keys : {});
    entries.push(entry);
  }
  const when = (e: CatalogEntry) => Date.parse(e.manifest?.createdAt ?? e.nameFacts?.createdAt ?? e.modifiedAt);
  return entries.sort((a, b) => when(a) - when(b) || a.name.localeCompare(b.name));
}

/** Reads the manifest of an archive into its entry: `manifest`, or `locked`, or `error`. */
export async function readManifestInto(entry: CatalogEntry, file: string, keys: ArchiveKeys): Promise<void> {
  await readManifestFrom(entry, () => ArchiveReader.open(file, keys));
}

/**
 * Reads the manifest of the archive `open` opens (a local file, or one at an off-site destination)
 * into `entry`: `manifest`; or `locked` when it is encrypted and not for the keys given; or
 * `error`, also when its entry names are unsafe (the manifest of a hostile archive is not trusted).
 */
export async function readManifestFrom(
  entry: Pick<CatalogEntry, 'manifest' | 'locked' | 'error'>,
  open: () => Promise<ArchiveReader>,
): Promise<void> {
  try {
    const reader = await open();
    try {
      if (reader.structuralProblems.length > 0) throw new Error(`unsafe entries: ${reader.structuralProblems.join('; ')}`);
      entry.manifest = await reader.readManifest();
    } finally {
      await reader.close();
    }
  } catch (error) {
    if (error instanceof IdentityRequiredError || error instanceof WrongIdentityError) {
      entry.locked =
        error instanceof IdentityRequiredError ? 'encrypted; no identity given' : 'encrypted to other recipients than the identity given';
      return;
    }
    entry.error = error instanceof CupmError ? error.describe() : messageOf(error);
  }
}
