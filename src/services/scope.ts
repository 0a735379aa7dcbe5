import { CupmError, DirtyStateError, JobFailedError, messageOf } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import type { ServiceManager } from './service-manager.js';

/** What the scope did, for reports and manifests. */
export interface ServiceScopeRecord {
  /** Services this scope stopped (and will start again), in stop order. */
  stopped: string[];
  /** Services that were already stopped and were left so. */
  alreadyStopped: string[];
  /**
   * Set by the job (with the reason) when the services it stopped must stay stopped: they are
   * then not started again (a restore whose undo could not finish: CUPM must not run on that database).
   */
  keepStopped?: string;
}

/**
 * Stops `services` in order, runs `fn`, then starts again, in reverse order, exactly the services
 * it stopped, whatever happened: a service found stopped stays stopped. If a stop fails, the ones
 * already stopped are started again before the error propagates. If a start fails, that is exit 5:
 * the server is left with a service down, and the message says which and how to start it.
 */
export async function withServicesStopped<T>(
  manager: ServiceManager,
  services: string[],
  reporter: Reporter,
  fn: (record: ServiceScopeRecord) => Promise<T>,
  options: { signal?: AbortSignal; onStopped?: (record: ServiceScopeRecord) => Promise<void> } = {},
): Promise<T> {
  const record: ServiceScopeRecord = { stopped: [], alreadyStopped: [] };
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    // Ask about every service before stopping any: a misspelt name must not cost a restart. One
    // after another: Wine's sc.exe, asked three at once, failed a later query once in CI.
    const states = [];
    for (const service of services) states.push(await manager.status(service));
    for (const [i, service] of services.entries()) {
      if (states[i] === 'stopped') {
        record.alreadyStopped.push(service);
        reporter.info(`${service} is already stopped; it will stay stopped`);
        continue;
      }
      // Ctrl-C / SIGTERM: no service is stopped after it, not even the first (the one being stopped finishes, below).
      if (options.signal?.aborted) throw cancelledWhileStopping(record);
      reporter.info(`Stopping ${service}`);
      // Counted before the call: a stop that fails half way may still have stopped it.
      record.stopped.push(service);
      // The crash record names it before it goes down: a kill -9 from here on is healed by the next run.
      await options.onStopped?.(record);
      await manager.stop(service);
      // Ctrl-C / SIGTERM during a stop: the stop itself finishes (it runs shielded), then no more.
      if (options.signal?.aborted) throw cancelledWhileStopping(record);
    }
    if (options.signal?.aborted) throw cancelledWhileStopping(record);
    outcome = { ok: true, value: await fn(record) };
  } catch (error) {
    outcome = { ok: false, error };
  }

  const notStarted: string[] = [];
  for (const service of record.keepStopped === undefined ? [...record.stopped].reverse() : []) {
    try {
      if ((await manager.status(service)) === 'running') continue;
      reporter.info(`Starting ${service}`);
      await manager.start(service);
    } catch (error) {
      notStarted.push(`${service}: ${messageOf(error)}`);
    }
  }

  if (notStarted.length > 0) {
    const before = outcome.ok ? 'The job itself succeeded' : `The job failed first: ${describe(outcome.error)}`;
    throw new DirtyStateError('Services could not be started again after the job:', {
      problems: notStarted,
      state: `${before}. These services are stopped now: ${notStarted.map((s) => s.split(':')[0]).join(', ')}.`,
      hint: `start them by hand (${startHint(manager.kind)}), then check the server`,
    });
  }
  if (!outcome.ok) {
    if (outcome.error instanceof CupmError && record.stopped.length > 0 && record.keepStopped === undefined) {
      // The job's error told with what the scope adds to its state (a new error: the one thrown stays as it was made).
      const services = `the services stopped for the job (${record.stopped.join(', ')}) are running again`;
      throw outcome.error.withState(outcome.error.state ? `${outcome.error.state}; ${services}` : services);
    }
    throw outcome.error;
  }
  return outcome.value;
}

function cancelledWhileStopping(record: ServiceScopeRecord): JobFailedError {
  return new JobFailedError(
    record.stopped.length > 0
      ? 'The job was cancelled (Ctrl-C or SIGTERM) while stopping the services.'
      : 'The job was cancelled (Ctrl-C or SIGTERM) before any service was stopped.',
  );
}

function describe(error: unknown): string {
  return error instanceof CupmError ? error.message : messageOf(error);
}

function startHint(kind: string): string {
  switch (kind) {
    case 'windows':
      return 'sc.exe start "<name>", or the Services console';
    case 'systemd':
      return 'systemctl start <name>';
    case 'rpc':
      return 'net rpc service start <name> -S <CUPM_SERVER> -U <CUPM_SERVER_USER>, or the Services console on the server';
    default:
      return 'your service start command';
  }
}
