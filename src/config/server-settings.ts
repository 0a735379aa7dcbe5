/**
 * The CUPM server when the tool runs on an admin host (CUPM_SERVER, CUPM_SERVER_USER,
 * CUPM_SERVER_PASSWORD). Unset: the CUPM server is this machine, as it always was.
 */
export interface ServerSettings {
  /** Host name or IP address of the CUPM server, without `\\`. */
  host: string;
  /** The Windows account that controls its services (`DOMAIN\user` or `user`); undefined: none given. */
  user: string | undefined;
  /** Its password; reaches child processes only through an owner-only file or their environment. */
  password: string | undefined;
}

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

export const SERVER_VARIABLES = ['CUPM_SERVER', 'CUPM_SERVER_USER', 'CUPM_SERVER_PASSWORD'];

/** A DNS name, an IPv4 address, or an IPv6 address (bare or in brackets). */
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?)$/;

/** Reads the server settings; problems are pushed. `rawPassword` is the password untrimmed. */
export function parseServerSettings(
  get: Get,
  where: Where,
  problems: string[],
  rawPassword: string | undefined,
): ServerSettings | undefined {
  const text = get('CUPM_SERVER');
  const user = get('CUPM_SERVER_USER');
  // Taken verbatim, like PGPASSWORD: a password may begin or end with spaces.
  const password = rawPassword === '' ? undefined : rawPassword;
  if (text === undefined) {
    if (user !== undefined || password !== undefined) {
      problems.push(
        `${where(user !== undefined ? 'CUPM_SERVER_USER' : 'CUPM_SERVER_PASSWORD')} is set but CUPM_SERVER is not: set CUPM_SERVER to the CUPM server's host name.`,
      );
    }
    return undefined;
  }
  // `\\cupm01` is how Windows people write a server: accepted, kept as the bare name.
  const host = text.replace(/^[\\/]{2}/, '').replace(/^\[(.*)\]$/, '$1');
  if (!HOST_PATTERN.test(host) || host.length > 253) {
    problems.push(`${where('CUPM_SERVER')} must be a host name or IP address (e.g. cupm01.example.com or 10.1.2.3), got "${text}".`);
  }
  return { host, user, password };
}
