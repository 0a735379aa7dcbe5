import { z } from 'zod';
import { ArchiveInvalidError, ConfigError } from '../errors.js';

/** Archive format v1 (docs/design.md, contract). */
export const FORMAT_NAME = 'cupm-backup';
export const FORMAT_VERSION = 1;
export const MANIFEST_ENTRY = 'manifest.json';
export const DUMP_ENTRY = 'database/pg_dumpall.sql';
export const FILES_PREFIX = 'files/';
export const ARCHIVE_PREFIX = 'cupm-backup_';
export const ARCHIVE_SUFFIX = '.zip';
export const PARTIAL_SUFFIX = '.partial';
/** A manifest is a few KB; anything this large is not one of ours. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

const entrySchema = z.object({
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex'),
});

/** manifest.json of format v1 without its entries. Unknown fields are kept: later v1 writers may add some. */
const manifestBodySchema = z.looseObject({
  format: z.literal(FORMAT_NAME),
  formatVersion: z.literal(FORMAT_VERSION),
  createdAt: z.iso.datetime({ offset: true }),
  label: z.string().nullable(),
  tool: z.looseObject({ name: z.string(), version: z.string() }),
  source: z.looseObject({
    hostname: z.string(),
    addresses: z.array(z.string()),
    platform: z.string(),
    osRelease: z.string(),
  }),
  cupm: z.looseObject({ version: z.string().nullable(), installDir: z.string() }),
  postgres: z.looseObject({
    host: z.string(),
    port: z.number().int(),
    serverVersion: z.string(),
    dumpToolVersion: z.string(),
    databases: z.array(z.string()),
    roles: z.array(z.string()),
  }),
});

/** manifest.json of format v1. */
export const manifestSchema = manifestBodySchema.extend({ entries: z.array(entrySchema) });

export type Manifest = z.infer<typeof manifestSchema>;
/** A manifest before its entries are known (what a writer is given). */
export type ManifestBody = z.infer<typeof manifestBodySchema>;
export type ManifestEntry = z.infer<typeof entrySchema>;

/**
 * Parses manifest.json text. A newer formatVersion is refused with its own message (upgrade the
 * tool); anything else malformed is named field by field.
 */
export function parseManifest(text: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ArchiveInvalidError(`manifest.json is not valid JSON: ${(error as Error).message}.`);
  }
  const head = z.looseObject({ format: z.unknown(), formatVersion: z.unknown() }).safeParse(json);
  if (
    head.success &&
    head.data.format === FORMAT_NAME &&
    typeof head.data.formatVersion === 'number' &&
    head.data.formatVersion > FORMAT_VERSION
  ) {
    throw new ArchiveInvalidError(
      `The archive has format version ${head.data.formatVersion}; this cupm-backup reads versions up to ${FORMAT_VERSION}.`,
      { hint: 'use a newer cupm-backup to read this archive' },
    );
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ArchiveInvalidError('manifest.json is not a cupm-backup v1 manifest:', {
      problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`),
    });
  }
  return parsed.data;
}

/** The archive file name: cupm-backup_<host>_<yyyymmddThhmmssZ>[_<label>].zip */
export function archiveFileName(hostname: string, createdAt: Date, label: string | null): string {
  const stamp = createdAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  const key = labelKey(label);
  const suffix = key ? `_${key}` : '';
  return `${ARCHIVE_PREFIX}${safeNamePart(hostname)}_${stamp}${suffix}${ARCHIVE_SUFFIX}`;
}

/**
 * A label's one form, the same in the archive name and the manifest: lowercase letters, digits
 * and '-' ("Pre Upgrade" -> "pre-upgrade"). Spaces and underscores become '-'; any other
 * character is refused (exit 2), so no two spellings of a label can exist.
 */
export function canonicalLabel(text: string): string {
  const label = text
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(label)) {
    throw new ConfigError(`The label ${JSON.stringify(text)} has characters a label cannot hold.`, {
      state: 'nothing was done',
      hint: 'use letters, digits and "-" (e.g. --label pre-upgrade); spaces become "-"',
    });
  }
  return label;
}

/**
 * The canonical form of a label as any archive recorded it (older ones kept "pre upgrade" or
 * "Pre_Upgrade" in the manifest): for comparing labels, never for writing one. Null for none.
 */
export function labelKey(label: string | null | undefined): string | null {
  if (label === null || label === undefined) return null;
  return (
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || null
  );
}

/** Keeps a name part portable across Windows and POSIX file systems. */
export function safeNamePart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'unnamed';
}

/** The archive entry name of a CUPM file, from its path relative to the install dir. */
export function fileEntryName(relativePath: string): string {
  return FILES_PREFIX + relativePath.split(/[\\/]+/).join('/');
}
