import { execa } from 'execa';
import { JobFailedError } from '../errors.js';
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

  async status(service: string): Promise<ServiceState> {
    const result = await this.run('status', service);
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
    const result = await this.run(verb, service);
    if (result.exitCode !== 0) throw this.failure(verb, service, result);
    await waitForState(service, wanted, this.timeoutSeconds, async () => {
      const state = await this.status(service);
      return { state, label: state };
    });
  }

  private run(verb: keyof ServiceCommandTemplates, service: string) {
    const [file, ...args] = this.templates[verb].map((word) => word.replaceAll('{service}', service));
    return execa(file!, args, {
      reject: false,
      stdin: 'ignore',
      timeout: this.timeoutSeconds * 1000,
      maxBuffer: 64 * 1024,
    });
  }

  private failure(
    verb: string,
    service: string,
    result: { exitCode?: number | undefined; signal?: string | undefined; stderr: string; stdout: string; timedOut?: boolean; failed?: boolean; code?: string; originalMessage?: string },
  ): JobFailedError {
    const output = String(result.stderr || result.stdout || '').trim();
    const how = result.timedOut
      ? `did not finish within ${this.timeoutSeconds} s`
      : result.exitCode === undefined
        ? `could not run (${result.code ?? result.originalMessage ?? 'unknown error'})`
        : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    return new JobFailedError(`The ${verb} command for service "${service}" ${how}${output ? `: ${output}` : '.'}`, {
      hint: `check CUPM_SERVICE_COMMAND_${verb.toUpperCase()}`,
    });
  }
}
