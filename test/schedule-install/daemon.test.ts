import { ConfigError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { dailyPattern, runDaemon, type DaemonEvent } from '../../src/schedule/daemon.js';
import { expect } from '../support/expect.js';

/** Every second: croner takes a seconds field first. */
const EVERY_SECOND = '* * * * * *';

/** The daemon's events, and a way to wait for one without guessing at times. */
function eventLog() {
  const events: DaemonEvent[] = [];
  const waiters: Array<{ test: () => boolean; resolve: () => void }> = [];
  return {
    events,
    onEvent(event: DaemonEvent) {
      events.push(event);
      for (const waiter of [...waiters]) {
        if (waiter.test()) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    },
    count(kind: DaemonEvent['kind']) {
      return events.filter((e) => e.kind === kind).length;
    },
    /** Resolves once `kind` has happened `n` times in all. */
    until(kind: DaemonEvent['kind'], n: number): Promise<void> {
      return new Promise((resolve) => {
        const test = () => events.filter((e) => e.kind === kind).length >= n;
        if (test()) resolve();
        else waiters.push({ test, resolve });
      });
    },
  };
}

/** A promise the test settles by hand. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('daemon: nightly on a cron schedule, in the foreground', () => {
  it('never runs two at once: a run due while one is going is skipped, and said so', async () => {
    const log = eventLog();
    const stop = new AbortController();
    const release = gate();
    let running = 0;
    let most = 0;
    const warnings: string[] = [];
    const daemon = runDaemon({
      pattern: EVERY_SECOND,
      signal: stop.signal,
      reporter: { ...silentReporter, warn: (m) => warnings.push(m) },
      onEvent: log.onEvent,
      async job() {
        running++;
        most = Math.max(most, running);
        // The first run holds on until the test lets it go; later ones end at once.
        if (log.count('started') === 1) await release.opened;
        running--;
      },
    });

    await log.until('skipped', 2);
    expect(log.count('started')).to.equal(1);
    release.open();
    await log.until('started', 2);
    await log.until('finished', 2);
    stop.abort();
    await daemon;

    expect(most).to.equal(1);
    expect(warnings.filter((w) => w.includes('is still going: skipped')).length).to.be.at.least(2);
    const kinds = log.events.map((e) => e.kind).filter((k) => k !== 'waiting');
    expect(kinds.slice(0, 3)).to.deep.equal(['started', 'skipped', 'skipped']);
    expect(kinds.at(-1)).to.equal('stopped');
  });

  it('stops on the signal: cancels the run in progress and waits for it to put things back', async () => {
    const log = eventLog();
    const stop = new AbortController();
    const steps: string[] = [];
    const daemon = runDaemon({
      pattern: EVERY_SECOND,
      signal: stop.signal,
      reporter: silentReporter,
      onEvent: log.onEvent,
      async job(signal) {
        steps.push('backing up');
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        steps.push('cancelled');
        await new Promise((resolve) => setImmediate(resolve));
        steps.push('services started again');
      },
    });

    await log.until('started', 1);
    stop.abort();
    await daemon;

    expect(steps).to.deep.equal(['backing up', 'cancelled', 'services started again']);
    expect(log.events.map((e) => e.kind).filter((k) => k !== 'waiting')).to.deep.equal(['started', 'finished', 'stopped']);
  });

  it('reports a run that throws, and goes on to the next one', async () => {
    const log = eventLog();
    const stop = new AbortController();
    const warnings: string[] = [];
    let runs = 0;
    const daemon = runDaemon({
      pattern: EVERY_SECOND,
      signal: stop.signal,
      reporter: { ...silentReporter, warn: (m) => warnings.push(m) },
      onEvent: log.onEvent,
      async job() {
        runs++;
        if (runs === 1) throw new Error('the backup folder is gone');
      },
    });

    await log.until('finished', 2);
    stop.abort();
    await daemon;

    expect(warnings[0]).to.equal('the scheduled run failed: the backup folder is gone');
    const finished = log.events.filter((e): e is Extract<DaemonEvent, { kind: 'finished' }> => e.kind === 'finished');
    expect(finished.slice(0, 2).map((e) => e.ok)).to.deep.equal([false, true]);
  });

  it('announces when the next run is due', async () => {
    const stop = new AbortController();
    const infos: string[] = [];
    const log = eventLog();
    const daemon = runDaemon({
      pattern: '0 2 * * *',
      signal: stop.signal,
      reporter: { ...silentReporter, info: (m) => infos.push(m) },
      onEvent: log.onEvent,
      job: async () => {},
    });
    await log.until('waiting', 1);
    stop.abort();
    await daemon;
    const waiting = log.events[0] as Extract<DaemonEvent, { kind: 'waiting' }>;
    expect(waiting.nextRun?.getHours()).to.equal(2);
    expect(waiting.nextRun?.getMinutes()).to.equal(0);
    expect(infos[0]).to.match(/^Waiting for the next run at .* \(0 2 \* \* \*\)$/);
    expect(infos.at(-1)).to.equal('Stopped.');
  });

  it('refuses an expression that is not cron with a configuration error', async () => {
    const stop = new AbortController();
    const error = await runDaemon({ pattern: '0 25 * * *', signal: stop.signal, reporter: silentReporter, job: async () => {} }).catch(
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).message).to.include('--cron "0 25 * * *" is not a cron expression');
  });

  it('derives the daily pattern from CUPM_SCHEDULE_AT', () => {
    expect(dailyPattern({ hour: 2, minute: 0 })).to.equal('0 2 * * *');
    expect(dailyPattern({ hour: 23, minute: 45 })).to.equal('45 23 * * *');
  });
});
