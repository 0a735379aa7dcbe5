import type { Command } from 'commander';
import { dailyPattern, runDaemon } from '../schedule/daemon.js';
import { nightly } from '../schedule/nightly.js';
import { configFor, interruptSignal } from './common.js';
import type { Reporter } from '../jobs/reporter.js';
import { printOut, terminalReporter } from './output.js';

interface DaemonFlags {
  envFile?: string;
  cron?: string;
  stop: boolean;
  allowLive?: boolean;
  json?: boolean;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('stay in the foreground and run `nightly` on a cron schedule, never two at once (containers, hosts without a scheduler); SIGTERM or Ctrl-C stops it cleanly')
    .option('--cron <expression>', 'when to run: 5 cron fields, e.g. "0 2 * * *" (default: every day at CUPM_SCHEDULE_AT, else 02:00, host time)')
    .option('--env-file <file>', 'read settings from this dotenv file (instead of ./cupm-backup.env)')
    .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
    .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)')
    .option('--json', 'also print one JSON object per line on stdout for each event (JSON Lines: started, run-started, run-finished, warning, waiting, stopped); human text stays on stderr')
    .action(async (flags: DaemonFlags) => {
      const config = configFor(flags);
      const human = terminalReporter();
      // A daemon runs for days: --json is a stream of events, one object a line, not one object.
      const event = (type: string, fields: Record<string, unknown>) => {
        if (flags.json) printOut(`${JSON.stringify({ event: type, at: new Date().toISOString(), ...fields })}\n`);
      };
      const reporter: Reporter = {
        info(message) {
          human.info(message);
          event(eventOf(message), { message });
        },
        warn(message) {
          human.warn(message);
          event('warning', { message });
        },
        progress: (label, done, total) => human.progress(label, done, total),
      };
      const pattern = flags.cron ?? dailyPattern(config.schedule.at);
      reporter.info(`cupm-backup daemon: nightly runs on "${pattern}" (backup folder ${config.backupDir}); SIGTERM or Ctrl-C stops it`);
      await runDaemon({
        pattern,
        signal: interruptSignal(),
        reporter,
        async job(signal) {
          const record = await nightly(config, { noStop: !flags.stop, allowLive: flags.allowLive, signal }, reporter);
          const archive = record.archive ? `: ${record.archive.path}` : '';
          human.info(`Nightly run finished ${record.outcome} (exit code ${record.exitCode})${archive}`);
          event('run-finished', { outcome: record.outcome, exitCode: record.exitCode, archive: record.archive?.path ?? null });
        },
      });
    });
}

/** The event type of a daemon message (schedule/daemon.ts words them); anything else is "info". */
function eventOf(message: string): string {
  if (message.startsWith('cupm-backup daemon:')) return 'started';
  if (message.startsWith('Scheduled run started')) return 'run-started';
  if (message.startsWith('Waiting for the next run') || message.startsWith('No further runs')) return 'waiting';
  if (message === 'Stopped.') return 'stopped';
  return 'info';
}
