import { ConfigError, JobFailedError, type CupmError } from '../errors.js';
import { commandLine, execaRunner, type CommandRunner, type RunFailure } from '../system/command-runner.js';
import {
  parseGetKeyName,
  parseRegDisplayNames,
  parseScError,
  parseScQuery,
  scDeleteOutcome,
  scErrorCode,
  scFailureText,
  SC_STATE,
  SERVICES_KEY,
  WIN32_ERROR,
  type DeleteOutcome,
  type ScStatus,
} from '../system/windows-output.js';
import { ServiceNotFoundError, waitForState, type ServiceManager, type ServiceState } from './service-manager.js';

/** Options of the sc.exe driver. */
export interface WindowsServiceManagerOptions {
  /** Seconds a service may take to reach its state (CUPM_SERVICE_TIMEOUT). */
  timeoutSeconds: number;
  /** The sc.exe to run; looked up on PATH by default. */
  scExe?: string;
  /** The reg.exe to run when sc.exe cannot resolve a display name; looked up on PATH by default. */
  regExe?: string;
  /** How often to ask `sc.exe query` while a service is pending. */
  pollMs?: number;
  /** CUPM_SERVER: the services are on this host, reached as `sc.exe \\HOST` and `reg.exe query \\HOST\HKLM\...`. */
  server?: string | undefined;
  /** How sc.exe and reg.exe are run (tests replay recorded output through their own). */
  runner?: CommandRunner;
}

/** The least time one sc.exe run gets, whatever CUPM_SERVICE_TIMEOUT says. */
const SC_RUN_TIMEOUT_FLOOR_SECONDS = 30;

interface ScOutput {
  args: string[];
  exitCode: number;
  text: string;
}

/**
 * CUPM_SERVICE_MANAGER=windows: drives the Service Control Manager through sc.exe. Names are key
 * names or display names (resolved with `sc.exe getkeyname`, else from the registry), matched
 * case-insensitively.
 */
export class WindowsServiceManager implements ServiceManager {
  readonly kind = 'windows';
  private readonly timeoutSeconds: number;
  private readonly scExe: string;
  private readonly regExe: string;
  private readonly pollMs: number | undefined;
  private readonly server: string | undefined;
  private readonly runner: CommandRunner;
  /** Lower-cased configured name -> the key name sc.exe answered to. */
  private readonly keyNames = new Map<string, string>();

  constructor(options: WindowsServiceManagerOptions) {
    this.timeoutSeconds = options.timeoutSeconds;
    this.scExe = options.scExe ?? 'sc.exe';
    this.regExe = options.regExe ?? 'reg.exe';
    this.pollMs = options.pollMs;
    this.server = options.server;
    this.runner = options.runner ?? execaRunner;
  }

  async status(service: string): Promise<ServiceState> {
    return (await this.query(service)).status.state;
  }

  async stop(service: string): Promise<void> {
    const found = await this.query(service);
    const name = found.name;
    let status = found.status;
    if (status.code === SC_STATE.stopped) return;
    if (status.code === SC_STATE.startPending || status.code === SC_STATE.continuePending || status.code === SC_STATE.pausePending) {
      // A stop sent mid-transition fails with 1061: let the transition finish first.
      status = await this.settle(service, name, status, 'running');
      if (status.code === SC_STATE.stopped) return;
    }
    if (status.code !== SC_STATE.stopPending) {
      const out = await this.sc(['stop', name]);
      const code = scErrorCode(out);
      // 1062: it stopped by itself since we looked. 1061: someone else's transition is under way.
      // Either way the poll below tells how it ends.
      if (code !== undefined && code !== WIN32_ERROR.notActive && code !== WIN32_ERROR.cannotAcceptControl) {
        throw this.failure('stop', service, name, out);
      }
      // sc.exe stop prints the state it left the service in: STOPPED already needs no poll.
      if (code === undefined && parseScQuery(out.text)?.code === SC_STATE.stopped) return;
    }
    await this.waitUntil(service, name, 'stopped');
  }

