import path from 'node:path';
import { formatTimeOfDay } from '../../config/schedule-settings.js';
import { ConfigError, EXIT, JobFailedError } from '../../errors.js';
import { emptyStatus, type ScheduleBackend, type ScheduleStatus } from './backend.js';
import type { CommandOutput, SchedulerHost } from './host.js';
import { formatCommand, type SchedulePlan, type ScheduleRequest } from './plan.js';

/** schtasks.exe refuses a longer /TR: "Value for '/TR' option cannot be more than 261 character(s)." */
export const TR_LIMIT = 261;

/** Last Result values the Task Scheduler uses for itself (SCHED_S_TASK_*), by number. */
const TASK_RESULTS = new Map<number, string>([
  [0x41300, 'ready, has not run since it was changed'],
  [0x41301, 'running now'],
  [0x41302, 'disabled'],
  [0x41303, 'has not run yet'],
  [0x41304, 'no more runs scheduled'],
  [0x41306, 'stopped by a user'],
]);

/** What cupm-backup's exit codes mean (docs/design.md), for a Last Result that is one of them. */
const EXIT_MEANING = new Map<number, string>([
  [EXIT.failed, 'failed (see the log in the backup folder)'],
  [EXIT.usage, 'configuration error'],
  [EXIT.archiveInvalid, 'archive invalid'],
  [EXIT.refused, 'refused by a safety check (another job held the lock, live sessions, disk)'],
  [EXIT.dirty, 'failed and could not put everything back'],
  [EXIT.partial, 'partly done: the backup verified, an off-site copy or retention failed'],
]);

/** The fields of `schtasks /Query /V /FO LIST` this tool reads, by their English label. */
const LABELS = {
  taskName: 'TaskName',
  nextRunTime: 'Next Run Time',
  status: 'Status',
  lastRunTime: 'Last Run Time',
  lastResult: 'Last Result',
  taskToRun: 'Task To Run',
  runAsUser: 'Run As User',
  scheduleType: 'Schedule Type',
  startTime: 'Start Time',
  taskState: 'Scheduled Task State',
} as const;

type Field = keyof typeof LABELS;

/**
 * Where each field stands in a task's record (after `Folder:`) on Vista and later: labels are
 * translated on localized Windows, the order is not.
 */
const POSITIONS: Record<Field, number> = {
  taskName: 1,
  nextRunTime: 2,
  status: 3,
  lastRunTime: 5,
  lastResult: 6,
  taskToRun: 8,
  taskState: 11,
  runAsUser: 14,
  scheduleType: 18,
  startTime: 19,
};

/** One task as `schtasks /Query /TN <name> /V /FO LIST` shows it. */
export type SchtasksTask = Partial<Record<Field, string>> & {
  /** Every `label: value` line, in order. */
  fields: Array<{ label: string; value: string }>;
};

/** Parses the first task of `schtasks /Query /V /FO LIST` output; undefined when it holds none. */
export function parseSchtasksQuery(text: string): SchtasksTask | undefined {
  const lines = text.split(/\r?\n/);
  const column = valueColumn(lines);
  const fields: Array<{ label: string; value: string; padded: boolean }> = [];
  for (const line of lines) {
    if (line.trim() === '') {
      if (fields.length > 1) break; // the blank line after a task's record ends it
      continue;
    }
    const pair = splitField(line, column);
    if (pair) fields.push(pair);
  }
  // The record proper starts after the `Folder: \` line, the one label not padded to the column
  // (its label is translated too, so it is found by shape).
  const record = (fields[0]?.padded === false ? fields.slice(1) : fields).map(({ label, value }) => ({ label, value }));
  if (record.length < 3) return undefined;
  const task: SchtasksTask = { fields: record };
  const english = record.some((f) => f.label === LABELS.taskName);
  for (const [field, label] of Object.entries(LABELS) as Array<[Field, string]>) {
    const value = english ? record.find((f) => f.label === label)?.value : record[POSITIONS[field]]?.value;
    if (value !== undefined) task[field] = value;
  }
  return task;
}

