import { Cron } from 'croner';
import type { TimeOfDay } from '../config/schedule-settings.js';
import { ConfigError, messageOf } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';

/** What the daemon is doing, for whoever watches it (tests, a log). */
export type DaemonEvent =
  | { kind: 'waiting'; nextRun: Date | null }
  | { kind: 'started'; at: Date }
  | { kind: 'skipped'; at: Date }
  | { kind: 'finished'; at: Date; ok: boolean }
  | { kind: 'stopped' };

export interface DaemonOptions {
  /** A cron expression: 5 fields (minute hour day month weekday), or 6 with seconds first. */
  pattern: string;
  /** The work of one run. It gets the daemon's stop signal: a run in progress is cancelled with it. */
  job(signal: AbortSignal): Promise<unknown>;
  /** Stops the daemon; a run in progress is cancelled and waited for. */
  signal: AbortSignal;
  reporter: Reporter;
  /** IANA time zone of the pattern (default: the host's). */
  timezone?: string;
  onEvent?(event: DaemonEvent): void;
}

/** "0 2 * * *" for { hour: 2, minute: 0 }. */
export function dailyPattern(at: TimeOfDay): string {
  return `${at.minute} ${at.hour} * * *`;
}

/** Checks a cron expression the way the daemon will read it; a ConfigError says what is wrong. */
export function checkPattern(pattern: string, timezone?: string): void {
  try {
    const probe = new Cron(pattern, { paused: true, timezone });
    const next = probe.nextRun();
    probe.stop();
    if (next === null) throw new Error('it never fires');
  } catch (error) {
    throw new ConfigError(`--cron "${pattern}" is not a cron expression this tool can use: ${messageOf(error)}.`, {
      state: 'nothing was started',
      hint: 'give 5 fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * *" for 02:00 every day',
    });
  }
}

/**
 * Runs `job` on a cron schedule in the foreground until `signal` fires (for containers and hosts
 * with neither Task Scheduler, systemd nor cron). Never two runs at once: a run still going when
 * the next one is due makes that one skipped (croner's `protect`), and says so. A run that throws
 * is reported; the daemon goes on. On stop, a run in progress is cancelled and waited for.
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { reporter, signal } = options;
  checkPattern(options.pattern, options.timezone);
  if (signal.aborted) return;
  const emit = (event: DaemonEvent) => options.onEvent?.(event);
  let current: Promise<void> | undefined;

  const cron = new Cron(
    options.pattern,
    {
      timezone: options.timezone,
      protect: (job) => {
        const at = new Date();
        reporter.warn(
          `a run was due at ${at.toISOString()}, but the previous one (started ${job.currentRun()?.toISOString() ?? '?'}) is still going: skipped`,
        );
        emit({ kind: 'skipped', at });
      },
    },
    async () => {
      if (signal.aborted) return;
      const at = new Date();
      emit({ kind: 'started', at });
      reporter.info(`Scheduled run started at ${at.toISOString()}`);
      let ok = false;
      current = (async () => {
        try {
          await options.job(signal);
          ok = true;
        } catch (error) {
          reporter.warn(`the scheduled run failed: ${messageOf(error)}`);
        }
      })();
      await current;
      current = undefined;
      emit({ kind: 'finished', at: new Date(), ok });
      if (!signal.aborted) announceNext();
    },
  );

  const announceNext = () => {
    const next = cron.nextRun();
    reporter.info(next ? `Waiting for the next run at ${next.toISOString()} (${options.pattern})` : 'No further runs are due.');
    emit({ kind: 'waiting', nextRun: next });
  };
  announceNext();

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  cron.stop();
  if (current) {
    reporter.info('Stopping: waiting for the run in progress to cancel and put things back');
    await current;
  }
  reporter.info('Stopped.');
  emit({ kind: 'stopped' });
}
