import { ARCHIVE_PREFIX, ARCHIVE_SUFFIX } from './format.js';
import { ENCRYPTED_SUFFIX } from './encryption.js';

/** What an archive's name says: written by the tool when it made the archive (archiveFileName). */
export interface NameFacts {
  /** The host part of the name (the host name made file-name safe). */
  hostname: string;
  /** The UTC stamp as ISO-8601. */
  createdAt: string;
  label: string | null;
}

const NAME = /^cupm-backup_(.+?)_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:_(.+?))?\.zip(?:\.age)?$/;

/** A cupm-backup archive name: `cupm-backup_*.zip`, or `.zip.age` when encrypted. */
export function isArchiveName(name: string): boolean {
  return name.startsWith(ARCHIVE_PREFIX) && (name.endsWith(ARCHIVE_SUFFIX) || isEncryptedName(name));
}

/** `<archive>.zip.age`: encrypted to age recipients. */
export function isEncryptedName(name: string): boolean {
  return name.endsWith(ARCHIVE_SUFFIX + ENCRYPTED_SUFFIX);
}

/** The host, time and label an archive name carries, or undefined when it is not a name the tool writes. */
export function factsFromName(name: string): NameFacts | undefined {
  const match = NAME.exec(name);
  if (!match) return undefined;
  const [, hostname, year, month, day, hour, minute, second, label] = match;
  const createdAt = `${year}-${month}-${day}T${hour}:${minute}:${second}.000Z`;
  if (Number.isNaN(Date.parse(createdAt)) || new Date(createdAt).toISOString() !== createdAt) return undefined;
  return { hostname: hostname!, createdAt, label: label ?? null };
}
