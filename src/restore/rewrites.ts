import { readConnectionUrl, setConnectionUrlHost } from '../artifacts/dfc-ds-xml.js';
import { dbHostKey, editProperties, readProperties } from '../artifacts/dfc-properties.js';
import { ConfigError, CupmError, messageOf } from '../errors.js';

export const DFC_PROPERTIES = 'sep/dfc.properties';
export const DB_PORT_KEY = 'dfc.postgres.port';

/** One value a rewrite changes, for --dry-run and the confirmation: "before -> after". */
export interface Rewrite {
  file: string;
  what: string;
  before: string;
  after: string;
}

/** What to change in the configuration being restored. */
export interface ConfigEdits {
  /** --db-host: one host, or several for dfc.postgres.hostlist. */
  dbHosts?: string[] | undefined;
  /** --db-port: the port the database listens on. */
  dbPort?: number | undefined;
  /** Other dfc.properties values (ports moved by --auto-ports). */
  properties?: Record<string, string>;
}

export function hasEdits(edits: ConfigEdits): boolean {
  return edits.dbHosts !== undefined || edits.dbPort !== undefined || Object.keys(edits.properties ?? {}).length > 0;
}

/**
 * Rewrites dfc.properties (a latin1 text, byte for byte): the database host under the key in use
 * (dfc.postgres.host, or dfc.postgres.hostlist where that is the one), dfc.postgres.port, and the
 * given values. Every other byte stays. `origin` names the file in messages.
 */
export function rewriteDfcProperties(
  text: string,
  edits: ConfigEdits,
  origin: string,
): { text: string; rewrites: Rewrite[]; warnings: string[] } {
  const values: Record<string, string> = { ...edits.properties };
  if (edits.dbPort !== undefined) values[DB_PORT_KEY] = String(edits.dbPort);
  if (edits.dbHosts !== undefined) {
    const key = dbHostKey(text);
    if (key === undefined) {
      throw new ConfigError(`${origin} has neither dfc.postgres.host nor dfc.postgres.hostlist: the database host cannot be rewritten.`, {
        state: 'nothing was changed',
        hint: 'add dfc.postgres.host=<host> to that dfc.properties (or run without --db-host and edit it by hand)',
      });
    }
    if (key === 'dfc.postgres.host' && edits.dbHosts.length > 1) {
      throw new ConfigError(
        `${origin} names one database host (dfc.postgres.host), and --db-host gave ${edits.dbHosts.length}: ${edits.dbHosts.join(', ')}.`,
        {
          state: 'nothing was changed',
          hint: 'give one host to --db-host',
        },
      );
    }
    values[key] = edits.dbHosts.join(',');
  }
  if (Object.keys(values).length === 0) return { text, rewrites: [], warnings: [] };
  const before = readProperties(text);
  const missing = Object.keys(values).filter((key) => !before.has(key));
  if (missing.length > 0) {
    throw new ConfigError(`${origin} has no ${missing.join(', ')}: it cannot be rewritten.`, { state: 'nothing was changed' });
  }
  const edit = guard(() => editProperties(text, values), origin);
  const changed = edit.text;
  const after = readProperties(changed);
  const warnings = edit.duplicates.map(
    (key) => `${origin} sets ${key} more than once (Java uses the last): every occurrence was rewritten`,
  );
  const rewrites = Object.keys(values)
    .filter((key) => before.get(key) !== after.get(key))
    .map((key) => ({ file: DFC_PROPERTIES, what: key, before: before.get(key) ?? '', after: after.get(key) ?? '' }));
  return { text: changed, rewrites, warnings };
}

/** Rewrites the host (and port) of dfc-ds.xml's <connection-url>; every other byte stays. */
export function rewriteDfcDs(xml: string, edits: ConfigEdits, file: string, origin: string): { text: string; rewrites: Rewrite[] } {
  if (edits.dbHosts === undefined && edits.dbPort === undefined) return { text: xml, rewrites: [] };
  const before = guard(() => readConnectionUrl(xml), origin);
  const host = edits.dbHosts?.[0] ?? before.host;
  const changed = guard(() => setConnectionUrlHost(xml, host, edits.dbPort ?? before.port), origin);
  const after = guard(() => readConnectionUrl(changed), origin);
  const rewrites = before.url === after.url ? [] : [{ file, what: '<connection-url>', before: before.url, after: after.url }];
  return { text: changed, rewrites };
}

/** Editor errors become configuration errors naming the file, with nothing changed. */
function guard<T>(fn: () => T, origin: string): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof CupmError) {
      throw new CupmError(error.exitCode, `${origin}: ${error.message}`, {
        problems: error.problems,
        state: error.state ?? 'nothing was changed',
        hint: error.hint,
        cause: error,
      });
    }
    throw new ConfigError(`${origin} cannot be rewritten: ${messageOf(error)}`, { state: 'nothing was changed' });
  }
}
