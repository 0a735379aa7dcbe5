import type { Command } from 'commander';
import { dailyPattern, runDaemon } from '../schedule/daemon.js';
import { nightly } from '../schedule/nightly.js';
import { configFor, interruptSignal } from './common.js';
import { terminalReporter } from './output.js';

interface DaemonFlags {
  envFile?: string;
  cron?: string;
  stop: boolean;
  allowLive?: boolean;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('stay in the foreground and run `nightly` on a cron schedule, never two at once (containers, hosts without a scheduler); SIGTERM or Ctrl-C stops it cleanly')
    .option('--cron <expression>', 'when to run: 5 cron fields, e.g. "0 2 * * *" (default: every day at CUPM_SCHEDULE_AT, else 02:00, host time)')
    .option('--env-file <file>', 'read settings from this dotenv file (instead of ./cupm-backup.env)')
    .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
    .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)')
    .action(async (flags: DaemonFlags) => {
      const config = configFor(flags);
      const reporter = terminalReporter();
      const pattern = flags.cron ?? dailyPattern(config.schedule.at);
      reporter.info(`cupm-backup daemon: nightly runs on "${pattern}" (backup folder ${config.backupDir}); SIGTERM or Ctrl-C stops it`);
      await runDaemon({
        pattern,
        signal: interruptSignal(),
        reporter,
        async job(signal) {
          const record = await nightly(config, { noStop: !flags.stop, allowLive: flags.allowLive, signal }, reporter);
          const archive = record.archive ? `: ${record.archive.path}` : '';
          reporter.info(`Nightly run finished ${record.outcome} (exit code ${record.exitCode})${archive}`);
        },
      });
    });
}
