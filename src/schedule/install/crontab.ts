import fs from 'node:fs/promises';
import path from 'node:path';
import { formatTimeOfDay } from '../../config/schedule-settings.js';
import { ConfigError, JobFailedError } from '../../errors.js';
import { emptyStatus, type ScheduleBackend, type ScheduleStatus } from './backend.js';
import type { SchedulerHost } from './host.js';
import { formatCommand, quotePosix, type SchedulePlan, type ScheduleRequest } from './plan.js';

/** Where cron daemons (Debian's cron, cronie) note their pid. */
const CRON_PID_FILES = ['/run/crond.pid', '/var/run/crond.pid', '/run/cron.pid'];

/** Is a cron daemon running? Its pid file names a live process. */
export async function cronDaemonRunning(): Promise<boolean> {
  for (const file of CRON_PID_FILES) {
    try {
      const pid = Number((await fs.readFile(file, 'utf8')).trim());
      if (Number.isInteger(pid) && pid > 0) {
        process.kill(pid, 0);
        return true;
      }
    } catch {
      // No such file, or its process is gone: try the next.
    }
  }
  return false;
}

/** The comment line that marks our entry; the line after it is the job. */
export function markerLine(name: string): string {
  return `# ${name}: nightly CUPM backup, written by "cupm-backup schedule install" (remove it with "cupm-backup schedule remove")`;
}

function isMarker(line: string, name: string): boolean {
  return line.startsWith(`# ${name}: `);
}

/** The crontab without our entry (marker and job line); everything else is kept byte for byte. */
export function withoutEntry(crontab: string, name: string): string {
  const lines = crontab.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (isMarker(lines[i]!, name)) {
      i++; // and the job line after it
      continue;
    }
    kept.push(lines[i]!);
  }
  return kept.join('\n');
}

/** Our entry in a crontab: the job line after the marker, if any. */
export function findEntry(crontab: string, name: string): string | undefined {
  const lines = crontab.split('\n');
  const at = lines.findIndex((line) => isMarker(line, name));
  return at < 0 ? undefined : lines[at + 1];
}

/**
 * Linux without systemd: a line in a crontab (`crontab -l` / `crontab -`), marked by a comment so
 * that install replaces it and remove finds it, leaving every other line alone.
 */
export class CronScheduler implements ScheduleBackend {
  readonly name = 'cron';
  private readonly crontab: string;
  private readonly user: string | undefined;
  private readonly daemonRunning: () => Promise<boolean>;

  constructor(
    private readonly host: SchedulerHost,
    options: { crontab?: string; user?: string; daemonRunning?: () => Promise<boolean> } = {},
  ) {
    this.crontab = options.crontab ?? 'crontab';
    this.user = options.user;
    this.daemonRunning = options.daemonRunning ?? cronDaemonRunning;
  }

  consolePath(request: ScheduleRequest): string {
    return path.posix.join(request.backupDir, `${request.name}.console.txt`);
  }

  /** The job line: cron runs it with /bin/sh, so every word is quoted and `%` escaped for cron. */
  jobLine(request: ScheduleRequest): string {
    const { command } = request;
    const odd = [command.workDir, command.program, ...command.args, request.backupDir].find((text) => /[\n\r\0]/.test(text));
    if (odd !== undefined) {
      throw new ConfigError(`Cannot write a crontab line for a path holding a line break: ${JSON.stringify(odd)}.`, {
        state: 'nothing was changed',
      });
    }
    const run = [command.program, ...command.args].map(quotePosix).join(' ');
    const shell = `cd ${quotePosix(command.workDir)} && ${run} >${quotePosix(this.consolePath(request))} 2>&1`;
    // cron turns an unescaped % into a line break (crontab(5)); \% reaches the shell as %.
    return `${request.at.minute} ${request.at.hour} * * * ${shell.replace(/%/g, '\\%')}`;
  }

  private userArgs(): string[] {
    return this.user === undefined ? [] : ['-u', this.user];
  }

