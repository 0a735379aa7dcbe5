import { JobFailedError, messageOf } from '../../errors.js';
import { planFailure, runPlan, type Step } from '../../jobs/plan.js';
import type { Reporter } from '../../jobs/reporter.js';
import type { TimeOfDay } from '../../config/schedule-settings.js';
import type { CommandOutput, SchedulerHost } from './host.js';

/** The schedulers `schedule install` knows. */
export type SchedulerName = 'schtasks' | 'systemd' | 'cron';

/** What a scheduled run executes: cd workDir, then program args (no shell). */
export interface NightlyCommand {
  workDir: string;
  program: string;
  args: string[];
}

/** What to install: the same for every scheduler. */
export interface ScheduleRequest {
  /** Task, unit or crontab marker name. */
  name: string;
  at: TimeOfDay;
  command: NightlyCommand;
  /** CUPM_BACKUP_DIR: where the Windows wrapper and the console output of a scheduled run go. */
  backupDir: string;
}

/** A command a plan runs; it fails unless it exits 0. */
export interface RunAction {
  kind: 'run';
  title: string;
  argv: string[];
  input?: string;
  /** What puts back what this command changed, when a later action fails. */
  undo?: { argv: string[]; input?: string };
  /** A hint for the reader when the command fails (e.g. "run as administrator"). */
  hint?: (output: CommandOutput) => string | undefined;
}

/** One change a plan makes, in order: this is what --print shows and apply does. */
export type ScheduleAction =
  | { kind: 'mkdir'; title: string; dir: string }
  | { kind: 'write'; title: string; file: string; content: string; mode: number }
  | { kind: 'remove'; title: string; file: string }
  | RunAction;

/** Everything `schedule install` or `remove` would change, before anything is changed. */
export interface SchedulePlan {
  scheduler: SchedulerName;
  name: string;
  /** What the result will be, in sentences. */
  summary: string[];
  actions: ScheduleAction[];
  /** Things the reader should know (settings the scheduled run will not see, no cron daemon ...). */
  warnings: string[];
  /** How commands are shown: Windows (cmd.exe quoting) or POSIX sh. */
  shell: 'cmd' | 'sh';
  /** Run once after a failed apply was undone (systemd re-reads the restored unit files). */
  afterUndo?: { argv: string[] };
}

/** Applies a plan on the host: each action a step; a failure undoes the steps done, in reverse. */
export async function applySchedulePlan(plan: SchedulePlan, host: SchedulerHost, reporter: Reporter, jobName: string): Promise<void> {
  const steps = plan.actions.map((action) => toStep(action, plan.shell));
  const result = await runPlan(steps, host, reporter);
  if (!result.ok && plan.afterUndo) {
    try {
      await runChecked(host, plan.afterUndo.argv, undefined, plan.shell);
    } catch (error) {
      result.undoFailed = true;
      result.steps.push({
        id: 'after-undo',
        title: formatCommand(plan.afterUndo.argv, plan.shell),
        status: 'undo-failed',
        undoError: messageOf(error),
      });
    }
  }
  if (!result.ok) {
    throw planFailure(
      jobName,
      result,
      `fix the cause above, then run \`cupm-backup ${jobName}\` again; \`cupm-backup schedule status\` shows what is installed now`,
    );
  }
}

function toStep(action: ScheduleAction, shell: 'cmd' | 'sh'): Step<SchedulerHost> {
  switch (action.kind) {
    case 'mkdir':
      // No undo: an empty folder left behind harms nothing, and it may have been made by someone else meanwhile.
      return { id: `mkdir ${action.dir}`, title: action.title, changes: [`create ${action.dir}`], run: (host) => host.makeDir(action.dir) };
    case 'write': {
      let before: string | undefined;
      return {
        id: `write ${action.file}`,
        title: action.title,
        changes: [`write ${action.file}`],
        async run(host) {
          before = await host.readFile(action.file);
          await host.writeFile(action.file, action.content, action.mode);
        },
        async undo(host) {
          if (before === undefined) await host.removeFile(action.file);
          else await host.writeFile(action.file, before, action.mode);
        },
      };
    }
    case 'remove': {
      let before: string | undefined;
      return {
        id: `remove ${action.file}`,
        title: action.title,
        changes: [`remove ${action.file}`],
        async run(host) {
          before = await host.readFile(action.file);
          await host.removeFile(action.file);
        },
        async undo(host) {
          if (before !== undefined) await host.writeFile(action.file, before, 0o644);
        },
      };
    }
    case 'run': {
      const undo = action.undo;
      return {
        id: action.argv.join(' '),
        title: action.title,
        changes: [`run ${formatCommand(action.argv, shell)}`],
        async run(host) {
          await runChecked(host, action.argv, action.input, shell, action.hint);
        },
        undo: undo ? async (host) => void (await runChecked(host, undo.argv, undo.input, shell)) : undefined,
      };
    }
  }
}