  async start(service: string): Promise<void> {
    const found = await this.query(service);
    const name = found.name;
    let status = found.status;
    if (status.code === SC_STATE.running) return;
    if (status.code === SC_STATE.stopPending || status.code === SC_STATE.pausePending) {
      // A start sent while it is still stopping fails with 1056: let the stop finish first.
      status = await this.settle(service, name, status, status.code === SC_STATE.stopPending ? 'stopped' : 'running');
      if (status.code === SC_STATE.running) return;
    }
    if (status.code === SC_STATE.stopped || status.code === SC_STATE.paused) {
      // A paused service ignores `start` (1056); `continue` resumes it.
      const verb = status.code === SC_STATE.paused ? 'continue' : 'start';
      const out = await this.sc([verb, name]);
      const code = scErrorCode(out);
      // 1056: someone else started it since we looked; the poll below confirms it.
      if (code !== undefined && code !== WIN32_ERROR.alreadyRunning) throw this.failure(verb, service, name, out);
      if (code === undefined && parseScQuery(out.text)?.code === SC_STATE.running) return;
    }
    await this.waitUntil(service, name, 'running');
  }

  /**
   * Deletes a stopped service (`sc.exe delete <key name>`), for the clean-up of a failed upgrade.
   * Refuses one that is not stopped: the install guide deletes services only once they are not running (docs/cupm.md).
   */
  async delete(service: string): Promise<DeleteOutcome> {
    let found: { name: string; status: ScStatus };
    try {
      found = await this.query(service);
    } catch (error) {
      if (error instanceof ServiceNotFoundError) return 'absent';
      throw error;
    }
    const { name, status } = found;
    if (status.code !== SC_STATE.stopped) {
      throw new JobFailedError(`Will not delete the service ${named(service, name)}: it is ${status.label}, not stopped.`, {
        state: 'the service was left as it is',
        hint: `stop it first (sc.exe stop "${name}"), then delete it`,
      });
    }
    this.keyNames.delete(service.toLowerCase());
    const out = await this.sc(['delete', name]);
    const outcome = scDeleteOutcome(scErrorCode(out));
    if (outcome === undefined) throw this.failure('delete', service, name, out);
    if (outcome !== 'deleted') return outcome;
    // Success means "marked": it is removed when its last handle closes, at once when none is open.
    return scErrorCode(await this.sc(['query', name])) === WIN32_ERROR.doesNotExist ? 'deleted' : 'marked-for-deletion';
  }

  /** Queries a configured name, resolving it to its key name the first time. */
  private async query(service: string): Promise<{ name: string; status: ScStatus }> {
    const cacheKey = service.toLowerCase();
    const known = this.keyNames.get(cacheKey);
    let name = known ?? service;
    let out = await this.sc(['query', name]);
    if (known === undefined && scErrorCode(out) === WIN32_ERROR.doesNotExist) {
      // `sc query` takes key names only; CUPM_SERVICES may hold the display name (`cupm JBossService`).
      name = await this.keyNameOf(service);
      out = await this.sc(['query', name]);
    }
    const status = this.readStatus(service, name, out);
    this.keyNames.set(cacheKey, name);
    return { name, status };
  }

  private async queryKeyName(service: string, name: string): Promise<ScStatus> {
    return this.readStatus(service, name, await this.sc(['query', name]));
  }

  private readStatus(service: string, name: string, out: ScOutput): ScStatus {
    const code = scErrorCode(out);
    if (code === WIN32_ERROR.doesNotExist) {
      throw new ServiceNotFoundError(service, this.kind, 'sc.exe knows no service by that key name or display name (error 1060)');
    }
    if (code !== undefined) throw this.failure('query', service, name, out);
    const status = parseScQuery(out.text);
    if (!status) {
      throw new JobFailedError(
        `Could not read the state of service ${named(service, name)} from sc.exe query: ${oneLine(out.text) || 'no output'}.`,
        {
          hint: `run sc.exe query "${name}" by hand; if its output looks normal, report it with this message`,
        },
      );
    }
    return status;
  }

  private async keyNameOf(service: string): Promise<string> {
    const out = await this.sc(['getkeyname', service]);
    const code = scErrorCode(out);
    if (code === WIN32_ERROR.doesNotExist) {
      throw new ServiceNotFoundError(
        service,
        this.kind,
        'sc.exe knows it neither as a service (key) name nor as a display name (error 1060)',
      );
    }
    const keyName = code === undefined ? parseGetKeyName(out.text) : undefined;
    if (keyName !== undefined) return keyName;
    // getkeyname gave no answer (Wine's sc.exe has no getkeyname; a restricted account may get
    // none): the display names are also in the registry, next to the key names.
    return this.keyNameFromRegistry(service, out);
  }

