import path from 'node:path';
import { parse as parseShellWords } from 'shell-quote';
import { ConfigError } from '../errors.js';
import type { PgConnection } from '../pg/connection.js';
import type { ServiceCommandTemplates } from '../services/command.js';
import { SERVICE_MANAGER_KINDS, type ServiceManagerKind } from '../services/service-manager.js';
import { ENCRYPTION_VARIABLES, parseEncryptionSettings, type EncryptionSettings } from './encryption-settings.js';
import { NIGHTLY_VARIABLES, parseNightlySettings, type NightlySettings } from './nightly-settings.js';
import { parseNotifySettings, type NotifySettings } from './notify-settings.js';
import { OFFSITE_VARIABLES, parseOffsiteSettings, type OffsiteSettings } from './offsite-settings.js';
import { parseScheduleSettings, type ScheduleSettings } from './schedule-settings.js';
import { parseServerSettings, SERVER_VARIABLES, type ServerSettings } from './server-settings.js';
import { looksLikeWindowsPath } from '../system/windows-paths.js';
import { readSources, type RawSettings } from './sources.js';
import { isDirectory } from '../file-system.js';

export const DEFAULT_SERVICES = ['Apache', 'cupm JBossService', 'cupm NiceService'];
export const DEFAULT_WINDOWS_INSTALL_DIR = 'C:\\CUPM';

/** The validated configuration every job receives. */
export interface Config {
  platform: NodeJS.Platform;
  /** CUPM_INSTALL_DIR, absolute; undefined when unset outside Windows (see requireInstallDir). */
  installDir: string | undefined;
  pg: PgConnection;
  database: string;
  /** CUPM_EXTRA_DATABASES: more databases a backup dumps besides CUPM's own. */
  extraDatabases: string[];
  dbRole: string;
  /** CUPM_PG_BIN when set; otherwise the PostgreSQL tools are looked up at use (src/pg/tools.ts). */
  pgBin: string | undefined;
  serviceManager: ServiceManagerKind;
  services: string[];
  serviceCommands: ServiceCommandTemplates | undefined;
  serviceTimeoutSeconds: number;
  /** CUPM_COMPRESSION_LEVEL: deflate level 1-9 of new archives; undefined for the writer's default. */
  compressionLevel: number | undefined;
  /** CUPM_PG_SERVICE: the PostgreSQL service (pgsql-8.2 on CUPM) a restore restarts when the database is local. */
  pgService: string | undefined;
  backupDir: string;
  /** Email notification; undefined when CUPM_SMTP_URL is unset (src/config/notify-settings.ts). */
  notify: NotifySettings | undefined;
  /** When and through what the nightly run is scheduled (src/config/schedule-settings.ts). */
  schedule: ScheduleSettings;
  /** Off-site destinations and their credentials (src/config/offsite-settings.ts). */
  offsite: OffsiteSettings;
  /** Retention, status threshold, log size (src/config/nightly-settings.ts). */
  nightly: NightlySettings;
  /** age recipients of new archives, identity of encrypted ones (src/config/encryption-settings.ts). */
  encryption: EncryptionSettings;
  /** CUPM_SERVER: the CUPM server this admin host works on; undefined when the tool runs on the server itself. */
  server: ServerSettings | undefined;
  /** Non-fatal observations (unknown CUPM_ variables), shown once by the CLI. */
  warnings: string[];
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  envFile?: string | undefined;
  /** A fleet server's env file: it beats the environment (see SourceOptions). */
  fileBeatsEnvironment?: boolean;
  /** Values from command-line flags, by variable name; they beat every other source. */
  overrides?: Record<string, string | undefined>;
  platform?: NodeJS.Platform;
}

