/**
 * Host names and addresses as they go into dfc.properties and dfc-ds.xml. A host is validated
 * before any editor sees it, so a value from the command line can never carry a quote, `<`, `&`,
 * a space or a line break into a configuration file or a SQL text.
 */
import net from 'node:net';

/** Why `value` is not a valid host name, IPv4 or IPv6 address, or undefined when it is. */
export function hostProblem(value: string): string | undefined {
  const shown = JSON.stringify(value);
  if (value.length === 0) return 'the host is empty';
  const bad = /[^\x21-\x7e]/.exec(value);
  if (bad) {
    const what =
      bad[0] === ' '
        ? 'a space'
        : /[\r\n]/.test(bad[0])
          ? 'a line break'
          : `the character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return `${shown} is not a host name or address: it contains ${what}`;
  }
  const bracketed = /^\[(.*)\]$/.exec(value);
  if (bracketed || value.includes(':')) {
    const address = bracketed ? bracketed[1]! : value;
    // Zone ids (fe80::1%eth0) mean nothing on another host and are not valid in a JDBC URL.
    if (address.includes('%')) return `${shown} is an IPv6 address with a zone id (%...), which cannot be used from another host`;
    // host:port (10.0.0.7:5432, db01:5432): the port has its own option.
    const hostPort = bracketed ? undefined : /^([^:]+):(\d{1,5})$/.exec(value);
    if (hostPort)
      return `${shown} has a port in it: give the host alone and the port with --db-port (--db-host ${hostPort[1]} --db-port ${hostPort[2]})`;
    return net.isIPv6(address) ? undefined : `${shown} is not a valid IPv6 address`;
  }
  if (/^[0-9.]+$/.test(value)) {
    return net.isIPv4(value) ? undefined : `${shown} is not a valid IPv4 address (four numbers 0-255 separated by dots)`;
  }
  if (value.length > 253) return `${shown} is longer than the 253 characters a host name may have`;
  const labels = value.endsWith('.') ? value.slice(0, -1).split('.') : value.split('.');
  for (const label of labels) {
    if (label.length === 0) return `${shown} is not a valid host name: it has an empty part between dots`;
    if (label.length > 63) return `${shown} is not a valid host name: "${label}" is longer than 63 characters`;
    // Underscores are not DNS, but Windows (NetBIOS) host names have them and resolve on a LAN.
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/.test(label)) {
      return `${shown} is not a valid host name: "${label}" may hold only letters, digits, '-' and '_', and may not start or end with '-'`;
    }
  }
  return undefined;
}

/** A host as written into a URL: IPv6 addresses in brackets, others as they are. */
export function urlHost(host: string): string {
  const bare = stripBrackets(host);
  return net.isIPv6(bare) ? `[${bare}]` : bare;
}

/** `[::1]` -> `::1`; anything else unchanged. */
export function stripBrackets(host: string): string {
  const match = /^\[(.*)\]$/.exec(host);
  return match ? match[1]! : host;
}

/** One host of `dfc.postgres.hostlist`. */
export interface HostListEntry {
  host: string;
  port: number | undefined;
}

/**
 * Parses `dfc.postgres.hostlist`. The install guide does not document its format; we assume what JDBC and
 * CUPM's other settings suggest: hosts separated by commas (spaces around them allowed), each
 * optionally followed by `:PORT`; an IPv6 address with a port is written `[addr]:PORT`, and a bare
 * IPv6 address (more than one ':') has no port. Returns the entries and any problems found.
 */
export function parseHostList(value: string): { entries: HostListEntry[]; problems: string[] } {
  const entries: HostListEntry[] = [];
  const problems: string[] = [];
  const items = value.split(',').map((item) => item.trim());
  if (items.length === 1 && items[0] === '') return { entries, problems: ['the host list is empty'] };
  for (const item of items) {
    if (item === '') {
      problems.push('the host list has an empty item (two commas in a row, or one at an end)');
      continue;
    }
    let host = item;
    let portText: string | undefined;
    const v6WithPort = /^(\[[^\]]*\]):(\d*)$/.exec(item);
    if (v6WithPort) {
      host = v6WithPort[1]!;
      portText = v6WithPort[2]!;
    } else if (!item.startsWith('[') && item.split(':').length === 2) {
      [host, portText] = item.split(':') as [string, string];
    }
    const problem = hostProblem(host);
    if (problem) problems.push(problem);
    let port: number | undefined;
    if (portText !== undefined) {
      port = Number(portText);
      if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
        problems.push(`"${item}" has an invalid port "${portText}" (1-65535)`);
        continue;
      }
    }
    if (!problem) entries.push({ host: stripBrackets(host), port });
  }
  return { entries, problems };
}

/** Writes host list entries back in the format parseHostList reads (`a,b:5433,[::1]:5432`). */
export function formatHostList(entries: HostListEntry[]): string {
  return entries
    .map(({ host, port }) => {
      if (port === undefined) return stripBrackets(host);
      return `${urlHost(host)}:${port}`;
    })
    .join(',');
}
