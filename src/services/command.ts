import { JobFailedError } from '../errors.js';
import { execaRunner, type CommandResult, type CommandRunner, type RunFailure } from '../system/command-runner.js';
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
    private readonly runner: CommandRunner = execaRunner,
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
        throw this.failure('status', service, `exited with code ${result.exitCode}`, outputOf(result));
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
    if (result.exitCode !== 0) throw this.failure(verb, service, `exited with code ${result.exitCode}`, outputOf(result));
    await waitForState(
      service,
      wanted,
      this.timeoutSeconds,
      async () => {
        const state = await this.status(service, deadline);
        return { state, label: state };
      },
      { deadline },
    );
  }

  private run(
    verb: keyof ServiceCommandTemplates,
    service: string,
    deadline = Date.now() + this.timeoutSeconds * 1000,
  ): Promise<CommandResult> {
    const [file, ...args] = this.templates[verb].map((word) => word.replaceAll('{service}', service));
    // Shielded: out of reach of the terminal's Ctrl-C, and done when the command exits even if a
    // daemon it started keeps its output open. A status asked for at the deadline still gets a
    // moment: it says what state the service is in.
    return this.runner.run(file!, args, {
      timeoutMs: Math.max(deadline - Date.now(), 1_000),
      shielded: true,
      failure: (failure) => this.failure(verb, service, howItFailed(failure, this.timeoutSeconds), failure.output),
    });
  }

  private failure(verb: string, service: string, how: string, output: string): JobFailedError {
    return new JobFailedError(`The ${verb} command for service "${service}" ${how}${output ? `: ${output}` : '.'}`, {
      hint: `check CUPM_SERVICE_COMMAND_${verb.toUpperCase()}`,
    });
  }
}

function howItFailed(failure: RunFailure, timeoutSeconds: number): string {
  if (failure.kind === 'timed-out') return `did not finish within ${timeoutSeconds} s (CUPM_SERVICE_TIMEOUT)`;
  if (failure.code !== undefined || failure.signal === undefined)
    return `could not run (${failure.code ?? failure.message ?? 'unknown error'})`;
  return `was killed by ${failure.signal}`;
}

/** What a command printed, both streams, for a message. */
function outputOf(result: CommandResult): string {
  return [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n');
}