/** Every CUPM_ variable this version reads; others draw a warning (typos are common). */
const KNOWN = new Set([
  'CUPM_INSTALL_DIR',
  'CUPM_DATABASE',
  'CUPM_DB_ROLE',
  'CUPM_PG_BIN',
  'CUPM_SERVICE_MANAGER',
  'CUPM_SERVICES',
  'CUPM_SERVICE_COMMAND_STOP',
  'CUPM_SERVICE_COMMAND_START',
  'CUPM_SERVICE_COMMAND_STATUS',
  'CUPM_SERVICE_TIMEOUT',
  'CUPM_COMPRESSION_LEVEL',
  'CUPM_BACKUP_DIR',
  'CUPM_SMTP_URL',
  'CUPM_NOTIFY_TO',
  'CUPM_NOTIFY_FROM',
  'CUPM_NOTIFY_ON',
  'CUPM_SCHEDULE_AT',
  'CUPM_SCHEDULER',
  ...OFFSITE_VARIABLES,
  ...NIGHTLY_VARIABLES,
  ...ENCRYPTION_VARIABLES,
  ...SERVER_VARIABLES,
  'CUPM_PG_SERVICE',
  'CUPM_EXTRA_DATABASES',
  'CUPM_SERVERS_DIR',
]);

/** Settings that hold paths (or lists of them): none may hold a control character. */
const PATH_VARIABLES = [
  'CUPM_INSTALL_DIR',
  'CUPM_BACKUP_DIR',
  'CUPM_PG_BIN',
  'CUPM_OFFSITE',
  'CUPM_IDENTITY',
  'CUPM_OFFSITE_IDENTITY',
  'CUPM_OFFSITE_KNOWN_HOSTS',
  'PGPASSFILE',
] as const;

/** True for an origin that is a file (not "environment", "command line" or "default"). */
function isFileOrigin(origin: string | undefined): origin is string {
  return origin !== undefined && origin !== 'environment' && origin !== 'command line' && origin !== 'default';
}

