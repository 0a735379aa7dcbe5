import path from 'node:path';
import { isEncryptedName } from '../archive/names.js';
import type { ArchiveKeys } from '../archive/encryption.js';
import type { ArchiveReader } from '../archive/reader.js';
import { ArchiveInvalidError, ConfigError } from '../errors.js';
import { openRemoteArchive } from './remote-catalog.js';
import { S3Destination } from './s3.js';
import type { S3Settings } from './s3-settings.js';
import { parseS3Location } from './targets.js';

/** `restore s3://bucket/prefix/NAME.zip`, `verify s3://...`: an archive read straight from S3. */
export function isS3Url(text: string): boolean {
  return /^s3:\/\//i.test(text);
}

/** True when an archive named by a URL is age-encrypted (by its name: nothing is fetched). */
export function isEncryptedUrl(url: string): boolean {
  return isEncryptedName(path.posix.basename(url));
}

/**
 * Opens `s3://bucket/prefix/NAME.zip` in place: the same checks as an s3:// destination first
 * (bucket, credentials: a ConfigError, exit 2), then the central directory and the entries asked
 * for by ranged GETs. The archive is streamed, never downloaded whole.
 */
export async function openS3Archive(url: string, settings: S3Settings, keys: ArchiveKeys = {}): Promise<ArchiveReader> {
  const location = parseS3Location(url);
  if (typeof location === 'string') throw new ConfigError(`"${url}" is not an archive in S3: ${location}.`);
  const name = path.posix.basename(location.key);
  if (name === '' || location.key === '')
    throw new ConfigError(`"${url}" names a bucket, not an archive: write s3://bucket/prefix/NAME.zip.`);
  const dir = path.posix.dirname(location.key);
  const prefix = dir === '.' ? '' : `${dir}/`;
  const destination = new S3Destination(
    { kind: 's3', bucket: location.bucket, prefix, display: `s3://${location.bucket}/${prefix}`.replace(/\/$/, '') },
    settings,
  );
  const connection = await destination.connect();
  const file = await connection.stat(name);
  if (!file) {
    await connection.close();
    throw new ArchiveInvalidError(`Cannot read ${url}: there is no such object.`, {
      hint: 'list the archives there with cupm-backup list s3://bucket/prefix',
    });
  }
  // The connection lives as long as the process: the reader fetches ranges until it is closed.
  return openRemoteArchive(connection, file, url, keys);
}

/** What verifyArchive needs to read an s3:// archive in place. */
export function s3Remote(
  url: string,
  settings: S3Settings,
): { open(keys: ArchiveKeys | undefined): Promise<ArchiveReader>; encrypted: boolean } {
  return { open: (keys) => openS3Archive(url, settings, keys ?? {}), encrypted: isEncryptedUrl(url) };
}
