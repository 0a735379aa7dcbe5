import type { Command } from 'commander';
import { dailyPattern, runDaemon } from '../schedule/daemon.js';
import { nightly } from '../schedule/nightly.js';
import { configFor, interruptSignal } from './common.js';
import { ExitWith } from './exit-code.js';
import { isFleetRun, openFleet, parseParallel, runFleet, withFleetOptions, type FleetFlags } from './fleet.js';
import { ConfigError, EXIT, type ExitCode } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import { printOut, terminalReporter } from './output.js';

interface DaemonFlags extends FleetFlags {
  cron?: string;
  stop: boolean;
  allowLive?: boolean;
  json?: boolean;
}

export function registerDaemon(program: Command): void {
  withFleetOptions(
    program
      .command('daemon')
      .description(
        'stay in the foreground and run `nightly` on a cron schedule, never two at once (containers, hosts without a scheduler); SIGTERM or Ctrl-C stops it cleanly',
      )
      .option(
        '--cron <expression>',
        'when to run: 5 cron fields, e.g. "0 2 * * *" (default: every day at CUPM_SCHEDULE_AT, else 02:00, host time)',
      )
      .option('--env-file <file>', 'read settings from this dotenv file (instead of ./cupm-backup.env)')
      .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
      .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)')
      .option(
        '--json',
        'also print one JSON object per line on stdout for each event (JSON Lines: started, run-started, run-finished, warning, waiting, stopped); human text stays on stderr',
      ),
  ).action(async (flags: DaemonFlags) => {
    const fleet = isFleetRun(flags) ? checkFleet(flags) : undefined;
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
    const signal = interruptSignal();
    if (fleet) {
      reporter.info(
        `cupm-backup daemon: nightly runs on "${pattern}" for ${fleet.servers.length === 1 ? 'server' : 'the servers'} ${fleet.servers.join(', ')} of ${fleet.serversDir}, ${fleet.parallel === 1 ? 'one after another' : `at most ${fleet.parallel} at once`}; SIGTERM or Ctrl-C stops it`,
      );
    } else {
      reporter.info(`cupm-backup daemon: nightly runs on "${pattern}" (backup folder ${config.backupDir}); SIGTERM or Ctrl-C stops it`);
    }
    await runDaemon({
      pattern,
      signal,
      reporter,
      async job(stop) {
        if (!fleet) {
          const record = await nightly(config, { noStop: !flags.stop, allowLive: flags.allowLive, signal: stop }, reporter);
          const archive = record.archive ? `: ${record.archive.path}` : '';
          human.info(`Nightly run finished ${record.outcome} (exit code ${record.exitCode})${archive}`);
          event('run-finished', { outcome: record.outcome, exitCode: record.exitCode, archive: record.archive?.path ?? null });
          return;
        }
        // Every server's nightly, as `nightly --all` runs them (each under its own lock, output
        // prefixed with its name); the fleet folder is read again for each run.
        const run = await runFleet(
          flags,
          async (io) => {
            const record = await nightly(io.config(), { noStop: !flags.stop, allowLive: flags.allowLive, signal: stop }, io.reporter);
            if (record.exitCode !== EXIT.done) throw new ExitWith(record.exitCode as ExitCode, record);
            return record;
          },
          { signal: stop },
        );
        const servers = run.results.map((r) => ({
          server: r.server,
          exitCode: r.exitCode,
          outcome: r.value?.outcome ?? null,
          archive: r.value?.archive?.path ?? null,
          error: r.error?.message ?? null,
        }));
        const outcome = run.exitCode === EXIT.done ? 'ok' : run.exitCode === EXIT.partial ? 'warning' : 'failed';
        human.info(
          `Nightly run of ${servers.length} server${servers.length === 1 ? '' : 's'} finished ${outcome} (exit code ${run.exitCode}): ${servers.map((s) => `${s.server} ${s.exitCode}`).join(', ')}`,
        );
        event('run-finished', { outcome, exitCode: run.exitCode, servers });
      },
    });
  });
}

/** `daemon --all` / `--server NAME`: the fleet checked when the daemon starts (exit 2), not first at 2 a.m. */
function checkFleet(flags: DaemonFlags): { serversDir: string; servers: string[]; parallel: number } {
  if (flags.envFile !== undefined) {
    throw new ConfigError("--env-file does not go with --server or --all: each server's settings are in its own env file.", {
      state: 'nothing was started',
    });
  }
  if (flags.server !== undefined && flags.all)
    throw new ConfigError('Give --server NAME or --all, not both.', { state: 'nothing was started' });
  const parallel = parseParallel(flags);
  const { serversDir, fleet } = openFleet(flags);
  const servers = flags.all ? fleet.map((s) => s.name) : fleet.filter((s) => s.name === flags.server).map((s) => s.name);
  if (servers.length === 0) {
    throw new ConfigError(`There is no server "${flags.server}" in the fleet folder ${serversDir}.`, {
      problems: [`known servers: ${fleet.map((s) => s.name).join(', ')}`],
      state: 'nothing was started',
    });
  }
  return { serversDir, servers, parallel };
}

/** The event type of a daemon message (schedule/daemon.ts words them); anything else is "info". */
function eventOf(message: string): string {
  if (message.startsWith('cupm-backup daemon:')) return 'started';
  if (message.startsWith('Scheduled run started')) return 'run-started';
  if (message.startsWith('Waiting for the next run') || message.startsWith('No further runs')) return 'waiting';
  if (message === 'Stopped.') return 'stopped';
  return 'info';
}
