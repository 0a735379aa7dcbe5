import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { doctor } from '../doctor/doctor.js';
import { ConfigError, EXIT, type ExitCode } from '../errors.js';
import { formatTable } from '../format/table.js';
import { lastRun } from '../schedule/history.js';
import { silentReporter } from '../jobs/reporter.js';
import type { Config } from '../config/config.js';
import { formatTimeOfDay } from '../config/schedule-settings.js';
import { readSources } from '../config/sources.js';
import {
  applySchedulePlan,
  chooseScheduler,
  createScheduleBackend,
  formatSchedulePlan,
  localHost,
  nightlyCommand,
  schedulePlanJson,
  scheduleRequest,
  settingsOnlyInEnvironment,
  type ScheduleBackend,
  type SchedulePlan,
  type ScheduleRequest,
  type ScheduleStatus,
} from '../schedule/install/index.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { ExitWith } from './exit-code.js';
import { finishFleetRun, openFleet, parseParallel, runFleet, type FleetRun } from './fleet.js';
import { printJson, terminalReporter, printOut } from './output.js';

interface ScheduleFlags extends CommonOptions {
  at?: string;
  print?: boolean;
  /** --no-check sets it false. */
  check?: boolean;
  all?: boolean;
  serversDir?: string;
  parallel?: string;
}

