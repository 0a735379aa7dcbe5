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
export async function findPgTool(
  config: PgToolSettings,
  name: PgToolName,
): Promise<PgTool> {
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