  /** The current crontab ('' when there is none). */
  async read(): Promise<string> {
    const output = await this.host.run([this.crontab, ...this.userArgs(), '-l']);
    // crontab(1) refuses a last line without its newline, and output readers may strip it.
    if (output.exitCode === 0) return output.stdout === '' || output.stdout.endsWith('\n') ? output.stdout : `${output.stdout}\n`;
    // "no crontab for root": not an error, just nothing yet.
    if (/no crontab for/i.test(output.stderr)) return '';
    throw new JobFailedError(
      `${formatCommand([this.crontab, ...this.userArgs(), '-l'], 'sh')} failed (exit code ${output.exitCode}): ${output.stderr.trim() || output.stdout.trim()}`,
      {
        hint: 'check that cron is installed (Debian: apt-get install cron) and that this user may use crontab (/etc/cron.allow, /etc/cron.deny)',
      },
    );
  }

  async planInstall(request: ScheduleRequest): Promise<SchedulePlan> {
    const before = await this.read();
    const rest = withoutEntry(before, request.name).replace(/\n*$/, '');
    const after = `${rest === '' ? '' : `${rest}\n`}${markerLine(request.name)}\n${this.jobLine(request)}\n`;
    const warnings: string[] = [];
    if (!(await this.daemonRunning())) {
      warnings.push(
        'no cron daemon seems to be running on this host: the line is installed but nothing will run it until cron is started (in a container, run `cupm-backup daemon` in the foreground instead)',
      );
    }
    const whose = this.user === undefined ? "this user's crontab" : `the crontab of ${this.user}`;
    return {
      scheduler: this.name,
      name: request.name,
      shell: 'sh',
      summary: [
        `A line in ${whose}: every day at ${formatTimeOfDay(request.at)}, \`cupm-backup nightly\` in ${request.command.workDir}.`,
        findEntry(before, request.name) === undefined
          ? 'It is added after the lines already there, which stay as they are.'
          : 'It replaces the line an earlier install wrote; the other lines stay as they are.',
        `The console output of the last scheduled run goes to ${this.consolePath(request)}.`,
      ],
      actions: [
        { kind: 'mkdir', title: `Create the backup folder ${request.backupDir}`, dir: request.backupDir },
        {
          kind: 'run',
          title: `Install the crontab line "${request.name}"`,
          argv: [this.crontab, ...this.userArgs(), '-'],
          input: after,
          undo: { argv: [this.crontab, ...this.userArgs(), '-'], input: before },
        },
      ],
      warnings,
    };
  }

  async planRemove(request: ScheduleRequest): Promise<SchedulePlan> {
    const before = await this.read();
    const plan: SchedulePlan = { scheduler: this.name, name: request.name, shell: 'sh', summary: [], actions: [], warnings: [] };
    if (findEntry(before, request.name) === undefined) {
      plan.summary.push(`No crontab line "${request.name}" is installed.`);
      return plan;
    }
    plan.summary.push(`Remove the crontab line "${request.name}"; the other lines stay as they are.`);
    plan.actions.push({
      kind: 'run',
      title: `Remove the crontab line "${request.name}"`,
      argv: [this.crontab, ...this.userArgs(), '-'],
      input: withoutEntry(before, request.name),
      undo: { argv: [this.crontab, ...this.userArgs(), '-'], input: before },
    });
    return plan;
  }

  async status(request: ScheduleRequest): Promise<ScheduleStatus> {
    const status = emptyStatus(this.name, request.name);
    status.output = this.consolePath(request);
    const line = findEntry(await this.read(), request.name);
    if (line === undefined) return status;
    status.installed = true;
    const fields = /^(\d+) (\d+) \* \* \* (.*)$/.exec(line);
    if (fields) {
      status.at = formatTimeOfDay({ hour: Number(fields[2]), minute: Number(fields[1]) });
      status.runs = fields[3]!;
    } else {
      status.runs = line;
    }
    // Compared at the time it was installed for: `--at` chose that, it is not a difference.
    const at = fields ? { hour: Number(fields[2]), minute: Number(fields[1]) } : request.at;
    if (line !== this.jobLine({ ...request, at })) {
      status.problems.push(
        'The crontab line differs from what this installation would write (a moved install, another env file, or edited by hand); `cupm-backup schedule install` rewrites it.',
      );
    }
    status.state = (await this.daemonRunning()) ? 'cron is running' : 'cron is NOT running';
    if (status.state === 'cron is NOT running')
      status.problems.push('No cron daemon seems to be running: the line will not run until cron is started.');
    return status;
  }
}