/** Reads every source, validates everything, and throws one ConfigError listing all problems. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const raw = readSources({
    env: options.env ?? process.env,
    cwd,
    envFile: options.envFile,
    fileBeatsEnvironment: options.fileBeatsEnvironment,
  });
  for (const [name, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    raw.values[name] = value;
    raw.origin[name] = 'command line';
  }
  return parseConfig(raw, { cwd, platform: options.platform ?? process.platform });
}

/** Raw settings -> Config. Pure apart from two existence probes for defaults. */
export function parseConfig(raw: RawSettings, context: { cwd: string; platform: NodeJS.Platform }): Config {
  const problems: string[] = [];
  const warnings: string[] = [];
  const { values } = raw;
  const paths = context.platform === 'win32' ? path.win32 : path.posix;
  const get = (name: string): string | undefined => {
    const value = values[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const where = (name: string) => `${name} (from ${raw.origin[name] ?? 'default'})`;

  const installRaw = get('CUPM_INSTALL_DIR') ?? (context.platform === 'win32' ? DEFAULT_WINDOWS_INSTALL_DIR : undefined);
  // A Windows path (C:\CUPM, \\server\share) names the CUPM server's folder even when the tool runs
  // elsewhere (a review of `upgrade cleanup --dry-run`): kept as it is, not made relative to cwd.
  const installDir =
    installRaw === undefined
      ? undefined
      : context.platform !== 'win32' && looksLikeWindowsPath(installRaw)
        ? path.win32.normalize(installRaw)
        : paths.resolve(context.cwd, installRaw);

  let port: number | undefined;
  const portRaw = get('PGPORT');
  if (portRaw !== undefined) {
    port = Number(portRaw);
    if (!/^\d+$/.test(portRaw) || port < 1 || port > 65535) {
      problems.push(`${where('PGPORT')} must be a port number (1-65535), got "${portRaw}".`);
    }
  }

  const managerRaw = get('CUPM_SERVICE_MANAGER');
  let serviceManager: ServiceManagerKind;
  if (managerRaw === undefined) {
    serviceManager = defaultServiceManager(context.platform);
  } else if ((SERVICE_MANAGER_KINDS as readonly string[]).includes(managerRaw.toLowerCase())) {
    serviceManager = managerRaw.toLowerCase() as ServiceManagerKind;
  } else {
    problems.push(`${where('CUPM_SERVICE_MANAGER')} must be one of ${SERVICE_MANAGER_KINDS.join(', ')}, got "${managerRaw}".`);
    serviceManager = 'none';
  }

  const servicesRaw = get('CUPM_SERVICES');
  const services = servicesRaw === undefined ? [...DEFAULT_SERVICES] : servicesRaw.split(',').map((s) => s.trim());
  if (services.some((s) => s === '')) {
    problems.push(`${where('CUPM_SERVICES')} has an empty service name: "${servicesRaw}".`);
  }

  let serviceCommands: ServiceCommandTemplates | undefined;
  if (serviceManager === 'command') {
    const templates: Partial<ServiceCommandTemplates> = {};
    for (const verb of ['stop', 'start', 'status'] as const) {
      const name = `CUPM_SERVICE_COMMAND_${verb.toUpperCase()}`;
      const text = get(name);
      if (text === undefined) {
        problems.push(`${name} is required when CUPM_SERVICE_MANAGER=command.`);
        continue;
      }
      const words = splitCommand(text);
      if (typeof words === 'string') problems.push(`${where(name)}: ${words}`);
      else templates[verb] = words;
    }
    if (templates.stop && templates.start && templates.status) serviceCommands = templates as ServiceCommandTemplates;
  }

  let serviceTimeoutSeconds = 120;
  const timeoutRaw = get('CUPM_SERVICE_TIMEOUT');
  if (timeoutRaw !== undefined) {
    serviceTimeoutSeconds = Number(timeoutRaw);
    if (!Number.isFinite(serviceTimeoutSeconds) || serviceTimeoutSeconds <= 0) {
      problems.push(`${where('CUPM_SERVICE_TIMEOUT')} must be a positive number of seconds, got "${timeoutRaw}".`);
    }
  }

  let compressionLevel: number | undefined;
  const levelRaw = get('CUPM_COMPRESSION_LEVEL');
  if (levelRaw !== undefined) {
    compressionLevel = Number(levelRaw);
    if (!/^[1-9]$/.test(levelRaw.trim())) {
      problems.push(`${where('CUPM_COMPRESSION_LEVEL')} must be a deflate level from 1 (fastest) to 9 (smallest), got "${levelRaw}".`);
    }
  }

  // A path with a control character in it is always a mistake, most often an env file's double
  // quotes turning the \n of "D:\backup\nightly" into a line break: refused, not used.
  for (const name of PATH_VARIABLES) {
    const value = values[name];
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    const at = value === undefined ? -1 : value.search(/[\u0000-\u001f\u007f]/);
    if (at >= 0) {
      const shown = JSON.stringify(value);
      problems.push(
        `${where(name)} contains a control character (${JSON.stringify(value![at])} at position ${at + 1}: ${shown}). ` +
          `In an env file, double quotes turn \\n, \\r and \\t into control characters: write Windows paths in single quotes (${name}='D:\\backup\\nightly') or with forward slashes.`,
      );
    }
  }

  const database = get('CUPM_DATABASE') ?? 'cupm';
  const extraDatabases = (get('CUPM_EXTRA_DATABASES') ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  const dbRole = get('CUPM_DB_ROLE') ?? 'cupm';
  for (const name of ['CUPM_DATABASE', 'CUPM_DB_ROLE']) {
    const value = get(name);
    if (value !== undefined && value.includes('\0')) problems.push(`${where(name)} contains a NUL character.`);
  }

  const pgBinRaw = get('CUPM_PG_BIN');
  const pgBin = pgBinRaw === undefined ? undefined : paths.resolve(context.cwd, pgBinRaw);
  if (pgBin !== undefined && context.platform === process.platform && !isDirectory(pgBin)) {
    problems.push(`${where('CUPM_PG_BIN')} is not a folder: ${pgBin}.`);
  }

  const backupDir = paths.resolve(context.cwd, get('CUPM_BACKUP_DIR') ?? 'backups');
  const notify = parseNotifySettings(get, where, problems);
  const schedule = parseScheduleSettings(get, where, problems);
  const offsite = parseOffsiteSettings(get, where, problems, { ...context, rawPassword: values.CUPM_OFFSITE_PASSWORD });
  const nightly = parseNightlySettings(get, where, problems);
  const encryption = parseEncryptionSettings(get, where, problems, context);
  const server = parseServerSettings(get, where, problems, values.CUPM_SERVER_PASSWORD);
  if (serviceManager === 'rpc') {
    const missing = [
      server === undefined && 'CUPM_SERVER',
      !server?.user && 'CUPM_SERVER_USER',
      !server?.password && 'CUPM_SERVER_PASSWORD',
    ].filter(Boolean);
    if (missing.length > 0)
      problems.push(
        `CUPM_SERVICE_MANAGER=rpc needs ${missing.join(', ')}: the server whose services it controls, and an administrator account there.`,
      );
  }

  for (const name of Object.keys(values)) {
    if (name.startsWith('CUPM_') && !KNOWN.has(name)) {
      warnings.push(`${where(name)} is not a setting this version knows; it is ignored (a typo?).`);
    }
  }

  if (problems.length > 0) {
    throw new ConfigError('The configuration has problems:', {
      problems,
      state: 'nothing was changed',
      hint: 'fix the settings above (environment, --env-file, ./cupm-backup.env or flags) and run again',
    });
  }

  return {
    platform: context.platform,
    installDir,
    pg: {
      host: get('PGHOST'),
      port,
      user: get('PGUSER'),
      // The password is taken verbatim: it may legitimately start or end with spaces.
      password: values.PGPASSWORD === '' ? undefined : values.PGPASSWORD,
      ...(values.PGPASSWORD && isFileOrigin(raw.origin.PGPASSWORD) ? { passwordFile: raw.origin.PGPASSWORD } : {}),
      passfile: get('PGPASSFILE'),
    },
    database,
    extraDatabases,
    dbRole,
    pgBin,
    serviceManager,
    services,
    serviceCommands,
    serviceTimeoutSeconds,
    compressionLevel,
    pgService: get('CUPM_PG_SERVICE'),
    backupDir,
    notify,
    schedule,
    offsite,
    nightly,
    encryption,
    server,
    warnings,
  };
}

/** The install dir, or a configuration error saying how to set it. */
export function requireInstallDir(config: Config): string {
  if (config.installDir === undefined) {
    throw new ConfigError('CUPM_INSTALL_DIR is not set.', {
      state: 'nothing was changed',
      hint: 'set CUPM_INSTALL_DIR to the CUPM install folder (C:\\CUPM on a default Windows install)',
    });
  }
  return config.installDir;
}

function defaultServiceManager(platform: NodeJS.Platform): ServiceManagerKind {
  if (platform === 'win32') return 'windows';
  // sd_booted(3): systemd is the running init exactly when this directory exists.
  if (platform === 'linux' && isDirectory('/run/systemd/system')) return 'systemd';
  return 'none';
}

/** Splits a command line into words like a POSIX shell would, but refuses shell operators. */
export function splitCommand(text: string): string[] | string {
  // Keep $VARS literal: the command is run without a shell, so nothing expands them.
  const parsed = parseShellWords(text, (name) => `$${name}`);
  const words: string[] = [];
  for (const part of parsed) {
    if (typeof part === 'string') words.push(part);
    else return `shell operators (${'op' in part ? part.op : 'comment'}) are not allowed: the command runs without a shell.`;
  }
  if (words.length === 0) return 'the command is empty.';
  return words;
}