/** The column values start at: labels are padded to a common width. */
function valueColumn(lines: string[]): number | undefined {
  const counts = new Map<number, number>();
  for (const line of lines) {
    const match = /^(\S.*?:)( {2,})\S/.exec(line);
    if (match) {
      const column = match[1]!.length + match[2]!.length;
      counts.set(column, (counts.get(column) ?? 0) + 1);
    }
  }
  let best: number | undefined;
  for (const [column, count] of counts) if (best === undefined || count > counts.get(best)!) best = column;
  return best;
}

function splitField(line: string, column: number | undefined): { label: string; value: string; padded: boolean } | undefined {
  // Labels hold colons themselves ("Repeat: Every:") and values too ("2:00:00 AM", "C:\..."): the
  // padded column is what separates them.
  if (column !== undefined && line.length >= column && line.slice(0, column).trimEnd().endsWith(':')) {
    return { label: line.slice(0, column).trim().replace(/:$/, ''), value: line.slice(column).trim(), padded: true };
  }
  const match = /^([^:]+):\s*(.*)$/.exec(line);
  return match ? { label: match[1]!.trim(), value: match[2]!.trim(), padded: false } : undefined;
}

/** "2:00:00 AM" or "02:00:00" -> "02:00"; undefined for a form it cannot read (localized AM/PM). */
export function parseStartTime(text: string): string | undefined {
  const match = /^(\d{1,2}):(\d{2})(?::\d{2})?\s*(AM|PM)?$/i.exec(text.trim());
  if (!match) return undefined;
  let hour = Number(match[1]);
  const half = match[3]?.toUpperCase();
  if (half === 'AM' && hour === 12) hour = 0;
  if (half === 'PM' && hour < 12) hour += 12;
  return `${String(hour).padStart(2, '0')}:${match[2]}`;
}

/** A Last Result in words: the Task Scheduler's own codes, or the exit code of cupm-backup. */
export function describeLastResult(text: string): string {
  const code = Number(text.trim());
  if (!/^-?\d+$/.test(text.trim())) return text;
  if (code === 0) return 'succeeded (0)';
  const own = TASK_RESULTS.get(code);
  if (own) return `${own} (0x${code.toString(16)})`;
  const meaning = EXIT_MEANING.get(code);
  if (meaning) return `exit code ${code}: ${meaning}`;
  const hex = (code >>> 0).toString(16).toUpperCase();
  return `error ${code} (0x${hex})`;
}

/** The `ERROR: ...` line schtasks prints (on stderr) when it fails. */
export function schtasksError(output: CommandOutput): string {
  const text = `${output.stderr}\n${output.stdout}`;
  return /^\s*ERROR:\s*(.*?)\s*$/m.exec(text)?.[1] ?? text.replace(/\s+/g, ' ').trim();
}

/** `schtasks /Query` of a task that does not exist. */
function isNotFound(output: CommandOutput): boolean {
  return /cannot find the file specified|does not exist/i.test(`${output.stderr}\n${output.stdout}`);
}

function accessHint(output: CommandOutput): string | undefined {
  if (/access is denied/i.test(`${output.stderr}\n${output.stdout}`)) {
    return 'a task that runs as SYSTEM can only be created or removed from an elevated prompt: open the command prompt with "Run as administrator" and run the command again';
  }
  return undefined;
}

/** Quotes a path for a .cmd file: `%` must be doubled even inside quotes. */
function cmdQuote(text: string): string {
  return `"${text.replace(/%/g, '%%')}"`;
}

/**
 * Windows: a Task Scheduler task (schtasks.exe) that runs, daily as SYSTEM with the highest
 * privileges, a .cmd wrapper written to the backup folder. The wrapper changes to the folder the
 * configuration was read from and runs `cupm-backup nightly`; it holds no setting and no secret.
 */
