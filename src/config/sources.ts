import fs from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { ConfigError } from '../errors.js';

/** The file read from the working directory when no --env-file is given. */
export const DEFAULT_ENV_FILE = 'cupm-backup.env';

/** Raw settings: variable name -> string value, plus where each value came from. */
export interface RawSettings {
  values: Record<string, string>;
  origin: Record<string, string>;
}

export interface SourceOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** --env-file; when given, ./cupm-backup.env is not read. */
  envFile?: string | undefined;
  /**
   * A fleet server's env file (`--server`, `--all`): its values beat the environment, which only
   * fills in what the file leaves unset, so a PGHOST or CUPM_BACKUP_DIR exported in the admin's
   * shell cannot point every server at one database or one folder.
   */
  fileBeatsEnvironment?: boolean;
}

/** Names this tool reads: ours, and libpq's for the admin connection. */
export function isOurVariable(name: string): boolean {
  if (LAUNCHER_VARIABLES.includes(name)) return false;
  return name.startsWith('CUPM_') || LIBPQ_VARIABLES.includes(name) || AWS_VARIABLES.includes(name);
}

/** Read by bin/cupm-backup before the program starts (CUPM_BACKUP_DEV=1: run the sources): not settings. */
export const LAUNCHER_VARIABLES = ['CUPM_BACKUP_DEV'];

/** The AWS SDK's credential variables, for s3:// destinations (also read from the env file). */
export const AWS_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'];

export const LIBPQ_VARIABLES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGPASSFILE'];

/**
 * Merges the environment over the env file (`--env-file`, else `./cupm-backup.env` when present).
 * Precedence, highest first: flags (applied later), environment, env file; for a fleet server's
 * file (fileBeatsEnvironment): flags, its file, environment.
 */
export function readSources(options: SourceOptions): RawSettings {
  const values: Record<string, string> = {};
  const origin: Record<string, string> = {};

  const file = options.envFile ? path.resolve(options.cwd, options.envFile) : path.resolve(options.cwd, DEFAULT_ENV_FILE);
  const fromFile = readEnvFile(file, options.envFile !== undefined);
  const layers: Array<[from: string, settings: Record<string, string | undefined>]> = [
    [file, fromFile],
    ['environment', options.env],
  ];
  if (options.fileBeatsEnvironment) layers.reverse();
  for (const [from, settings] of layers) {
    for (const [name, value] of Object.entries(settings)) {
      if (value === undefined || !isOurVariable(name)) continue;
      values[name] = value;
      origin[name] = from;
    }
  }
  return { values, origin };
}

function readEnvFile(file: string, required: boolean): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return {};
    throw new ConfigError(`Cannot read the env file ${file}: ${code ?? String(error)}.`, {
      hint: 'Check the path given to --env-file.',
    });
  }
  return dotenv.parse(text);
}
