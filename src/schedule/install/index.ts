import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/config.js';
import type { TimeOfDay } from '../../config/schedule-settings.js';
import { ConfigError } from '../../errors.js';
import type { ScheduleBackend } from './backend.js';
import { CronScheduler } from './crontab.js';
import { localHost, type SchedulerHost } from './host.js';
import type { NightlyCommand, ScheduleRequest, SchedulerName } from './plan.js';
import { SchtasksScheduler } from './schtasks.js';
import { SystemdScheduler } from './systemd.js';
import { isDirectory } from '../../file-system.js';
import { toolFile } from '../../version.js';

export {
  applySchedulePlan,
  formatSchedulePlan,
  schedulePlanJson,
  type SchedulePlan,
  type ScheduleRequest,
  type SchedulerName,
} from './plan.js';
export type { ScheduleBackend, ScheduleStatus } from './backend.js';
export { localHost, type SchedulerHost } from './host.js';

/** The task / unit / crontab marker name. */
export const SCHEDULE_NAME = 'cupm-backup-nightly';

/** bin/cupm-backup of this installation. */
export const BIN_PATH = toolFile('bin', 'cupm-backup');

/** What decides the scheduler when CUPM_SCHEDULER=auto; real probes by default. */
export interface SchedulerProbes {
  systemdRunning(): boolean;
  onPath(program: string): boolean;
}

export const localProbes: SchedulerProbes = {
  // sd_booted(3): systemd is the running init exactly when this directory exists.
  systemdRunning: () => isDirectory('/run/systemd/system'),
  onPath: (program) =>
    (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .some((dir) => isExecutable(path.join(dir, program))),
};

/** CUPM_SCHEDULER, or by platform: Task Scheduler on Windows, systemd where it runs, else cron. */
export function chooseScheduler(config: Pick<Config, 'platform' | 'schedule'>, probes: SchedulerProbes = localProbes): SchedulerName {
  if (config.schedule.scheduler !== 'auto') return config.schedule.scheduler;
  if (config.platform === 'win32') return 'schtasks';
  if (probes.systemdRunning()) return 'systemd';
  if (probes.onPath('crontab')) return 'cron';
  throw new ConfigError('This host has neither a running systemd nor cron, so there is nothing to install the schedule into.', {
    state: 'nothing was changed',
    hint: 'install cron (Debian: apt-get install cron) and start it, or keep `cupm-backup daemon --cron "0 2 * * *"` running in the foreground (containers)',
  });
}

/** Options for the scheduler backends (tests point them at temp dirs and recording hosts). */
export interface BackendOptions {
  host?: SchedulerHost;
  /** systemd: where the units go (default /etc/systemd/system). */
  unitDir?: string;
  /** cron: whose crontab (`crontab -u USER`); default the current user's. */
  crontabUser?: string;
}

export function createScheduleBackend(name: SchedulerName, options: BackendOptions = {}): ScheduleBackend {
  const host = options.host ?? localHost();
  switch (name) {
    case 'schtasks':
      return new SchtasksScheduler(host);
    case 'systemd':
      return new SystemdScheduler(host, { unitDir: options.unitDir });
    case 'cron':
      return new CronScheduler(host, { user: options.crontabUser });
  }
}

/**
 * What a scheduled run executes: this Node.js running this installation's bin/cupm-backup, in the
 * folder the configuration was read from (relative settings and ./cupm-backup.env resolve the same),
 * with the --env-file given to `schedule install`, if any.
 */
export function nightlyCommand(options: {
  cwd: string;
  envFile?: string | undefined;
  platform?: NodeJS.Platform;
  /** `schedule install --all`: one job running `nightly --all` over this fleet folder. */
  fleet?: { serversDir: string; parallel?: number | undefined };
}): NightlyCommand {
  const paths = (options.platform ?? process.platform) === 'win32' ? path.win32 : path.posix;
  const envFile = options.envFile === undefined ? [] : ['--env-file', paths.resolve(options.cwd, options.envFile)];
  const fleet = options.fleet
    ? [
        '--all',
        '--servers-dir',
        paths.resolve(options.cwd, options.fleet.serversDir),
        ...(options.fleet.parallel === undefined ? [] : ['--parallel', String(options.fleet.parallel)]),
      ]
    : [];
  // '--' first: Node 20 would otherwise take our --env-file as its own (see bin/cupm-backup).
  return { workDir: options.cwd, program: process.execPath, args: ['--', BIN_PATH, 'nightly', ...envFile, ...fleet] };
}

/** The request `schedule install|remove|status` works on. */
export function scheduleRequest(config: Config, command: NightlyCommand, at?: TimeOfDay): ScheduleRequest {
  return { name: SCHEDULE_NAME, at: at ?? config.schedule.at, command, backupDir: config.backupDir };
}

/**
 * Settings that came from this shell's environment: a scheduled run starts with an environment of
 * its own and will not see them. (They belong in the env file.)
 */
export function settingsOnlyInEnvironment(origin: Record<string, string>): string[] {
  return Object.entries(origin)
    .filter(([, from]) => from === 'environment')
    .map(([name]) => name)
    .sort();
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
