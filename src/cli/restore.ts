import { InvalidArgumentError, type Command } from 'commander';
import { stepLines } from '../restore/outcome.js';
import { formatPlan } from '../restore/plan.js';
import { recoveryBefore, restore, type RestoreResult } from '../restore/restore.js';
import { DEFAULT_LOAD_JOBS } from '../restore/prepare.js';
import { CupmError } from '../errors.js';
import { FailedWithReport } from './exit-code.js';
import { confirmer } from './confirm.js';
import { configFor, interruptSignal, withCommonOptions, type CommonOptions } from './common.js';
import { identityOverride, withIdentity } from './encryption-options.js';
import { formatDuration } from '../format/units.js';
import { printJson, terminalReporter, printOut } from './output.js';

/** The flags restore and migrate share. */
export interface RestoreLikeFlags extends CommonOptions {
  dbHost?: string;
  dbPort?: number;
  oldNiceHost?: string;
  keepPrevious?: boolean;
  allowVersionMismatch?: boolean;
  adminPasswordFromBackup?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  identity?: string;
  /** --live (the default) / --no-live. */
  live?: boolean;
  /** --jobs: psql sessions loading the dump. */
  jobs?: number;
}

interface RestoreFlags extends RestoreLikeFlags {
  files: boolean;
}

/** The options restore and migrate share, from their flags. */
export function restoreLikeOptions(flags: RestoreLikeFlags, command: 'restore' | 'migrate') {
  return {
    dbHost: flags.dbHost,
    dbPort: flags.dbPort,
    oldNiceHost: flags.oldNiceHost,
    keepPrevious: flags.keepPrevious,
    allowVersionMismatch: flags.allowVersionMismatch,
    adminPasswordFromBackup: flags.adminPasswordFromBackup,
    live: flags.live,
    jobs: flags.jobs,
    dryRun: flags.dryRun,
    // Counting the rows to purge reads the dump once more: only where a person reads the plan.
    countPurgeRows: flags.dryRun || (!flags.yes && process.stdin.isTTY === true),
    confirm: confirmer(flags.yes, command),
    // A second Ctrl-C ends the tool at once; the journal finishes or undoes on the next run.
    signal: interruptSignal({ secondEndsAtOnce: true }),
  };
}

/** restore and migrate: the plain restore instead of the live one. */
export const NO_LIVE_HELP =
  'stop the services for the whole restore (move the database aside, load, start) instead of loading while CUPM runs';

/** restore and migrate: the load's sessions. */
export const JOBS_HELP = `psql sessions loading the dump: helpers load whole tables' data while the first session runs the rest (default ${DEFAULT_LOAD_JOBS}, as psql -f; more pays where PostgreSQL has cores to spare, as when cupm-backup runs on an admin host)`;

/** commander parser for --jobs: 1-8 sessions, or a usage error (exit 2). */
export function parseJobs(value: string): number {
  const jobs = Number(value);
  if (!/^\d+$/.test(value) || jobs < 1 || jobs > 8) throw new InvalidArgumentError('must be a number of sessions (1-8).');
  return jobs;
}

/** commander parser for port options: a number 1-65535 or a usage error (exit 2). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('must be a port number (1-65535).');
  return port;
}

export function registerRestore(program: Command): void {
  withCommonOptions(
    withIdentity(
      program
        .command('restore')
        .description(
          'restore an archive onto this server: database (the current one moved aside, then dropped) and CUPM files; rewrite hosts; purge nicesyseng',
        )
        .argument('<archive>', 'the archive to restore')
        .option('--db-host <host>', 'rewrite the database host in dfc.properties (dfc.postgres.host or hostlist) and dfc-ds.xml')
        .option('--db-port <port>', 'rewrite the database port in dfc.properties and dfc-ds.xml', parsePort)
        .option('--old-nice-host <host>', 'delete the rows of this old NICE host from nicesyseng')
        .option('--no-files', 'restore only the database, not the CUPM files')
        .option('--keep-previous', 'keep the previous database (renamed <db>__previous_<UTC stamp>) instead of dropping it')
        .option('--allow-version-mismatch', 'restore even when the archive holds another CUPM version than the installed one')
        .option('--admin-password-from-backup', "set the admin role's password to the backup's (by default it stays as it is)")
        .option(
          '--live',
          'the default when the database exists: load into <db>__incoming_<UTC stamp> while CUPM runs, stop the services only for the swap',
        )
        .option('--no-live', NO_LIVE_HELP)
        .option('--jobs <n>', JOBS_HELP, parseJobs)
        .option('--dry-run', 'print what would be done, change nothing')
        .option('--yes', 'do not ask for confirmation (required without a terminal)'),
    ),
  ).action(async (archive: string, flags: RestoreFlags) => {
    const config = configFor(flags, identityOverride(flags));
    const reporter = terminalReporter();
    const result = await withRecoveryReport(
      restore(config, archive, { ...restoreLikeOptions(flags, 'restore'), noFiles: !flags.files }, reporter),
      flags.json === true,
    );
    printRestoreResult(result, flags.json === true);
  });
}

/** A restore or migrate that finished an interrupted one and then failed: its --json still carries `recovery`. */
export async function withRecoveryReport<T>(run: Promise<T>, json: boolean): Promise<T> {
  try {
    return await run;
  } catch (error) {
    const recovery = recoveryBefore(error);
    if (json && recovery && error instanceof CupmError) throw new FailedWithReport(error, { recovery });
    throw error;
  }
}

/** The outcome of restore or migrate: the plan (--dry-run) or the steps, as text or one JSON object. */
export function printRestoreResult(result: RestoreResult, json: boolean): void {
  const reporter = terminalReporter();
  if (result.dryRun) {
    if (json) printJson({ ok: true, dryRun: true, plan: result.plan });
    else printOut(`${formatPlan(result.plan).join('\n')}\n\n(--dry-run: nothing was changed)\n`);
    return;
  }
  reporter.info(['', ...stepLines(result.steps)].join('\n'));
  const what = result.plan.command === 'migrate' ? 'Migrated' : 'Restored';
  const purge = result.nicesysengDeleted === null ? '' : `; ${result.nicesysengDeleted} nicesyseng row(s) deleted`;
  const kept = result.previousDatabases.length > 0 ? `; previous database kept: ${result.previousDatabases.join(', ')}` : '';
  const down = result.servicesDownMs ? `; services down ${formatDuration(result.servicesDownMs)}` : '';
  reporter.info(`${what} ${result.plan.archive} (${formatDuration(result.durationMs)}${down})${purge}${kept}`);
  if (json) {
    printJson({
      ok: true,
      dryRun: false,
      command: result.plan.command,
      archive: result.plan.archive,
      steps: result.steps,
      recovery: result.recovery,
      rewrites: result.plan.rewrites,
      ports: result.plan.ports,
      nicesysengDeleted: result.nicesysengDeleted,
      previousDatabases: result.previousDatabases,
      notes: result.notes,
      durationMs: result.durationMs,
      servicesDownMs: result.servicesDownMs,
    });
  }
}