  private async keyNameFromRegistry(service: string, getKeyName: ScOutput): Promise<string> {
    const args = ['query', this.server === undefined ? SERVICES_KEY : `\\\\${this.server}\\${SERVICES_KEY}`, '/s', '/v', 'DisplayName'];
    const result = await this.run('reg.exe', this.regExe, args, 4 * 1024 * 1024);
    const services = parseRegDisplayNames(result.text);
    if (result.exitCode !== 0 && services.length === 0) {
      const failed = parseScError(getKeyName.text);
      throw new JobFailedError(`Could not find which service has the display name "${service}".`, {
        problems: [
          `sc.exe getkeyname: ${failed ? `${failed.operation} FAILED ${failed.code}` : `exit status ${getKeyName.exitCode}${oneLine(getKeyName.text) ? `: ${oneLine(getKeyName.text)}` : ''}`}`,
          `${commandLine('reg.exe', args)}: exit status ${result.exitCode}${oneLine(result.text) ? `: ${oneLine(result.text)}` : ''}`,
        ],
        state: 'nothing was changed',
        hint:
          this.server === undefined
            ? 'put the service name (Services console > Properties > "Service name") in CUPM_SERVICES instead of the display name'
            : `reg.exe reads ${this.server}'s registry through its Remote Registry service: start it there (sc.exe \\\\${this.server} start RemoteRegistry), or put the service name (Services console > Properties > "Service name") in CUPM_SERVICES instead of the display name`,
      });
    }
    const wanted = service.toLowerCase();
    const match = services.find((s) => s.displayName.toLowerCase() === wanted);
    if (match) return match.keyName;
    throw new ServiceNotFoundError(
      service,
      this.kind,
      `sc.exe knows no service by that key name (error 1060), and no service in the registry (${SERVICES_KEY}) has it as its display name`,
    );
  }

  /** Waits out a transition (someone else's, or one sc.exe refuses to interrupt), however it ends. */
  private async settle(service: string, name: string, from: ScStatus, heading: 'running' | 'stopped'): Promise<ScStatus> {
    let last = from;
    await waitForState(
      service,
      heading,
      this.timeoutSeconds,
      async () => {
        last = await this.queryKeyName(service, name);
        const settled = last.code === SC_STATE.stopped || last.code === SC_STATE.running || last.code === SC_STATE.paused;
        return { state: settled ? heading : 'pending', label: last.label };
      },
      this.pollMs,
    );
    return last;
  }

  /** `sc.exe stop|start` return while the service is still pending: poll until it arrives. */
  private async waitUntil(service: string, name: string, wanted: 'running' | 'stopped'): Promise<void> {
    await waitForState(
      service,
      wanted,
      this.timeoutSeconds,
      async () => {
        let status: ScStatus;
        try {
          status = await this.queryKeyName(service, name);
        } catch (error) {
          // A service marked for deletion (sc.exe delete while it ran) is removed the moment it
          // stops: gone is as stopped as it gets.
          if (wanted === 'stopped' && error instanceof ServiceNotFoundError) {
            this.keyNames.delete(service.toLowerCase());
            return { state: 'stopped', label: 'DELETED' };
          }
          throw error;
        }
        // Stopped while we wait for running: the service exited during start-up. Say so now
        // rather than after the whole timeout.
        if (wanted === 'running' && status.code === SC_STATE.stopped) throw this.diedWhileStarting(service, name, status);
        return { state: status.state, label: status.label };
      },
      this.pollMs,
    );
  }

  private sc(args: string[]): Promise<ScOutput> {
    // `sc.exe \\HOST <verb> ...` drives the Service Control Manager of that host.
    return this.run('sc.exe', this.scExe, this.server === undefined ? args : [`\\\\${this.server}`, ...args], 256 * 1024);
  }

  private async run(tool: 'sc.exe' | 'reg.exe', file: string, args: string[], maxOutputBytes: number): Promise<ScOutput> {
    // One run is quick; the floor covers a Service Control Manager busy with its lock.
    const seconds = Math.max(this.timeoutSeconds, SC_RUN_TIMEOUT_FLOOR_SECONDS);
    // Argument array, no shell: a display name with spaces reaches the tool as one argument.
    // Shielded (RunOptions.shielded): the terminal's Ctrl-C does not kill a stop or start half way
    // (the scope lets it finish, then puts things back), and a run the Ctrl-C caught as it was
    // forked, before it ran, is run again. Every run here is safe to run twice: query, getkeyname
    // and reg.exe query only read; a second stop finds the service stopping or stopped (1061,
    // 1062), a second start finds it started (1056): both taken as such above; a second delete
    // answers 1072 or 1060 (marked, absent). A shielded run drops output past maxOutputBytes: the
    // limits given are far above what sc.exe (one service) and reg.exe (every service) print.
    const result = await this.runner.run(file, args, {
      timeoutMs: seconds * 1000,
      maxOutputBytes,
      shielded: true,
      failure: (failure) =>
        failure.kind === 'timed-out'
          ? new JobFailedError(`${commandLine(tool, args)} did not answer within ${seconds} s.`, {
              hint: 'the Service Control Manager may be busy or hung: check the Services console (services.msc), then try again',
            })
          : this.notRun(tool, file, args, failure),
    });
    // sc.exe reports its errors on stdout; stderr is read in case a wrapper uses it.
    return { args, exitCode: result.exitCode, text: result.stdout + result.stderr };
  }

