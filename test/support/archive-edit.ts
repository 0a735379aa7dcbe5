import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { DUMP_ENTRY, MANIFEST_ENTRY, type Manifest } from '../../src/archive/format.js';
import { ArchiveReader } from '../../src/archive/reader.js';
import { buildZip } from './archives.js';

/** An archive taken apart: its manifest and every entry's bytes (test archives are small). */
export interface ArchiveContents {
  manifest: Manifest;
  entries: Map<string, Buffer>;
}

export async function readArchive(file: string): Promise<ArchiveContents> {
  const reader = await ArchiveReader.open(file);
  try {
    const manifest = await reader.readManifest();
    const entries = new Map<string, Buffer>();
    for (const name of reader.entryNames) {
      if (name === MANIFEST_ENTRY) continue;
      const chunks: Buffer[] = [];
      for await (const chunk of await reader.openEntry(name)) chunks.push(chunk as Buffer);
      entries.set(name, Buffer.concat(chunks));
    }
    return { manifest, entries };
  } finally {
    await reader.close();
  }
}

/**
 * Writes a variant of a real archive: entries and manifest changed by `edit`, the manifest's
 * entries list measured again, so the result verifies (unless the edit breaks it on purpose).
 */
export async function editArchive(source: string, target: string, edit: (contents: ArchiveContents) => void): Promise<string> {
  const contents = await readArchive(source);
  edit(contents);
  const manifest: Manifest = {
    ...contents.manifest,
    entries: [...contents.entries].map(([path, data]) => ({
      path,
      size: data.length,
      sha256: crypto.createHash('sha256').update(data).digest('hex'),
    })),
  };
  await buildZip(target, Object.fromEntries(contents.entries), manifest);
  return target;
}

/** The dump of an archive as text (latin1, byte for byte). */
export function dumpText(contents: ArchiveContents): string {
  return contents.entries.get(DUMP_ENTRY)!.toString('latin1');
}

/** Replaces the dump of an archive with `text`. */
export function setDump(contents: ArchiveContents, text: string): void {
  contents.entries.set(DUMP_ENTRY, Buffer.from(text, 'latin1'));
}

/** Replaces a file entry (`sep/dfc.properties`) of an archive. */
export function setFile(contents: ArchiveContents, relative: string, text: string | Buffer): void {
  contents.entries.set(`files/${relative}`, typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
}

export function fileText(contents: ArchiveContents, relative: string): string {
  return contents.entries.get(`files/${relative}`)!.toString('latin1');
}

/** A copy of `source` at `target` with the middle of the file (the compressed dump) damaged: an archive restore refuses (exit 3). */
export async function corruptCopyOf(source: string, target: string): Promise<string> {
  await fs.copyFile(source, target);
  const handle = await fs.open(target, 'r+');
  try {
    const { size } = await handle.stat();
    await handle.write(Buffer.alloc(64, 0x5a), 0, 64, Math.floor(size / 2));
  } finally {
    await handle.close();
  }
  return target;
}
