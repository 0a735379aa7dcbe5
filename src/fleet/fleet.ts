import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { ConfigError, CupmError, EXIT, type ExitCode } from '../errors.js';
import { connectionInfo } from '../pg/connection.js';

/** The fleet folder when neither --servers-dir nor CUPM_SERVERS_DIR says otherwise. */
export const DEFAULT_SERVERS_DIR = 'servers';

/** A server name: its env file's name without `.env`; it also names files (report pages), so no path characters. */
const SERVER_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** One CUPM server of the fleet: `<servers dir>/<name>.env`. */
export interface FleetServer {
  name: string;
  envFile: string;
}

/** A server with its settings loaded, or why they could not be. */
export interface LoadedServer extends FleetServer {
  config?: Config;
  error?: CupmError;
}

/** The fleet folder: --servers-dir, else CUPM_SERVERS_DIR, else ./servers; absolute. */
export function serversDirOf(flag: string | undefined, env: Record<string, string | undefined>, cwd: string): string {
  const chosen = flag ?? (env.CUPM_SERVERS_DIR?.trim() || undefined) ?? DEFAULT_SERVERS_DIR;
  return path.resolve(cwd, chosen);
}

/** The servers of the fleet folder, by name; every badly named file is reported at once (exit 2). */
export function readFleet(dir: string): FleetServer[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    throw new ConfigError(`Cannot read the fleet folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`, {
      state: 'nothing was changed',
      hint: 'create it with one env file per server (servers/cupm01.env, ...), or point --servers-dir or CUPM_SERVERS_DIR at it',
    });
  }
  const problems: string[] = [];
  const servers: FleetServer[] = [];
  for (const file of names.filter((n) => n.endsWith('.env')).sort()) {
    const name = file.slice(0, -'.env'.length);
    if (!SERVER_NAME.test(name)) {
      problems.push(`${path.join(dir, file)}: "${name}" is not a server name (letters, digits, . _ - only, not starting with a dot)`);
      continue;
    }
    servers.push({ name, envFile: path.join(dir, file) });
  }
  if (problems.length > 0) {
    throw new ConfigError('The fleet folder has files whose names are not server names:', {
      problems,
      state: 'nothing was changed',
      hint: 'rename them (the server name is the file name without .env) or move them out of the folder',
    });
  }
  if (servers.length === 0) {
    throw new ConfigError(`The fleet folder ${dir} holds no server env files (*.env).`, {
      state: 'nothing was changed',
      hint: 'put one env file per server there (servers/cupm01.env, ...)',
    });
  }
  return servers;
}

/** The servers a run is for: the one --server names, or all of them with --all. */
export function selectServers(
  fleet: FleetServer[],
  choice: { server?: string | undefined; all?: boolean | undefined },
  dir: string,
): FleetServer[] {
  if (choice.all) return fleet;
  const found = fleet.find((s) => s.name === choice.server);
  if (!found) {
    throw new ConfigError(`There is no server "${choice.server}" in the fleet folder ${dir}.`, {
      problems: [`known servers: ${fleet.map((s) => s.name).join(', ')}`],
      state: 'nothing was changed',
      hint: `use one of the names above, or add ${path.join(dir, `${choice.server}.env`)}`,
    });
  }
  return [found];
}

/** Loads each server's settings from its own file; one server's bad file does not stop the others. */
export function loadFleet(servers: FleetServer[], load: (server: FleetServer) => Config): LoadedServer[] {
  return servers.map((server) => {
    try {
      return { ...server, config: load(server) };
    } catch (error) {
      if (error instanceof CupmError) return { ...server, error };
      throw error;
    }
  });
}

/**
 * Pairs of servers that would trample each other: one backup folder (their archives, locks and
 * histories would mix) or one PostgreSQL database (two names for one server). Empty when none.
 */
export function fleetConflicts(servers: LoadedServer[]): string[] {
  const problems: string[] = [];
  const byFolder = new Map<string, LoadedServer>();
  const byDatabase = new Map<string, LoadedServer>();
  for (const server of servers) {
    if (!server.config) continue;
    const folder = canonicalFolder(server.config);
    const other = byFolder.get(folder);
    if (other)
      problems.push(
        `${other.envFile} and ${server.envFile} share the backup folder ${server.config.backupDir} (CUPM_BACKUP_DIR): their archives would collide`,
      );
    else byFolder.set(folder, server);
    const { host, port } = connectionInfo(server.config);
    const database = `${host.toLowerCase()}:${port}/${server.config.database}`;
    const same = byDatabase.get(database);
    if (same)
      problems.push(
        `${same.envFile} and ${server.envFile} name the same PostgreSQL database ${database} (PGHOST, PGPORT, CUPM_DATABASE): two servers, one database`,
      );
    else byDatabase.set(database, server);
  }
  return problems;
}

/** The folder as the file system knows it (symlinks resolved; case folded on Windows), for comparison. */
function canonicalFolder(config: Config): string {
  let folder = config.backupDir;
  try {
    folder = fs.realpathSync.native(folder);
  } catch {
    // Not created yet: compare as configured.
  }
  return config.platform === 'win32' ? folder.toLowerCase() : folder;
}

/**
 * Exit codes from worst to best, for a run over many servers: 5 left a server broken; 3 a backup
 * that cannot be trusted; 1 a job failed; 4 a safety check refused; 2 a server's settings are
 * wrong; 6 the backup is there but something secondary failed; 0 all well.
 */
const SEVERITY: readonly ExitCode[] = [EXIT.dirty, EXIT.archiveInvalid, EXIT.failed, EXIT.refused, EXIT.usage, EXIT.partial, EXIT.done];

/** The worst of several exit codes (0 for none). */
export function worstExitCode(codes: Iterable<number>): ExitCode {
  let worst: ExitCode = EXIT.done;
  for (const code of codes) {
    const rank = SEVERITY.indexOf(code as ExitCode);
    // An exit code this table does not know counts as a failure.
    const known = rank === -1 ? EXIT.failed : (code as ExitCode);
    if (SEVERITY.indexOf(known) < SEVERITY.indexOf(worst)) worst = known;
  }
  return worst;
}

/**
 * Runs `job` for each item, at most `parallel` at once, in order of the list; stops starting new
 * ones once `stop()` says so. Results come back in the list's order.
 */
export async function runPool<T, R>(
  items: T[],
  parallel: number,
  job: (item: T) => Promise<R>,
  stop: () => boolean = () => false,
): Promise<Array<R | undefined>> {
  const results: Array<R | undefined> = Array.from({ length: items.length }, () => undefined);
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const index = next++;
      results[index] = await job(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, items.length)) }, worker));
  return results;
}
