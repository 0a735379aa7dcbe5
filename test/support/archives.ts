import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import { DUMP_ENTRY, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, type Manifest } from '../../src/archive/format.js';

/** The last lines of a whole pg_dumpall script (the trailer a complete dump ends with). */
export const CLUSTER_DUMP_END = ['--', '-- PostgreSQL database cluster dump complete', '--', ''];

/** A complete pg_dumpall-shaped script, small. */
export const SAMPLE_DUMP = [
  '--',
  '-- PostgreSQL database cluster dump',
  '--',
  '',
  'CREATE ROLE cupm;',
  "ALTER ROLE cupm WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc';",
  '',
  ...CLUSTER_DUMP_END,
].join('\n');

export const sha256 = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');

/** A v1 manifest for the given entries, with every required field. */
export function manifestFor(entries: Record<string, Buffer | string>, patch: Partial<Manifest> = {}): Manifest {
  return {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    createdAt: '2026-11-25T02:00:00.000Z',
    label: null,
    tool: { name: 'cupm-backup', version: '0.1.0' },
    source: { hostname: 'cupm-old', addresses: ['192.0.2.10'], platform: 'win32', osRelease: 'Windows Server 2003' },
    cupm: { version: '8.5', installDir: 'C:\\CUPM' },
    postgres: {
      host: 'localhost',
      port: 5432,
      serverVersion: '8.2.4',
      dumpToolVersion: '8.2.4',
      databases: ['cupm', 'postgres'],
      roles: ['cupm', 'postgres'],
    },
    entries: Object.entries(entries).map(([path, data]) => ({ path, size: Buffer.byteLength(data), sha256: sha256(data) })),
    ...patch,
  };
}

/**
 * Writes any ZIP we like with archiver (not our writer), so tests can build archives that are
 * wrong in exactly one way. `manifest: null` leaves manifest.json out; a string is written as is.
 */
export async function buildZip(
  file: string,
  entries: Record<string, Buffer | string>,
  manifest: Manifest | string | null = manifestFor(entries),
): Promise<void> {
  const zip = new ZipArchive({ zlib: { level: 6 } });
  const done = pipeline(zip, fs.createWriteStream(file));
  for (const [name, data] of Object.entries(entries)) zip.append(data, { name });
  if (manifest !== null) zip.append(typeof manifest === 'string' ? manifest : JSON.stringify(manifest), { name: MANIFEST_ENTRY });
  await zip.finalize();
  await done;
}

/** The entries of a typical archive: the dump and two files. */
export function typicalEntries(): Record<string, Buffer | string> {
  return {
    [DUMP_ENTRY]: SAMPLE_DUMP,
    'files/install.log': 'Cisco Unified Provisioning Manager 8.5\r\n',
    'files/sep/dfc.keystore': crypto.randomBytes(512),
  };
}

/** Replaces every occurrence of `from` by `to` (same length) in a file: names in local and central headers alike. */
export async function patchBytes(file: string, from: string, to: string): Promise<void> {
  if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error('patchBytes needs equal lengths');
  const data = await fs.promises.readFile(file);
  const needle = Buffer.from(from);
  let at = data.indexOf(needle);
  if (at < 0) throw new Error(`${from} not found in ${file}`);
  while (at >= 0) {
    Buffer.from(to).copy(data, at);
    at = data.indexOf(needle, at + needle.length);
  }
  await fs.promises.writeFile(file, data);
}
