import dns from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';

/**
 * Whether the PostgreSQL server at `host` runs on this machine: a Unix socket folder, a loopback
 * address, this host's name, or a name or address that resolves to one of this host's interfaces.
 * A name that does not resolve counts as remote (we cannot act on a server we cannot place).
 */
export async function isLocalHost(host: string): Promise<boolean> {
  if (host.startsWith('/') || host === '' || host.toLowerCase() === 'localhost') return true;
  if (host.toLowerCase() === os.hostname().toLowerCase()) return true;
  const local = localAddresses();
  const addresses = net.isIP(stripBrackets(host)) ? [stripBrackets(host)] : await resolve(host);
  return addresses.some((address) => isLoopback(address) || local.has(normalize(address)));
}

/**
 * Whether two host names name the same machine (PGHOST and CUPM_SERVER): equal names, or names
 * that resolve to a common address. A name that does not resolve matches only itself.
 */
export async function sameHost(a: string, b: string): Promise<boolean> {
  const [x, y] = [stripBrackets(a).toLowerCase(), stripBrackets(b).toLowerCase()];
  if (x === y) return true;
  const addressesOf = async (host: string) => new Set((net.isIP(host) ? [host] : await resolve(host)).map(normalize));
  const [first, second] = await Promise.all([addressesOf(x), addressesOf(y)]);
  return [...first].some((address) => second.has(address));
}

function localAddresses(): Set<string> {
  const set = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const info of list ?? []) set.add(normalize(info.address));
  return set;
}

async function resolve(host: string): Promise<string[]> {
  try {
    return (await dns.lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

function isLoopback(address: string): boolean {
  const plain = normalize(address);
  return plain === '::1' || /^127\./.test(plain);
}

/** Lower case, no zone id, IPv4-mapped IPv6 as plain IPv4. */
function normalize(address: string): string {
  const plain = address.toLowerCase().replace(/%.*$/, '');
  return plain.startsWith('::ffff:') && net.isIPv4(plain.slice(7)) ? plain.slice(7) : plain;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
