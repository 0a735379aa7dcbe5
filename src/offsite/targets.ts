import path from 'node:path';
import { redactUrlText } from '../security/redact.js';

/**
 * Off-site destinations as configured (CUPM_OFFSITE). Parsing only: connecting is the drivers' job.
 *
 * Several destinations are separated by `|` or by line breaks: `|` cannot occur in a Windows path
 * (UNC or not) and must be percent-encoded in a URL (%7C), and a line break occurs in neither.
 * `;` and `,` were not chosen: both are legal in Windows folder names and in URL paths.
 */
export const OFFSITE_SEPARATOR = /[|\r\n]+/;

/** A folder: a mounted share (`\\server\share\cupm` on Windows, a mount point elsewhere). */
export interface FolderTarget {
  kind: 'folder';
  path: string;
  /** How the destination is shown in logs, records and messages (never holds a secret). */
  display: string;
}

/** An SFTP server: `sftp://user[:password]@host[:port]/path[?fingerprint=SHA256:...]`. */
export interface SftpTarget {
  kind: 'sftp';
  host: string;
  port: number;
  username: string;
  /** Absolute, or relative to the login folder when the URL path starts with `/~/`. */
  path: string;
  /** A password given in the URL (CUPM_OFFSITE_PASSWORD is the better place); never displayed. */
  password: string | undefined;
  /** A pinned host key fingerprint, `SHA256:<base64>` as `ssh-keygen -lf` prints it. */
  fingerprint: string | undefined;
  display: string;
}

/** An S3 bucket (any S3-compatible store): `s3://bucket[/prefix]`; archives are keys under the prefix. */
export interface S3Target {
  kind: 's3';
  bucket: string;
  /** '' or `a/b/`: ends with '/' when not empty. */
  prefix: string;
  display: string;
}

export type OffsiteTarget = FolderTarget | SftpTarget | S3Target;

export interface ParsedTargets {
  targets: OffsiteTarget[];
  problems: string[];
  /** Passwords found in URLs: the log and every message redact them. */
  secrets: string[];
}

/** Parses the value of CUPM_OFFSITE; `where` names the setting in problems. */
export function parseOffsiteTargets(
  text: string | undefined,
  context: { cwd: string; platform: NodeJS.Platform; where: string },
): ParsedTargets {
  const result: ParsedTargets = { targets: [], problems: [], secrets: [] };
  if (text === undefined) return result;
  const seen = new Set<string>();
  for (const item of text
    .split(OFFSITE_SEPARATOR)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const parsed = /^sftp:/i.test(item)
      ? parseSftp(item, context.where, result)
      : /^s3:/i.test(item)
        ? parseS3(item, context.where, result)
        : parseFolder(item, context, result);
    if (!parsed) continue;
    if (seen.has(parsed.display)) {
      result.problems.push(`${context.where} names ${parsed.display} twice.`);
      continue;
    }
    seen.add(parsed.display);
    result.targets.push(parsed);
  }
  return result;
}

function parseFolder(
  item: string,
  context: { cwd: string; platform: NodeJS.Platform; where: string },
  result: ParsedTargets,
): FolderTarget | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) {
    result.problems.push(
      `${context.where}: "${redactUrl(item)}" is not a folder, and sftp:// and s3:// are the only URL schemes supported.`,
    );
    return undefined;
  }
  if (/[a-z]+:\/\//i.test(item)) {
    result.problems.push(
      `${context.where}: "${redactUrl(item)}" looks like two destinations run together; separate destinations with | or a line break.`,
    );
    return undefined;
  }
  const paths = context.platform === 'win32' ? path.win32 : path.posix;
  const folder = paths.resolve(context.cwd, item);
  return { kind: 'folder', path: folder, display: folder };
}

function parseSftp(item: string, where: string, result: ParsedTargets): SftpTarget | undefined {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    result.problems.push(`${where}: "${redactUrl(item)}" is not a valid sftp:// URL (write it as sftp://user@host:port/path).`);
    return undefined;
  }
  const problems: string[] = [];
  const username = safeDecode(url.username);
  const password = url.password === '' ? undefined : safeDecode(url.password);
  if (password !== undefined) result.secrets.push(password, url.password);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!username) problems.push('it names no user (sftp://user@host/path)');
  if (!host) problems.push('it names no host');
  const port = url.port === '' ? 22 : Number(url.port);
  let remotePath = safeDecode(url.pathname);
  if (remotePath === '' || remotePath === '/')
    problems.push('it names no folder (sftp://user@host/srv/backups, or /~/backups for one under the login folder)');
  if (remotePath.startsWith('/~/')) remotePath = remotePath.slice(3);
  remotePath = remotePath.replace(/\/+$/, '');

  let fingerprint: string | undefined;
  // Read the query by hand: URLSearchParams turns the '+' of base64 into a space.
  for (const pair of url.search.replace(/^\?/, '').split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : safeDecode(pair.slice(eq + 1));
    if (key.toLowerCase() === 'fingerprint') {
      fingerprint = normalizeFingerprint(value);
      if (fingerprint === undefined) problems.push(`fingerprint "${value}" is not SHA256:<base64> as ssh-keygen -lf prints it`);
    } else {
      problems.push(`it has an unknown parameter "${key}" (only fingerprint=SHA256:... is known)`);
    }
  }
  const display = `sftp://${encodeURIComponent(username)}@${url.host}${url.pathname.replace(/\/+$/, '')}`;
  if (problems.length > 0) {
    result.problems.push(`${where}: ${display}: ${problems.join('; ')}.`);
    return undefined;
  }
  return { kind: 'sftp', host, port, username, path: remotePath, password, fingerprint, display };
}

/**
 * `s3://bucket/prefix` -> bucket and key prefix. The prefix is a folder-like key prefix: `.` and
 * `..` segments are refused (stores treat them literally, people read them as folders, and a
 * prefix that "leaves" another one is how two servers' archives end up mixed).
 */
export function parseS3Location(item: string): { bucket: string; key: string } | string {
  const match = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(item.trim());
  if (!match) return 'write it as s3://bucket/prefix (no ?query or #fragment)';
  const bucket = match[1]!;
  if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(bucket))
    return `"${bucket}" is not a bucket name (3 to 63 lower-case letters, digits, dots and dashes)`;
  const segments = (match[2] ?? '').split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.'))
    return 'the prefix has a "." or ".." segment: name the prefix plainly (s3://bucket/cupm/site1)';
  return { bucket, key: segments.join('/') };
}

function parseS3(item: string, where: string, result: ParsedTargets): S3Target | undefined {
  const location = parseS3Location(item);
  if (typeof location === 'string') {
    result.problems.push(`${where}: "${redactUrl(item)}": ${location}.`);
    return undefined;
  }
  const prefix = location.key === '' ? '' : `${location.key}/`;
  return { kind: 's3', bucket: location.bucket, prefix, display: `s3://${location.bucket}${prefix === '' ? '' : `/${location.key}`}` };
}

/** `SHA256:abc...` with or without base64 padding -> without, as OpenSSH prints it. */
export function normalizeFingerprint(text: string): string | undefined {
  const match = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(text.trim());
  return match ? `SHA256:${match[1]}` : undefined;
}

/** A URL with its password replaced by `***`, for messages about a URL that did not parse. */
export const redactUrl = redactUrlText;

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
