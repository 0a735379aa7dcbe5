import type yauzl from 'yauzl';
import { DUMP_ENTRY, FILES_PREFIX, type Manifest } from './format.js';

/**
 * What makes an archive hostile before a byte of its data is read: more entries than any archive
 * of ours has, compression no reader of ours inflates, sizes deflate cannot produce (a zip bomb
 * declares them), names a restore must never write, and "CUPM files" that are not CUPM files.
 * Each is named, so `verify` and `restore` refuse with the reason (exit 3).
 */

/** An archive of ours has 7 entries; a central directory listing more than this is not one. */
export const MAX_ENTRIES = 1000;
/** Deflate cannot expand more than about 1032:1; declared sizes beyond that are lies. */
export const MAX_DEFLATE_RATIO = 1032;
/** The largest CUPM file a restore holds in memory (they are a few KB; the keystore a few more). */
export const MAX_CUPM_FILE_BYTES = 64 * 1024 * 1024;

const STORED = 0;
const DEFLATED = 8;
const ENCRYPTED_FLAG = 0x1;

/** Why a central directory with `count` entries is refused before it is read, or undefined. */
export function entryCountProblem(count: number): string | undefined {
  return count > MAX_ENTRIES
    ? `the central directory lists ${count} entries; an archive of cupm-backup has a handful (at most ${MAX_ENTRIES} are read)`
    : undefined;
}

/** Problems of one central directory entry that make reading it unsafe or pointless. */
export function rawEntryProblems(name: string, raw: yauzl.Entry): string[] {
  const shown = JSON.stringify(name);
  const problems: string[] = [];
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f]/.test(name)) problems.push(`entry ${shown} has a control character in its name`);
  if (name.includes(':')) problems.push(`entry ${shown} has a colon in its name (a Windows drive or alternate data stream)`);
  if (raw.compressionMethod !== STORED && raw.compressionMethod !== DEFLATED) {
    problems.push(`entry ${shown} uses compression method ${raw.compressionMethod}; only stored (0) and deflate (8) are read`);
  }
  if ((raw.generalPurposeBitFlag & ENCRYPTED_FLAG) !== 0)
    problems.push(`entry ${shown} uses ZIP encryption (cupm-backup encrypts whole archives with age, never entries)`);
  if (raw.compressionMethod === DEFLATED && raw.uncompressedSize > raw.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    problems.push(
      `entry ${shown} claims ${raw.uncompressedSize} bytes from ${raw.compressedSize} compressed: more than deflate can produce (a zip bomb?)`,
    );
  }
  return problems;
}

/** The paths of the five CUPM files (docs/cupm.md) as entries, the JBoss folder one plain name. */
const CUPM_FILE_PATHS = [
  /^install\.log$/,
  /^sep\/dfc\.properties$/,
  /^sep\/dfc\.keystore$/,
  /^[A-Za-z0-9_][A-Za-z0-9._-]*\/server\/cupm\/conf\/login-config\.xml$/,
  /^[A-Za-z0-9_][A-Za-z0-9._-]*\/server\/cupm\/deploy\/dfc-ds\.xml$/,
];

/**
 * What the manifest lists that a restore must not act on: a `files/` entry is written into the
 * install dir, so it must be one of the five CUPM files (a deployable .war or a script next to
 * them would run with JBoss); and a CUPM file is small.
 */
export function manifestPathProblems(manifest: Manifest): string[] {
  const problems: string[] = [];
  for (const entry of manifest.entries) {
    if (entry.path === DUMP_ENTRY || !entry.path.startsWith(FILES_PREFIX)) continue;
    const relative = entry.path.slice(FILES_PREFIX.length);
    if (!CUPM_FILE_PATHS.some((pattern) => pattern.test(relative))) {
      problems.push(
        `the manifest lists ${JSON.stringify(entry.path)}, which is not one of the five CUPM files a backup carries (a restore would write it into the install dir)`,
      );
    } else if (entry.size > MAX_CUPM_FILE_BYTES) {
      problems.push(`${entry.path} is declared ${entry.size} bytes: too large to be a CUPM file`);
    }
  }
  return problems;
}