const SCHEDULER_TITLES = { schtasks: 'Task Scheduler (schtasks.exe)', systemd: 'systemd timer', cron: 'crontab' } as const;

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description("install, remove or show the nightly run in the host's scheduler (Task Scheduler, systemd timer or crontab)");

  withCommonOptions(
    schedule
      .command('install')
      .description('run `cupm-backup nightly` every day: a SYSTEM task on Windows, a systemd timer, or a crontab line')
      .option('--at <HH:MM>', 'the time of day, local to the host (default CUPM_SCHEDULE_AT, else 02:00)')
      .option('--print', 'show exactly what would be installed, and change nothing')
      .option('--no-check', "install without first checking the configuration the job will read (doctor's checks, ports left out)")
      .option('--all', 'one job that runs `nightly --all`: every server of the fleet folder')
      .option('--servers-dir <dir>', 'with --all: the fleet folder, one env file per server (default CUPM_SERVERS_DIR, else ./servers)')
      .option('--parallel <n>', 'with --all: the nightly job runs at most n servers at once (default 1)'),
  ).action(async (flags: ScheduleFlags) => {
    const { config, backend, request, fleet } = prepare(flags);
    const plan = await backend.planInstall(request);
    const envFile = path.resolve(flags.envFile ?? 'cupm-backup.env');
    const envFileExists = fs.existsSync(envFile);
    plan.summary.push(
      fleet
        ? `The job reads each server's settings from its env file in ${fleet.serversDir}.`
        : `The job reads its settings from ${envFile}${envFileExists ? '' : ' (which does not exist: the job would run on defaults)'}.`,
    );
    const missing = settingsOnlyInEnvironment(readSources({ env: process.env, cwd: process.cwd(), envFile: flags.envFile }).origin);
    if (missing.length > 0) {
      plan.warnings.push(
        `these settings come from this shell's environment, which a scheduled run does not have: ${missing.join(', ')}; put them in ${fleet ? `each server's env file in ${fleet.serversDir}` : (flags.envFile ?? './cupm-backup.env')}`,
      );
    }
    // A fleet is checked by prepare (names, shared folders, databases); each server's own settings by doctor --all.
    if (flags.check !== false && !fleet) await checkBeforeScheduling(config, { envFile, envFileExists, onlyInEnvironment: missing });
    await applyOrPrint(plan, flags, 'schedule install', () => {
      const at = formatTimeOfDay(request.at);
      const what = fleet
        ? `\`cupm-backup nightly --all\` for the ${fleet.servers} server${fleet.servers === 1 ? '' : 's'} of ${fleet.serversDir}`
        : `\`cupm-backup nightly\``;
      return `Installed: ${SCHEDULER_TITLES[plan.scheduler]} "${plan.name}" runs ${what} every day at ${at} (${fleet ? 'console output in' : 'backup folder'} ${request.backupDir}).`;
    });
  });

  withCommonOptions(
    schedule
      .command('remove')
      .description('remove what `schedule install` installed')
      .option('--print', 'show exactly what would be removed, and change nothing'),
  ).action(async (flags: ScheduleFlags) => {
    const { backend, request } = prepare(flags);
    const plan = await backend.planRemove(request);
    await applyOrPrint(plan, flags, 'schedule remove', () =>
      plan.actions.length === 0 ? plan.summary.join(' ') : `Removed: ${SCHEDULER_TITLES[plan.scheduler]} "${plan.name}".`,
    );
  });

  withCommonOptions(
    schedule
      .command('status')
      .description('show whether the nightly run is scheduled, when it runs next and how the last one ended')
      .option(
        '--all',
        'the `nightly --all` job of the fleet folder, and one row per server: its last nightly run; exit code: the worst of those runs',
      )
      .option('--servers-dir <dir>', 'with --all: the fleet folder, one env file per server (default CUPM_SERVERS_DIR, else ./servers)'),
  ).action(async (flags: ScheduleFlags) => {
    const { backend, request, fleet } = prepare(flags);
    let status = await backend.status(request);
    const installedParallel = /\s--parallel (\d+)(\s|$)/.exec(status.runs ?? '')?.[1];
    if (fleet && installedParallel !== undefined) {
      // Installed with --parallel N: compared with that job, N is a choice, not a difference.
      status = await backend.status(prepare({ ...flags, parallel: installedParallel }).request);
    }
    if (!fleet) {
      if (flags.json) printJson(status);
      else printOut(formatStatus(status).join('\n') + '\n');
      return;
    }
    // Each server's last nightly run, from its own history: the job runs them all, each records its own.
    const run = await runFleet({ all: true, serversDir: fleet.serversDir, json: flags.json }, async (io) => {
      const last = await lastRun(io.config().backupDir);
      const value = last
        ? {
            outcome: last.outcome,
            exitCode: last.exitCode,
            startedAt: last.startedAt,
            finishedAt: last.finishedAt,
            error: last.error?.message ?? null,
          }
        : null;
      io.json({ lastRun: value });
      if (last && last.exitCode !== EXIT.done) throw new ExitWith(last.exitCode as ExitCode, value);
      return value;
    });
    finishFleetRun(run, flags, (done) => [...formatStatus(status), '', ...scheduleTable(done)].join('\n') + '\n', { schedule: status });
  });
}

/** `schedule status --all`: one row per server, its last nightly run. */
function scheduleTable(run: FleetRun<LastRunFacts | null>): string[] {
  const rows = run.results.map((r) => {
    const last = r.value ?? null;
    if (r.error) return [r.server, 'NOT CHECKED', r.error.message.split('\n')[0] ?? '', String(r.exitCode)];
    if (!last) return [r.server, 'none recorded', '-', String(r.exitCode)];
    return [r.server, last.outcome.toUpperCase(), last.startedAt, String(r.exitCode)];
  });
  return formatTable([{ header: 'SERVER' }, { header: 'LAST RUN' }, { header: 'STARTED' }, { header: 'EXIT' }], rows);
}

interface LastRunFacts {
  outcome: string;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  error: string | null;
}

