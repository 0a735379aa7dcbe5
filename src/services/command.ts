import { JobFailedError } from '../errors.js';
import { runShielded, type ShieldedResult } from './shielded-child.js';
import { ServiceNotFoundError, waitForState, type ServiceManager, type ServiceState } from './service-manager.js';

/** Argument-array templates of the `command` service manager; `{service}` is substituted. */
export interface ServiceCommandTemplates {
  stop: string[];
  start: string[];
  status: string[];
}

/**
 * CUPM_SERVICE_MANAGER=command: three command templates (argument arrays, no shell), `{service}`
 * replaced by the name. STATUS follows LSB: 0 running, 3 stopped (1 and 2: dead, so stopped too),
 * 4 unknown service.
 */
export class CommandServiceManager implements ServiceManager {
  readonly kind = 'command';

  constructor(
    private readonly templates: ServiceCommandTemplates,
    private readonly timeoutSeconds: number,
  ) {}

  async status(service: string, deadline?: number): Promise<ServiceState> {
    const result = await this.run('status', service, deadline);
    switch (result.exitCode) {
      case 0:
        return 'running';
      case 1:
      case 2:
      case 3:
        return 'stopped';
      case 4:
        throw new ServiceNotFoundError(service, this.kind, 'the status command exited with 4 (unknown service)');
      default:
        throw this.failure('status', service, result);
    }
  }

  async stop(service: string): Promise<void> {
    await this.change('stop', 'stopped', service);
  }

  async start(service: string): Promise<void> {
    await this.change('start', 'running', service);
  }

  private async change(verb: 'stop' | 'start', wanted: 'stopped' | 'running', service: string): Promise<void> {
    // CUPM_SERVICE_TIMEOUT covers the whole call: the command and the wait for the state after it.
    const deadline = Date.now() + this.timeoutSeconds * 1000;
    const result = await this.run(verb, service, deadline);
    if (result.exitCode !== 0) throw this.failure(verb, service, result);
    await waitForState(service, wanted, this.timeoutSeconds, async () => {
      const state = await this.status(service, deadline);
      return { state, label: state };
    }, { deadline });
  }

  private run(verb: keyof ServiceCommandTemplates, service: string, deadline = Date.now() + this.timeoutSeconds * 1000): Promise<ShieldedResult> {
    const [file, ...args] = this.templates[verb].map((word) => word.replaceAll('{service}', service));
    // A status asked for at the deadline still gets a moment: it says what state the service is in.
    return runShielded(file!, args, { timeoutMs: Math.max(deadline - Date.now(), 1_000) });
  }

  private failure(verb: string, service: string, result: ShieldedResult): JobFailedError {
    const how = result.timedOut
      ? `did not finish within ${this.timeoutSeconds} s (CUPM_SERVICE_TIMEOUT)`
      : result.spawnError
        ? `could not run (${result.spawnError})`
        : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    return new JobFailedError(`The ${verb} command for service "${service}" ${how}${result.output ? `: ${result.output}` : '.'}`, {
      hint: `check CUPM_SERVICE_COMMAND_${verb.toUpperCase()}`,
    });
  }
}