export class SchtasksScheduler implements ScheduleBackend {
  readonly name = 'schtasks';
  private readonly schtasks: string;

  constructor(
    private readonly host: SchedulerHost,
    options: { schtasksExe?: string } = {},
  ) {
    this.schtasks = options.schtasksExe ?? 'schtasks.exe';
  }

  /** The wrapper's path and its /TR value (always quoted: the folder may hold spaces). */
  wrapperPath(request: ScheduleRequest): string {
    return path.win32.join(request.backupDir, `${request.name}.cmd`);
  }

  consolePath(request: ScheduleRequest): string {
    return path.win32.join(request.backupDir, `${request.name}.console.txt`);
  }

  /** The .cmd wrapper, CRLF, ASCII. */
  wrapper(request: ScheduleRequest): string {
    const { command } = request;
    const everything = [command.workDir, command.program, ...command.args, this.consolePath(request)];
    const odd = everything.find((text) => /[^\x20-\x7e]|"/.test(text));
    if (odd !== undefined) {
      // cmd.exe reads a .cmd file in the OEM code page: a path outside ASCII would not survive.
      throw new ConfigError(`Cannot write a Task Scheduler wrapper for "${odd}": it holds characters a .cmd file cannot carry reliably.`, {
        state: 'nothing was changed',
        hint: 'keep the backup folder, the configuration folder and Node.js under paths of plain ASCII characters',
      });
    }
    const run = [cmdQuote(command.program), ...command.args.map((arg) => (/^[A-Za-z0-9_.=-]+$/.test(arg) ? arg : cmdQuote(arg)))].join(' ');
    const lines = [
      '@echo off',
      `rem Written by "cupm-backup schedule install" for the Task Scheduler task "${request.name}".`,
      'rem It runs the nightly backup. Settings and passwords stay in the env file; none is written here.',
      'rem Remove it with "cupm-backup schedule remove".',
      `cd /d ${cmdQuote(command.workDir)}`,
      `${run} > ${cmdQuote(this.consolePath(request))} 2>&1`,
      'exit /b %ERRORLEVEL%',
    ];
    return lines.join('\r\n') + '\r\n';
  }

  createArgs(request: ScheduleRequest): string[] {
    const tr = `"${this.wrapperPath(request)}"`;
    if (tr.length > TR_LIMIT) {
      throw new ConfigError(`The task's command would be ${tr.length} characters long; schtasks accepts at most ${TR_LIMIT} (/TR).`, {
        problems: [`/TR ${tr}`],
        state: 'nothing was changed',
        hint: 'choose a shorter backup folder (CUPM_BACKUP_DIR), e.g. D:\\CUPM-Backups',
      });
    }
    return [
      this.schtasks,
      '/Create',
      '/TN',
      request.name,
      '/SC',
      'DAILY',
      '/ST',
      formatTimeOfDay(request.at),
      '/RU',
      'SYSTEM',
      '/RL',
      'HIGHEST',
      '/F',
      '/TR',
      tr,
    ];
  }

  async planInstall(request: ScheduleRequest): Promise<SchedulePlan> {
    const wrapperPath = this.wrapperPath(request);
    const createArgs = this.createArgs(request);
    const content = this.wrapper(request);
    return {
      scheduler: this.name,
      name: request.name,
      shell: 'cmd',
      summary: [
        `Task Scheduler task "${request.name}": every day at ${formatTimeOfDay(request.at)}, as SYSTEM with the highest privileges.`,
        `It runs ${wrapperPath}, which runs in ${request.command.workDir}:`,
        `  ${formatCommand([request.command.program, ...request.command.args], 'cmd')}`,
        `The console output of the last scheduled run goes to ${this.consolePath(request)}.`,
      ],
      actions: [
        { kind: 'write', title: `Write the wrapper ${wrapperPath}`, file: wrapperPath, content, mode: 0o755 },
        { kind: 'run', title: `Create the Task Scheduler task "${request.name}"`, argv: createArgs, hint: accessHint },
      ],
      warnings: [],
    };
  }

  async planRemove(request: ScheduleRequest): Promise<SchedulePlan> {
    const status = await this.status(request);
    const wrapperPath = this.wrapperPath(request);
    const wrapperExists = (await this.host.readFile(wrapperPath)) !== undefined;
    const plan: SchedulePlan = { scheduler: this.name, name: request.name, shell: 'cmd', summary: [], actions: [], warnings: [] };
    if (status.installed) {
      plan.summary.push(`Remove the Task Scheduler task "${request.name}".`);
      // The task goes first: it must never point at a wrapper that is gone.
      plan.actions.push({
        kind: 'run',
        title: `Delete the Task Scheduler task "${request.name}"`,
        argv: [this.schtasks, '/Delete', '/TN', request.name, '/F'],
        hint: accessHint,
      });
    } else {
      plan.summary.push(`No Task Scheduler task "${request.name}" is installed.`);
    }
    if (wrapperExists) plan.actions.push({ kind: 'remove', title: `Remove the wrapper ${wrapperPath}`, file: wrapperPath });
    return plan;
  }

  async status(request: ScheduleRequest): Promise<ScheduleStatus> {
    const status = emptyStatus(this.name, request.name);
    status.output = this.consolePath(request);
    const output = await this.host.run([this.schtasks, '/Query', '/TN', request.name, '/V', '/FO', 'LIST']);
    const wrapperPath = this.wrapperPath(request);
    const wrapper = await this.host.readFile(wrapperPath);
    if (output.exitCode !== 0) {
      if (!isNotFound(output)) {
        throw new JobFailedError(`schtasks /Query /TN ${request.name} failed (exit code ${output.exitCode}): ${schtasksError(output)}`, {
          hint: accessHint(output) ?? 'run the same schtasks /Query by hand to see more',
        });
      }
      if (wrapper !== undefined)
        status.problems.push(`${wrapperPath} is left from an earlier install; \`cupm-backup schedule remove\` removes it.`);
      return status;
    }
    const task = parseSchtasksQuery(output.stdout);
    if (!task) {
      throw new JobFailedError(`Could not read the output of schtasks /Query /TN ${request.name} /V /FO LIST.`, {
        problems: [output.stdout.trim().slice(0, 500)],
        hint: 'run the same command by hand; if its output looks normal, report it with this message',
      });
    }
    status.installed = true;
    status.runs = task.taskToRun ?? null;
    status.state = task.status ?? null;
    status.nextRun = task.nextRunTime ?? null;
    status.lastRun = task.lastRunTime ?? null;
    status.lastResult = task.lastResult === undefined ? null : describeLastResult(task.lastResult);
    status.at = task.startTime === undefined ? null : (parseStartTime(task.startTime) ?? task.startTime);

    const expected = `"${wrapperPath}"`;
    if (task.taskToRun !== undefined && unquote(task.taskToRun).toLowerCase() !== unquote(expected).toLowerCase()) {
      status.problems.push(
        `The task runs ${task.taskToRun}, not ${expected}: it was changed by hand or installed for another backup folder; \`cupm-backup schedule install\` replaces it.`,
      );
    }
    if (task.taskState !== undefined && /disabled/i.test(task.taskState)) {
      status.problems.push(
        'The task is disabled: it will not run until it is enabled again (Task Scheduler, or `schtasks /Change /TN ... /ENABLE`).',
      );
    }
    if (wrapper === undefined) {
      status.problems.push(`The wrapper ${wrapperPath} is missing: the task cannot run; \`cupm-backup schedule install\` writes it again.`);
    } else if (wrapper !== this.wrapper(request)) {
      status.problems.push(
        `The wrapper ${wrapperPath} differs from what this installation would write (moved, upgraded, or edited); \`cupm-backup schedule install\` rewrites it.`,
      );
    }
    return status;
  }
}

function unquote(text: string): string {
  return text.trim().replace(/^"(.*)"$/, '$1');
}
