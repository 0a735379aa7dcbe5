import path from 'node:path';
import { parseOffsiteTargets, type OffsiteTarget } from '../offsite/targets.js';
import type { SftpSettings } from '../offsite/sftp.js';

/** Off-site copies (CUPM_OFFSITE, CUPM_OFFSITE_KNOWN_HOSTS, CUPM_OFFSITE_IDENTITY, CUPM_OFFSITE_PASSWORD). */
export interface OffsiteSettings {
  targets: OffsiteTarget[];
  sftp: SftpSettings;
  /** Passwords given in sftp:// URLs and CUPM_OFFSITE_PASSWORD: logs and messages redact them. */
  secrets: string[];
}

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

export const OFFSITE_VARIABLES = ['CUPM_OFFSITE', 'CUPM_OFFSITE_KNOWN_HOSTS', 'CUPM_OFFSITE_IDENTITY', 'CUPM_OFFSITE_PASSWORD'];

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
      problems.push(`${target.display} has no pinned host key: set CUPM_OFFSITE_KNOWN_HOSTS (an OpenSSH known_hosts file) or add ?fingerprint=SHA256:... to its URL. Unknown host keys are refused.`);
    }
    if (target.password === undefined && sftp.password === undefined && sftp.identityFile === undefined) {
      problems.push(`${target.display} has no credentials: set CUPM_OFFSITE_IDENTITY (a private key file) or CUPM_OFFSITE_PASSWORD.`);
    }
  }
  return { targets: parsed.targets, sftp, secrets: [...parsed.secrets, ...(password === undefined ? [] : [password])] };
}