/** Runs a command; anything but exit 0 is an error quoting what it printed. */
export async function runChecked(
  host: SchedulerHost,
  argv: string[],
  input: string | undefined,
  shell: 'cmd' | 'sh',
  hint?: (output: CommandOutput) => string | undefined,
): Promise<CommandOutput> {
  const output = await host.run(argv, input === undefined ? {} : { input });
  if (output.exitCode !== 0) {
    const said = oneLine(output.stderr) || oneLine(output.stdout) || 'no output';
    throw new JobFailedError(`${formatCommand(argv, shell)} failed (exit code ${output.exitCode}): ${said}`, {
      hint: hint?.(output) ?? `run it by hand to see more; the scheduler's own tools (${argv[0]}) can show the state`,
    });
  }
  return output;
}

/** The lines of a plan for --print: the summary, then every action with a file's whole content. */
export function formatSchedulePlan(plan: SchedulePlan): string[] {
  const lines = [...plan.summary];
  if (plan.actions.length === 0) lines.push('', 'Nothing to change.');
  for (const [i, action] of plan.actions.entries()) {
    lines.push('');
    switch (action.kind) {
      case 'write':
        lines.push(`${i + 1}. Write ${action.file} (mode ${action.mode.toString(8)}):`);
        for (const line of action.content.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n')) lines.push(`     ${line}`.trimEnd());
        break;
      case 'remove':
        lines.push(`${i + 1}. Remove ${action.file}`);
        break;
      case 'mkdir':
        lines.push(`${i + 1}. Create the folder ${action.dir} (if missing)`);
        break;
      case 'run':
        lines.push(`${i + 1}. Run: ${formatCommand(action.argv, plan.shell)}`);
        if (action.input !== undefined) {
          lines.push('   with this input:');
          for (const line of action.input.replace(/\n$/, '').split('\n')) lines.push(`     ${line}`.trimEnd());
        }
        break;
    }
  }
  for (const warning of plan.warnings) lines.push('', `warning: ${warning}`);
  return lines;
}

/** The plan as JSON: what --print --json shows. */
export function schedulePlanJson(plan: SchedulePlan) {
  return {
    scheduler: plan.scheduler,
    name: plan.name,
    summary: plan.summary,
    actions: plan.actions.map((action) =>
      action.kind === 'run'
        ? { kind: action.kind, title: action.title, argv: action.argv, ...(action.input === undefined ? {} : { input: action.input }) }
        : action.kind === 'write'
          ? { kind: action.kind, title: action.title, file: action.file, mode: action.mode, content: action.content }
          : action.kind === 'mkdir'
            ? { kind: action.kind, title: action.title, dir: action.dir }
            : { kind: action.kind, title: action.title, file: action.file },
    ),
    warnings: plan.warnings,
  };
}

/** A command line as a person would type it: cmd.exe quoting on Windows, POSIX sh elsewhere. */
export function formatCommand(argv: string[], shell: 'cmd' | 'sh'): string {
  return argv.map((arg) => (shell === 'cmd' ? quoteWindowsArg(arg) : quotePosix(arg))).join(' ');
}

/** Quotes one argument the way the Windows C runtime reads it back (Node's spawn does the same). */
export function quoteWindowsArg(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    if (ch === '"') {
      out += '\\'.repeat(backslashes * 2 + 1) + '"';
    } else {
      out += '\\'.repeat(backslashes) + ch;
    }
    backslashes = 0;
  }
  return out + '\\'.repeat(backslashes * 2) + '"';
}

/** Single-quotes a word for /bin/sh unless it is plainly safe. */
export function quotePosix(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
