import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { ConfigError } from '../errors.js';
import { parsePgVersion, type PgVersion } from './connection.js';

export type PgToolName = 'pg_dumpall' | 'psql' | 'pg_dump';

export interface PgTool {
  name: PgToolName;
  path: string;
  version: PgVersion;
}

/** Where the configuration says client tools are (CUPM_PG_BIN, CUPM_INSTALL_DIR) and for which platform. */
export interface PgToolSettings {
  pgBin: string | undefined;
  installDir: string | undefined;
  platform: NodeJS.Platform;
}

/**
 * Finds a PostgreSQL client tool: CUPM_PG_BIN, then CUPM's bundled `<install>/pgsql8.2/bin`,
 * then PATH; and reads its version, since what it can do (`-o`, `-w`) depends on it.
 */
export async function findPgTool(config: PgToolSettings, name: PgToolName): Promise<PgTool> {
  const file = config.platform === 'win32' ? `${name}.exe` : name;
  const candidates: string[] = [];
  if (config.pgBin) candidates.push(path.join(config.pgBin, file));
  else {
    if (config.installDir) candidates.push(path.join(config.installDir, 'pgsql8.2', 'bin', file));
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, file));
  }
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new ConfigError(`Cannot find ${name}.`, {
      problems: [`looked in: ${candidates.slice(0, 4).join(', ')}${candidates.length > 4 ? ', and the rest of PATH' : ''}`],
      state: 'nothing was changed',
      hint: 'set CUPM_PG_BIN to the folder holding the PostgreSQL client tools (pg_dumpall, psql)',
    });
  }
  const { stdout } = await execa(found, ['--version'], { timeout: 30_000 });
  const version = parsePgVersion(stdout);
  if (!version) throw new ConfigError(`Cannot read the version of ${found}: it printed "${stdout.trim()}".`);
  return { name, path: found, version };
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Comparable major versions: 8.2 -> 802, 15 -> 1500. */
export function majorNumber(version: Pick<PgVersion, 'num'>): number {
  return version.num >= 100000 ? Math.floor(version.num / 10000) * 100 : Math.floor(version.num / 100);
}

/** Whether a pg_dumpall (or pg_dump) of version `client` can dump a server of version `server`. */
export type DumpPair = { ok: true } | { ok: false; reason: string; clients: string };

/** The oldest server each pg_dump generation still dumps (its documentation's "servers back to"). */
const OLDEST_SERVER = [
  { since: 1500, oldest: 902, oldestText: '9.2', newestBefore: '14' },
  { since: 1000, oldest: 800, oldestText: '8.0', newestBefore: '9.6' },
] as const;

/**
 * Decides whether `client` can dump `server`: a pg_dumpall never dumps a newer server, and each
 * generation drops old servers (15 and newer: 9.2 on; 10-14: 8.0 on). When it cannot, says which
 * client versions can (CUPM's PostgreSQL 8.2 needs one from 8.2 to 14, its own pgsql8.2\bin too).
 */
export function dumpPair(client: Pick<PgVersion, 'num' | 'text'>, server: Pick<PgVersion, 'num' | 'text' | 'major'>): DumpPair {
  const c = majorNumber(client);
  const s = majorNumber(server);
  // The rules are newest first: the last one that drops this server bounds the clients that can.
  const newestThatCan = OLDEST_SERVER.filter((rule) => s < rule.oldest).at(-1)?.newestBefore;
  const clients = newestThatCan === undefined ? `${server.major} or newer` : `${server.major} to ${newestThatCan}`;
  if (c < s) return { ok: false, reason: `version ${client.text}, older than the server (${server.text}): it cannot dump it`, clients };
  const rule = OLDEST_SERVER.find((r) => c >= r.since);
  if (rule && s < rule.oldest) {
    return {
      ok: false,
      reason: `version ${client.text}, which cannot dump a server older than ${rule.oldestText} (the server is ${server.text})`,
      clients,
    };
  }
  return { ok: true };
}

/** What to do about a pair that cannot work: which clients can, and CUPM's own tools. */
export function dumpPairHint(clients: string): string {
  return (
    `set CUPM_PG_BIN to the bin folder of a PostgreSQL client of version ${clients}` +
    (clients.startsWith('8.2')
      ? " (on CUPM: the server's own <install>\\pgsql8.2\\bin, copied to this host when the tool runs elsewhere)"
      : '')
  );
}
