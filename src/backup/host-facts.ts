import os from 'node:os';

/** The facts about this host a manifest records (source.*). */
export interface HostFacts {
  hostname: string;
  addresses: string[];
  platform: string;
  osRelease: string;
}

/**
 * Hostname and the addresses other hosts reach it by: loopback and IPv6 link-local addresses are
 * left out (they cannot be the "old NICE host" of a migration).
 */
export function hostFacts(): HostFacts {
  const addresses: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80')) continue;
      if (!addresses.includes(info.address)) addresses.push(info.address);
    }
  }
  return { hostname: os.hostname(), addresses, platform: process.platform, osRelease: `${os.type()} ${os.release()} (${os.version()})` };
}
