import crypto from 'node:crypto';

/** One host key line of an OpenSSH known_hosts file. */
export interface KnownHostLine {
  /** The host patterns (comma-separated in the file), or a hashed `|1|salt|hash` entry. */
  patterns: string[];
  type: string;
  key: Buffer;
  revoked: boolean;
  line: number;
}

/**
 * Parses OpenSSH known_hosts text (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): plain and hashed
 * host names, `[host]:port`, wildcards, negation and `@revoked`. `@cert-authority` lines are
 * skipped: certificates are not supported, so they cannot vouch for a host here.
 */
export function parseKnownHosts(text: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift();
      if (marker === '@cert-authority') continue;
      revoked = marker === '@revoked';
      if (!revoked) continue;
    }
    const [hosts, type, base64] = fields;
    if (!hosts || !type || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) continue;
    lines.push({ patterns: hosts.split(','), type, key: Buffer.from(base64, 'base64'), revoked, line: index + 1 });
  }
  return lines;
}

/** The name a host is filed under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The lines of `entries` that are about host:port (revoked ones included, marked). */
export function linesFor(entries: KnownHostLine[], host: string, port: number): KnownHostLine[] {
  const name = knownHostName(host, port).toLowerCase();
  return entries.filter((entry) => matchesPatterns(entry.patterns, name));
}

function matchesPatterns(patterns: string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('|1|')) {
      if (hashedMatches(pattern, name)) matched = true;
      continue;
    }
    const negated = pattern.startsWith('!');
    const glob = (negated ? pattern.slice(1) : pattern).toLowerCase();
    if (globMatches(glob, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** `|1|<base64 salt>|<base64 HMAC-SHA1(salt, name)>`, as `ssh-keygen -H` writes. */
function hashedMatches(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  const mac = crypto.createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  const expected = Buffer.from(hash, 'base64');
  return expected.length === mac.length && crypto.timingSafeEqual(mac, expected);
}

function globMatches(glob: string, name: string): boolean {
  const regex = glob
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  // `[` and `]` of `[host]:port` are literal, not a character class.
  return new RegExp(`^${regex.replace(/\[/g, '\\[').replace(/\]/g, '\\]')}$`).test(name);
}

/** The OpenSSH fingerprint of a public key blob: `SHA256:<base64 without padding>`. */
export function fingerprintOf(key: Buffer): string {
  return 'SHA256:' + crypto.createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The key type named inside a public key blob (its first SSH string). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString('latin1');
}

/** Host key algorithms to ask the server for, so it shows the key type the pin knows. */
export function hostKeyAlgorithmsFor(types: string[]): string[] {
  const algorithms: string[] = [];
  for (const type of types) {
    const expanded = type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
    for (const algorithm of expanded) if (!algorithms.includes(algorithm)) algorithms.push(algorithm);
  }
  return algorithms;
}
