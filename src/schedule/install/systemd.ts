import path from 'node:path';
import { formatTimeOfDay, parseTimeOfDay } from '../../config/schedule-settings.js';
import { ConfigError } from '../../errors.js';
import { emptyStatus, type ScheduleBackend, type ScheduleStatus } from './backend.js';
import type { SchedulerHost } from './host.js';
import { describeLastResult } from './schtasks.js';
import type { SchedulePlan, ScheduleRequest } from './plan.js';

/** Where units an administrator installs live. */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system';

const TIMER_PROPERTIES = ['LoadState', 'ActiveState', 'SubState', 'UnitFileState', 'NextElapseUSecRealtime', 'LastTriggerUSec'];
const SERVICE_PROPERTIES = ['ActiveState', 'Result', 'ExecMainStatus', 'ExecMainExitTimestamp'];

/**
 * Quotes one word of ExecStart= by systemd's own rules: C escapes inside double quotes, `%%` for a
 * literal `%` (specifiers), and `$$` for a literal `$` in arguments (the program path is not
 * expanded, so it keeps its `$`).
 */
export function systemdWord(word: string, position: 'program' | 'argument' = 'argument'): string {
  const percent = word.replace(/%/g, '%%');
  const escaped = position === 'program' ? percent : percent.replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Parses `systemctl show --property=...` output (KEY=value lines). */
export function parseSystemctlShow(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf('=');
    if (at > 0) values[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return values;
}

/**
 * Linux with systemd: a `.timer` (OnCalendar, Persistent=true: a run missed while the host was down
 * happens at the next boot) starting a oneshot `.service` that runs `cupm-backup nightly`.
 */
export class SystemdScheduler implements ScheduleBackend {
  readonly name = 'systemd';
  private readonly unitDir: string;
  private readonly systemctl: string;

  constructor(
    private readonly host: SchedulerHost,
    options: { unitDir?: string; systemctl?: string } = {},
  ) {
    this.unitDir = options.unitDir ?? SYSTEM_UNIT_DIR;
    this.systemctl = options.systemctl ?? 'systemctl';
  }

  servicePath(request: ScheduleRequest): string {
    return path.posix.join(this.unitDir, `${request.name}.service`);
  }

  timerPath(request: ScheduleRequest): string {
    return path.posix.join(this.unitDir, `${request.name}.timer`);
  }

  serviceUnit(request: ScheduleRequest): string {
    const { command } = request;
    const odd = [command.workDir, command.program, ...command.args].find((text) => /[\n\r\0]/.test(text));
    if (odd !== undefined) {
      throw new ConfigError(`Cannot write a systemd unit for a path holding a line break: ${JSON.stringify(odd)}.`, {
        state: 'nothing was changed',
      });
    }
    if (/["'\\]/.test(command.program)) {
      // systemd refuses such an executable outright ("Executable name contains special characters").
      throw new ConfigError(`systemd cannot run a program whose path holds a quote or a backslash: ${command.program}.`, {
        state: 'nothing was changed',
        hint: 'install Node.js under a plain path (or link it there) and run `cupm-backup schedule install` with that node',
      });
    }
    return [
      `# Written by "cupm-backup schedule install"; remove it with "cupm-backup schedule remove".`,
      '# Settings and passwords stay in the env file; none is written here.',
      '[Unit]',
      'Description=cupm-backup: nightly backup of CUPM',
      'Wants=network-online.target',
      'After=network-online.target',
      '',
      '[Service]',
      'Type=oneshot',
      // WorkingDirectory= takes the rest of the line as is; only specifiers need escaping.
      `WorkingDirectory=${command.workDir.replace(/%/g, '%%')}`,
      `ExecStart=${[systemdWord(command.program, 'program'), ...command.args.map((arg) => systemdWord(arg))].join(' ')}`,
      '',
    ].join('\n');
  }

  timerUnit(request: ScheduleRequest): string {
    const at = formatTimeOfDay(request.at);
    return [
      `# Written by "cupm-backup schedule install"; remove it with "cupm-backup schedule remove".`,
      '[Unit]',
      `Description=cupm-backup: run ${request.name}.service every day at ${at}`,
      '',
      '[Timer]',
      `OnCalendar=*-*-* ${at}:00`,
      'Persistent=true',
      '',
      '[Install]',
      'WantedBy=timers.target',
      '',
    ].join('\n');
  }

  async planInstall(request: ScheduleRequest): Promise<SchedulePlan> {
    const timer = `${request.name}.timer`;
    return {
      scheduler: this.name,
      name: request.name,
      shell: 'sh',
      summary: [
        `systemd timer ${timer}: every day at ${formatTimeOfDay(request.at)} (a run missed while the host was off happens at the next boot).`,
        `It starts ${request.name}.service, which runs \`cupm-backup nightly\` in ${request.command.workDir}.`,
        `The output of each run goes to the journal: journalctl -u ${request.name}.service`,
      ],
      actions: [
        {
          kind: 'write',
          title: `Write ${this.servicePath(request)}`,
          file: this.servicePath(request),
          content: this.serviceUnit(request),
          mode: 0o644,
        },
        {
          kind: 'write',
          title: `Write ${this.timerPath(request)}`,
          file: this.timerPath(request),
          content: this.timerUnit(request),
          mode: 0o644,
        },
        { kind: 'run', title: 'Make systemd read the units', argv: [this.systemctl, 'daemon-reload'] },
        {
          kind: 'run',
          title: `Enable and start ${timer}`,
          argv: [this.systemctl, 'enable', '--now', timer],
          undo: { argv: [this.systemctl, 'disable', '--now', timer] },
        },
      ],
      afterUndo: { argv: [this.systemctl, 'daemon-reload'] },
      warnings: [],
    };
  }

  async planRemove(request: ScheduleRequest): Promise<SchedulePlan> {
    const timer = `${request.name}.timer`;
    const service = await this.host.readFile(this.servicePath(request));
    const timerFile = await this.host.readFile(this.timerPath(request));
    const plan: SchedulePlan = { scheduler: this.name, name: request.name, shell: 'sh', summary: [], actions: [], warnings: [] };
    if (service === undefined && timerFile === undefined) {
      plan.summary.push(`No systemd timer ${timer} is installed in ${this.unitDir}.`);
      return plan;
    }
    plan.summary.push(`Stop and remove the systemd timer ${timer} and ${request.name}.service.`);
    if (timerFile !== undefined) {
      plan.actions.push({
        kind: 'run',
        title: `Disable and stop ${timer}`,
        argv: [this.systemctl, 'disable', '--now', timer],
        undo: { argv: [this.systemctl, 'enable', '--now', timer] },
      });
      plan.actions.push({ kind: 'remove', title: `Remove ${this.timerPath(request)}`, file: this.timerPath(request) });
    }
    if (service !== undefined)
      plan.actions.push({ kind: 'remove', title: `Remove ${this.servicePath(request)}`, file: this.servicePath(request) });
    plan.actions.push({ kind: 'run', title: 'Make systemd forget the units', argv: [this.systemctl, 'daemon-reload'] });
    plan.afterUndo = { argv: [this.systemctl, 'daemon-reload'] };
    return plan;
  }

  async status(request: ScheduleRequest): Promise<ScheduleStatus> {
    const status = emptyStatus(this.name, request.name);
    status.output = `journalctl -u ${request.name}.service`;
    const service = await this.host.readFile(this.servicePath(request));
    const timer = await this.host.readFile(this.timerPath(request));
    if (service === undefined && timer === undefined) return status;
    status.installed = true;
    status.runs = /^ExecStart=(.*)$/m.exec(service ?? '')?.[1] ?? null;
    status.at = /^OnCalendar=\*-\*-\* (\d\d:\d\d):00$/m.exec(timer ?? '')?.[1] ?? null;
    if (service === undefined || timer === undefined) {
      status.problems.push(
        `Only one of ${this.servicePath(request)} and ${this.timerPath(request)} exists; \`cupm-backup schedule install\` writes both again.`,
      );
    }
    // Compared at the time they were installed for: `--at` chose that, it is not a difference.
    const installedAt = status.at === null ? undefined : parseTimeOfDay(status.at);
    const expected = installedAt === undefined ? request : { ...request, at: installedAt };
    if ((service !== undefined && service !== this.serviceUnit(expected)) || (timer !== undefined && timer !== this.timerUnit(expected))) {
      status.problems.push(
        `The units in ${this.unitDir} differ from what this installation would write (a moved install, another env file, or edited by hand); \`cupm-backup schedule install\` rewrites them.`,
      );
    }
    const timerShow = await this.host.run([this.systemctl, 'show', `${request.name}.timer`, `--property=${TIMER_PROPERTIES.join(',')}`]);
    const serviceShow = await this.host.run([
      this.systemctl,
      'show',
      `${request.name}.service`,
      `--property=${SERVICE_PROPERTIES.join(',')}`,
    ]);
    if (timerShow.exitCode !== 0 || serviceShow.exitCode !== 0) {
      const said = (timerShow.exitCode !== 0 ? timerShow : serviceShow).stderr.replace(/\s+/g, ' ').trim();
      status.problems.push(
        `systemd could not be asked about the timer (${said || 'systemctl failed'}); it will not run while systemd is not running.`,
      );
      return status;
    }
    const t = parseSystemctlShow(timerShow.stdout);
    const s = parseSystemctlShow(serviceShow.stdout);
    status.state = [t.ActiveState, t.SubState].filter(Boolean).join('/') || null;
    status.nextRun = nonEmpty(t.NextElapseUSecRealtime);
    status.lastRun = nonEmpty(t.LastTriggerUSec);
    if (s.ActiveState === 'activating') status.lastResult = 'running now';
    else if (nonEmpty(s.ExecMainExitTimestamp) === null) status.lastResult = 'has not run yet';
    else if (s.ExecMainStatus !== undefined) status.lastResult = describeLastResult(s.ExecMainStatus);
    if (t.LoadState !== undefined && t.LoadState !== 'loaded') {
      status.problems.push(`systemd has not loaded ${request.name}.timer (LoadState=${t.LoadState}); run \`systemctl daemon-reload\`.`);
    }
    if (t.UnitFileState !== undefined && t.UnitFileState !== 'enabled') {
      status.problems.push(
        `${request.name}.timer is ${t.UnitFileState || 'not enabled'}: it will not start at boot; \`cupm-backup schedule install\` enables it.`,
      );
    }
    if (t.ActiveState !== undefined && t.ActiveState !== 'active') {
      status.problems.push(`${request.name}.timer is ${t.ActiveState}: it will not fire; \`cupm-backup schedule install\` starts it.`);
    }
    return status;
  }
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === '' || value === 'n/a' || value === '0' ? null : value;
}
