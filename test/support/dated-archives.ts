import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { archiveFileName } from '../../src/archive/format.js';
import { buildZip, manifestFor, typicalEntries } from './archives.js';

export interface DatedArchive {
  createdAt: string;
  host?: string;
  label?: string | null;
}

/**
 * Writes a valid archive (it passes verify) made at `createdAt` by `host` (default this machine),
 * named as the backup would name it. Returns its file name.
 */
export async function writeArchiveAt(dir: string, spec: DatedArchive): Promise<string> {
  const host = spec.host ?? os.hostname();
  const label = spec.label ?? null;
  const name = archiveFileName(host, new Date(spec.createdAt), label);
  const entries = typicalEntries();
  const base = manifestFor(entries);
  await buildZip(
    path.join(dir, name),
    entries,
    manifestFor(entries, { createdAt: spec.createdAt, label, source: { ...base.source, hostname: host } }),
  );
  return name;
}

/** Writes a file with an archive's name that is not a ZIP at all (a truncated copy, a disk error). */
export async function writeCorruptArchive(dir: string, createdAt: string, host = os.hostname()): Promise<string> {
  const name = archiveFileName(host, new Date(createdAt), null);
  await fs.writeFile(path.join(dir, name), Buffer.from('PK\u0003\u0004 this is not the rest of a zip file'));
  return name;
}