function prepare(flags: ScheduleFlags): {
  config: Config;
  backend: ScheduleBackend;
  request: ScheduleRequest;
  fleet?: { serversDir: string; servers: number };
} {
  const config = configFor(flags, { CUPM_SCHEDULE_AT: flags.at });
  const backend = createScheduleBackend(chooseScheduler(config));
  if (!flags.all) {
    if (flags.serversDir !== undefined || flags.parallel !== undefined) {
      throw new ConfigError('--servers-dir and --parallel only apply with --all.', { state: 'nothing was changed' });
    }
    const command = nightlyCommand({ cwd: process.cwd(), envFile: flags.envFile, platform: config.platform });
    return { config, backend, request: scheduleRequest(config, command) };
  }
  // The fleet is checked now (names, shared folders or databases), not first at 2 a.m.
  const { serversDir, fleet } = openFleet(flags);
  const parallel = flags.parallel === undefined ? undefined : parseParallel(flags);
  // No --env-file for the run: each server's settings are in its own file (nightly --all refuses one).
  const command = nightlyCommand({ cwd: process.cwd(), platform: config.platform, fleet: { serversDir, parallel } });
  // The Windows wrapper and the console output of the run go to the fleet folder: no one server's backup folder owns them.
  return {
    config,
    backend,
    request: { ...scheduleRequest(config, command), backupDir: serversDir },
    fleet: { serversDir, servers: fleet.length },
  };
}

async function applyOrPrint(plan: SchedulePlan, flags: ScheduleFlags, jobName: string, done: () => string): Promise<void> {
  if (flags.print) {
    if (flags.json) printJson({ print: true, ...schedulePlanJson(plan) });
    else printOut(formatSchedulePlan(plan).join('\n') + '\n');
    return;
  }
  const reporter = terminalReporter();
  for (const warning of plan.warnings) reporter.warn(warning);
  await applySchedulePlan(plan, localHost(), reporter, jobName);
  const message = done();
  reporter.info(message);
  if (flags.json) printJson({ ok: true, ...schedulePlanJson(plan) });
  else printOut(`${message}\n`);
}

/** `schedule status` for a person. */
export function formatStatus(status: ScheduleStatus): string[] {
  const title = `${SCHEDULER_TITLES[status.scheduler]} "${status.name}"`;
  if (!status.installed) {
    return [`${title}: not installed (\`cupm-backup schedule install\` installs it).`, ...status.problems.map((p) => `  problem: ${p}`)];
  }
  const lines = [`${title}: installed${status.at ? `, every day at ${status.at}` : ''}.`];
  const row = (label: string, value: string | null) => {
    if (value !== null) lines.push(`  ${label.padEnd(11)} ${value}`);
  };
  row('runs', status.runs);
  row('state', status.state);
  row('next run', status.nextRun);
  row('last run', status.lastRun);
  row('last result', status.lastResult);
  row('output', status.output);
  for (const problem of status.problems) lines.push(`  problem: ${problem}`);
  return lines;
}

/**
 * The configuration the nightly job will run with, checked before it is scheduled: doctor's
 * checks (ports left out: they concern a restore), and that the settings are where the job
 * reads them. A job that would fail every night is refused (exit 2); --no-check skips this.
 */
async function checkBeforeScheduling(
  config: Config,
  job: { envFile: string; envFileExists: boolean; onlyInEnvironment: string[] },
): Promise<void> {
  const problems: string[] = [];
  if (job.onlyInEnvironment.length > 0) {
    problems.push(
      `${job.onlyInEnvironment.join(', ')} come only from this shell's environment: the job reads ${job.envFile}${job.envFileExists ? '' : ', which does not exist'}`,
    );
  }
  const report = await doctor(config, { groups: ['postgres', 'services', 'files', 'backup'] }, silentReporter);
  for (const check of report.checks)
    if (check.status === 'fail') problems.push(`${check.title}: ${check.detail}${check.hint ? ` (${check.hint})` : ''}`);
  if (problems.length === 0) return;
  throw new ConfigError('The nightly job would fail with this configuration:', {
    problems,
    state: 'nothing was scheduled',
    hint: `put the settings in ${job.envFile} (see README "The env file") and run cupm-backup doctor; --no-check schedules anyway`,
  });
}