  private notRun(tool: 'sc.exe' | 'reg.exe', file: string, args: string[], failure: RunFailure): CupmError {
    if (failure.code === 'ENOENT' || failure.code === 'EACCES') {
      return new ConfigError(
        `Could not run ${tool} ("${file}": ${failure.code === 'ENOENT' ? 'not found' : 'permission denied'}); the windows service manager needs it to ${tool === 'sc.exe' ? 'stop and start the CUPM services' : 'find services by their display names'}.`,
        {
          hint: `run cupm-backup on the CUPM Windows server, where ${tool} is in C:\\Windows\\System32 (on PATH), or set CUPM_SERVICE_MANAGER to systemd, command or none`,
        },
      );
    }
    const how = failure.signal
      ? `was killed by ${failure.signal}`
      : `could not be run (${failure.code ?? failure.message ?? 'unknown error'})`;
    return new JobFailedError(`${commandLine(tool, args)} ${how}.`, { hint: `check that ${tool} runs from this account` });
  }

  private failure(verb: string, service: string, name: string, out: ScOutput): JobFailedError {
    const failed = parseScError(out.text);
    const detail = failed ? scFailureText(failed) : `exit status ${out.exitCode}${oneLine(out.text) ? `: ${oneLine(out.text)}` : ''}`;
    return new JobFailedError(`sc.exe ${verb} failed for service ${named(service, name)}: ${detail}.`, {
      hint: hintFor(failed?.code ?? out.exitCode, verb, name, this.server),
    });
  }

  private diedWhileStarting(service: string, name: string, status: ScStatus): JobFailedError {
    const codes = [`WIN32_EXIT_CODE ${status.win32ExitCode ?? '?'}`];
    if (status.serviceExitCode) codes.push(`SERVICE_EXIT_CODE ${status.serviceExitCode}`);
    return new JobFailedError(`The service ${named(service, name)} stopped again while starting (${codes.join(', ')}).`, {
      hint: `look in the Windows event log (System) and the service's own logs for why it exited, fix that, then start it with sc.exe start "${name}"`,
    });
  }
}

function hintFor(code: number, verb: string, name: string, server?: string): string {
  switch (code) {
    case WIN32_ERROR.accessDenied:
      return server === undefined
        ? 'run cupm-backup from an elevated prompt (Run as administrator), or as an account allowed to control services'
        : `run cupm-backup as an account in the Administrators group of ${server} (or connect as one first: net use \\\\${server}\\IPC$ /user:${server}\\Administrator)`;
    case WIN32_ERROR.rpcServerUnavailable:
    case WIN32_ERROR.networkPathNotFound:
      return `${server ?? 'the server'} cannot be reached for service control: check CUPM_SERVER, that the server is up, and that a firewall lets this host reach TCP 135 and 445`;
    case WIN32_ERROR.dependentServicesRunning:
      return `other running services depend on it (sc.exe enumdepend "${name}"): list them before it in CUPM_SERVICES so they stop first`;
    case WIN32_ERROR.notStoppable:
      return 'the service does not accept a stop request; stop it from the Services console, or remove it from CUPM_SERVICES';
    case WIN32_ERROR.disabled:
      return `the service is disabled: enable it (sc.exe config "${name}" start= demand) or remove it from CUPM_SERVICES`;
    case WIN32_ERROR.requestTimeout:
      return "the service did not answer the Service Control Manager in time: see the Windows event log (System) and the service's own logs";
    default:
      return `see the Windows event log (System), then try sc.exe ${verb} "${name}" by hand`;
  }
}

function named(service: string, name: string): string {
  return name === service ? `"${service}"` : `"${service}" (key name ${name})`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
