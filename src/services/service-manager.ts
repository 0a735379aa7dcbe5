import { ConfigError, JobFailedError } from '../errors.js';

/** The drivers CUPM_SERVICE_MANAGER can name. */
export const SERVICE_MANAGER_KINDS = ['windows', 'systemd', 'command', 'rpc', 'none'] as const;
export type ServiceManagerKind = (typeof SERVICE_MANAGER_KINDS)[number];

/** A service's state as the tool needs it: settled running or stopped, or on its way. */
export type ServiceState = 'running' | 'stopped' | 'pending';

/**
 * The narrow port every service driver implements (windows, systemd, command, none).
 * `stop`/`start` return only once the service reached the state (or throw after the timeout).
 */
export interface ServiceManager {
  readonly kind: string;
  /** The current state; throws ServiceNotFoundError when there is no such service. */
  status(service: string): Promise<ServiceState>;
  /** Stops the service and waits until it is stopped. */
  stop(service: string): Promise<void>;
  /** Starts the service and waits until it is running. */
  start(service: string): Promise<void>;
}

/** The service does not exist: a configuration problem (CUPM_SERVICES), exit 2. */
export class ServiceNotFoundError extends ConfigError {
  constructor(service: string, manager: string, detail?: string) {
    super(`The service "${service}" does not exist (service manager: ${manager})${detail ? `: ${detail}` : ''}.`, {
      hint: 'check CUPM_SERVICES (names or display names, comma-separated) and CUPM_SERVICE_MANAGER',
    });
  }
}

/** A service did not reach the wanted state in time. */
export class ServiceTimeoutError extends JobFailedError {
  constructor(service: string, wanted: 'stopped' | 'running', seconds: number, lastState: string) {
    super(`The service "${service}" did not become ${wanted} within ${seconds} s (last state: ${lastState}).`, {
      hint: `check the service, or raise CUPM_SERVICE_TIMEOUT (now ${seconds} s)`,
    });
  }
}

/**
 * Polls `read` until it reports `wanted`, or throws ServiceTimeoutError after `timeoutSeconds`.
 * `deadline` (epoch ms) overrides the timeout when the caller's budget started earlier.
 * `read` returns the state plus the driver's own word for it (e.g. STOP_PENDING) for the message.
 */
export async function waitForState(
  service: string,
  wanted: 'stopped' | 'running',
  timeoutSeconds: number,
  read: () => Promise<{ state: ServiceState; label: string }>,
  options: { pollMs?: number; deadline?: number } | number = {},
): Promise<void> {
  const { pollMs = 250, deadline = Date.now() + timeoutSeconds * 1000 } = typeof options === 'number' ? { pollMs: options } : options;
  let last = await read();
  while (last.state !== wanted) {
    if (Date.now() >= deadline) throw new ServiceTimeoutError(service, wanted, timeoutSeconds, last.label);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    last = await read();
  }
}
