import path from 'node:path';
import { parseOffsiteTargets, type OffsiteTarget } from '../offsite/targets.js';
import type { SftpSettings } from '../offsite/sftp.js';
import type { S3Settings } from '../offsite/s3-settings.js';

/** Off-site copies (CUPM_OFFSITE, CUPM_OFFSITE_KNOWN_HOSTS, CUPM_OFFSITE_IDENTITY, CUPM_OFFSITE_PASSWORD). */
export interface OffsiteSettings {
  targets: OffsiteTarget[];
  sftp: SftpSettings;
  s3: S3Settings;
  /** Passwords given in sftp:// URLs and CUPM_OFFSITE_PASSWORD: logs and messages redact them. */
  secrets: string[];
}

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

export const OFFSITE_VARIABLES = [
  'CUPM_OFFSITE',
  'CUPM_OFFSITE_KNOWN_HOSTS',
  'CUPM_OFFSITE_IDENTITY',
  'CUPM_OFFSITE_PASSWORD',
  'CUPM_S3_ENDPOINT',
  'CUPM_S3_REGION',
  'CUPM_S3_CREATE_BUCKET',
];

/** Reads the off-site settings; problems are pushed. The files named are read when used, not here. */
export function parseOffsiteSettings(
  get: Get,
  where: Where,
  problems: string[],
  context: { cwd: string; platform: NodeJS.Platform; rawPassword: string | undefined },
): OffsiteSettings {
  const paths = context.platform === 'win32' ? path.win32 : path.posix;
  const parsed = parseOffsiteTargets(get('CUPM_OFFSITE'), { ...context, where: where('CUPM_OFFSITE') });
  problems.push(...parsed.problems);
  const knownHosts = get('CUPM_OFFSITE_KNOWN_HOSTS');
  const identity = get('CUPM_OFFSITE_IDENTITY');
  // Taken verbatim, like PGPASSWORD: a password may begin or end with spaces.
  const password = context.rawPassword === '' ? undefined : context.rawPassword;
  const sftp: SftpSettings = {
    knownHostsFile: knownHosts === undefined ? undefined : paths.resolve(context.cwd, knownHosts),
    identityFile: identity === undefined ? undefined : paths.resolve(context.cwd, identity),
    password,
  };
  for (const target of parsed.targets) {
    if (target.kind !== 'sftp') continue;
    if (target.fingerprint === undefined && sftp.knownHostsFile === undefined) {
      problems.push(
        `${target.display} has no pinned host key: set CUPM_OFFSITE_KNOWN_HOSTS (an OpenSSH known_hosts file) or add ?fingerprint=SHA256:... to its URL. Unknown host keys are refused.`,
      );
    }
    if (target.password === undefined && sftp.password === undefined && sftp.identityFile === undefined) {
      problems.push(`${target.display} has no credentials: set CUPM_OFFSITE_IDENTITY (a private key file) or CUPM_OFFSITE_PASSWORD.`);
    }
  }
  const s3 = parseS3Settings(get, where, problems);
  const s3Secrets = [s3.credentials?.secretAccessKey, s3.credentials?.sessionToken].filter((x): x is string => x !== undefined);
  return { targets: parsed.targets, sftp, s3, secrets: [...parsed.secrets, ...(password === undefined ? [] : [password]), ...s3Secrets] };
}

/**
 * S3 endpoint, region and credentials (CUPM_S3_*, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_PROFILE). Read for `s3://` destinations and for `restore/verify s3://...`;
 * without keys or a profile the SDK's own chain (~/.aws, instance roles) is used.
 */
export function parseS3Settings(get: Get, where: Where, problems: string[]): S3Settings {
  const endpointText = get('CUPM_S3_ENDPOINT');
  let endpoint: string | undefined;
  if (endpointText !== undefined) {
    try {
      const url = new URL(endpointText);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
      if (url.username || url.password)
        problems.push(`${where('CUPM_S3_ENDPOINT')} must not hold credentials: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`);
      endpoint = url.origin + url.pathname.replace(/\/+$/, '');
    } catch {
      problems.push(`${where('CUPM_S3_ENDPOINT')} is not an http:// or https:// URL: ${endpointText}.`);
    }
  }
  const createText = get('CUPM_S3_CREATE_BUCKET');
  if (createText !== undefined && !['0', '1'].includes(createText))
    problems.push(`${where('CUPM_S3_CREATE_BUCKET')} must be 1 or 0, not "${createText}".`);
  const accessKeyId = get('AWS_ACCESS_KEY_ID');
  const secretAccessKey = get('AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    problems.push(
      `${accessKeyId === undefined ? 'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not' : 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not'}: set both, or neither (a profile).`,
    );
  }
  const sessionToken = get('AWS_SESSION_TOKEN');
  return {
    endpoint,
    region: get('CUPM_S3_REGION') ?? 'us-east-1',
    createBucket: createText === '1',
    credentials:
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) }
        : undefined,
    profile: get('AWS_PROFILE'),
  };
}
