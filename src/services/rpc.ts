import { lookup } from 'node:dns/promises';
import { ConfigError, JobFailedError, type CupmError } from '../errors.js';
import { commandLine, execaRunner, type CommandResult, type CommandRunner } from '../system/command-runner.js';
import { ServiceNotFoundError, waitForState, type ServiceManager, type ServiceState } from './service-manager.js';

/** Options of the Samba `net rpc service` driver. */
export interface RpcServiceManagerOptions {
  /** CUPM_SERVER: the Windows server whose Service Control Manager is driven. */
  host: string;
  /** CUPM_SERVER_USER: `user` or `DOMAIN\user`. */
  user: string;
  /** CUPM_SERVER_PASSWORD: reaches `net` through its environment (PASSWD), never its argument list. */
  password: string;
  /** Seconds a service may take to reach its state (CUPM_SERVICE_TIMEOUT). */
  timeoutSeconds: number;
  /** The SMB port, when not 445 (tests). */
  port?: number;
  /** Samba's `net`; looked up on PATH by default. */
  netExe?: string;
  /** How programs are run (tests replay recorded output through their own). */
  runner?: CommandRunner;
  /** How often to ask while a service is pending. */
  pollMs?: number;
}

/**
 * What `net rpc service status` prints: `<name> service is <word>.`, the words of Samba's
 * svc_status_string() (source3/utils/net_rpc_service.c). Unknown states print `Unknown State [n]`.
 */
const STATES: ReadonlyMap<string, { state: ServiceState; label: string }> = new Map([
  ['stopped', { state: 'stopped', label: 'STOPPED' }],
  ['start pending', { state: 'pending', label: 'START_PENDING' }],
  ['stop pending', { state: 'pending', label: 'STOP_PENDING' }],
  ['running', { state: 'running', label: 'RUNNING' }],
  ['resume pending', { state: 'pending', label: 'CONTINUE_PENDING' }],
  ['pause pending', { state: 'pending', label: 'PAUSE_PENDING' }],
  // Settled, but neither running nor stopped: the tool must act on it.
  ['paused', { state: 'pending', label: 'PAUSED' }],
]);

/** One service's state as `net rpc service status|stop` reported it. */
export interface RpcStatus {
  state: ServiceState;
  /** STOP_PENDING ..., the same words the windows driver uses. */
  label: string;
  /** The display name, when the output held the configuration details. */
  displayName: string | undefined;
}

/** Parses `<name> service is <state>.`; undefined when the output holds no such line. */
export function parseNetRpcStatus(text: string): RpcStatus | undefined {
  const lines = text.replace(/\r\n?/g, '\n');
  // The last such line: `net rpc service stop` prints dots, then the state it saw last.
  const matches = [...lines.matchAll(/^\.*(.+?) service is (.+?)\.[ \t]*$/gm)];
  const word = matches.at(-1)?.[2]?.toLowerCase();
  if (word === undefined) return undefined;
  const known = STATES.get(word);
  const unknown = /^unknown state \[(\d+)\]$/.exec(word);
  if (!known && !unknown) return undefined;
  return {
    ...(known ?? { state: 'pending' as const, label: `UNKNOWN_STATE_${unknown![1]}` }),
    displayName: /^[ \t]*Display Name[ \t]*=[ \t]*(.*?)[ \t]*$/m.exec(lines)?.[1],
  };
}

/** The error code `net` printed: `[WERR_...]` of the service calls, or `NT_STATUS_...` of the connection. */
export function parseNetRpcError(text: string): string | undefined {
  return /\[(WERR_[A-Z0-9_]+)\]/.exec(text)?.[1] ?? /\b(NT_STATUS_[A-Z0-9_]+)\b/.exec(text)?.[1];
}

/** Parses `net rpc service list`: `<key name>    "<display name>"` per line. */
export function parseNetRpcList(text: string): { keyName: string; displayName: string }[] {
  const found = [];
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    const match = /^(\S+)[ \t]+"(.*)"[ \t]*$/.exec(line);
    if (match) found.push({ keyName: match[1]!, displayName: match[2]! });
  }
  return found;
}

/** The least time one `net` run gets, whatever CUPM_SERVICE_TIMEOUT says. */
const NET_RUN_TIMEOUT_FLOOR_SECONDS = 30;
/** The most output kept of one `net` run (a shielded run drops the rest): a `list` of every service is far less. */
const NET_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/** Codes that mean "the request came while the service was changing state": the poll tells how it ends. */
const IN_TRANSITION = new Set(['WERR_SERVICE_CANNOT_ACCEPT_CTRL', 'WERR_INVALID_SERVICE_CONTROL']);
const NOT_FOUND = new Set(['WERR_SERVICE_DOES_NOT_EXIST', 'WERR_NO_SUCH_SERVICE', 'WERR_INVALID_NAME']);

/**
 * CUPM_SERVICE_MANAGER=rpc: drives the Service Control Manager of the Windows server CUPM_SERVER
 * from a Linux admin host over MS-RPC (svcctl), with Samba's `net rpc service status|stop|start`.
 * The account reaches `net` through its environment (USER, PASSWD): never its argument list.
 * Names are key names or display names (resolved with `net rpc service list`).
 */
export class RpcServiceManager implements ServiceManager {
  readonly kind = 'rpc';
  private readonly options: RpcServiceManagerOptions;
  private readonly runner: CommandRunner;
  /** Lower-cased configured name -> the key name the server answered to. */
  private readonly keyNames = new Map<string, string>();
  private resolved: Promise<void> | undefined;

  constructor(options: RpcServiceManagerOptions) {
    this.options = options;
    this.runner = options.runner ?? execaRunner;
  }

  async status(service: string): Promise<ServiceState> {
    return (await this.query(service)).status.state;
  }

  async stop(service: string): Promise<void> {
    const { name, status } = await this.query(service);
    let current = status;
    if (current.label === 'STOPPED') return;
    if (current.label === 'START_PENDING' || current.label === 'CONTINUE_PENDING' || current.label === 'PAUSE_PENDING') {
      // A stop sent mid-transition is refused (CANNOT_ACCEPT_CTRL): let the transition finish first.
      current = await this.settle(service, name);
      if (current.label === 'STOPPED') return;
    }
    if (current.label !== 'STOP_PENDING') {
      const out = await this.net('stop', name);
      const code = errorOf(out);
      // NOT_ACTIVE: it stopped by itself since we looked; a transition: someone else's change is under way.
      if (code !== undefined && code !== 'WERR_SERVICE_NOT_ACTIVE' && !IN_TRANSITION.has(code))
        throw this.failure('stop', service, name, out);
      if (code === undefined && parseNetRpcStatus(out.stdout)?.label === 'STOPPED') return;
    }
    await this.waitUntil(service, name, 'stopped');
  }

  async start(service: string): Promise<void> {
    const { name, status } = await this.query(service);
    let current = status;
    if (current.label === 'RUNNING') return;
    if (current.state === 'pending' && current.label !== 'PAUSED') {
      current = await this.settle(service, name);
      if (current.label === 'RUNNING') return;
    }
    // A paused service ignores start (ALREADY_RUNNING); `resume` continues it.
    const verb = current.label === 'PAUSED' ? 'resume' : 'start';
    const out = await this.net(verb, name);
    const code = errorOf(out);
    // ALREADY_RUNNING: someone else started it since we looked; the poll confirms it.
    if (code !== undefined && code !== 'WERR_SERVICE_ALREADY_RUNNING' && !IN_TRANSITION.has(code))
      throw this.failure(verb, service, name, out);
    await this.waitUntil(service, name, 'running');
  }

  /** Queries a configured name, resolving a display name to its key name the first time. */
  private async query(service: string): Promise<{ name: string; status: RpcStatus }> {
    const cacheKey = service.toLowerCase();
    const known = this.keyNames.get(cacheKey);
    let name = known ?? service;
    let out = await this.net('status', name);
    if (known === undefined && NOT_FOUND.has(errorOf(out) ?? '')) {
      // The server opens services by key name only; CUPM_SERVICES may hold the display name.
      name = await this.keyNameOf(service);
      out = await this.net('status', name);
    }
    const status = this.readStatus(service, name, out);
    this.keyNames.set(cacheKey, name);
    return { name, status };
  }

  private readStatus(service: string, name: string, out: CommandResult): RpcStatus {
    const code = errorOf(out);
    if (code !== undefined && NOT_FOUND.has(code)) {
      throw new ServiceNotFoundError(
        service,
        this.kind,
        `${this.options.host} knows no service by that key name or display name (${code})`,
      );
    }
    const status = parseNetRpcStatus(out.stdout);
    // A status line is enough: the configuration details after it may be refused to a restricted account.
    if (status) return status;
    throw code !== undefined
      ? this.failure('status', service, name, out)
      : new JobFailedError(
          `Could not read the state of service ${named(service, name)} on ${this.options.host} from net rpc service status: ${oneLine(out) || 'no output'}.`,
          { hint: `run ${this.commandFor('status', name)} by hand; if its output looks normal, report it with this message` },
        );
  }

  private async keyNameOf(service: string): Promise<string> {
    const out = await this.net('list');
    const code = errorOf(out);
    if (code !== undefined || out.exitCode !== 0) throw this.failure('list', service, service, out);
    const wanted = service.toLowerCase();
    const match = parseNetRpcList(out.stdout).find((s) => s.keyName.toLowerCase() === wanted || s.displayName.toLowerCase() === wanted);
    if (match) return match.keyName;
    throw new ServiceNotFoundError(
      service,
      this.kind,
      `${this.options.host} knows no service by that key name or display name (net rpc service list)`,
    );
  }

  /** Waits out a transition (someone else's, or one the server refuses to interrupt), however it ends. */
  private async settle(service: string, name: string): Promise<RpcStatus> {
    let last: RpcStatus | undefined;
    await waitForState(
      service,
      'running',
      this.options.timeoutSeconds,
      async () => {
        last = this.readStatus(service, name, await this.net('status', name));
        const settled = last.label === 'STOPPED' || last.label === 'RUNNING' || last.label === 'PAUSED';
        return { state: settled ? 'running' : 'pending', label: last.label };
      },
      this.options.pollMs,
    );
    return last!;
  }

  /** `net rpc service stop|start` return while the service may still be pending: poll until it arrives. */
  private async waitUntil(service: string, name: string, wanted: 'running' | 'stopped'): Promise<void> {
    await waitForState(
      service,
      wanted,
      this.options.timeoutSeconds,
      async () => {
        const status = this.readStatus(service, name, await this.net('status', name));
        if (wanted === 'running' && status.label === 'STOPPED') {
          // Stopped while we wait for running: it exited during start-up. Say so now, not after the timeout.
          throw new JobFailedError(`The service ${named(service, name)} on ${this.options.host} stopped again while starting.`, {
            hint: `look in the event log (System) of ${this.options.host} and the service's own logs for why it exited, fix that, then start it`,
          });
        }
        return { state: status.state, label: status.label };
      },
      this.options.pollMs,
    );
  }

  private net(verb: string, name?: string): Promise<CommandResult> {
    return this.runNet(this.argsFor(verb, name));
  }

  private argsFor(verb: string, name?: string): string[] {
    const args = ['rpc', 'service', verb, ...(name === undefined ? [] : [name]), '-S', this.options.host];
    if (this.options.port !== undefined) args.push('-p', String(this.options.port));
    // Windows 2003 speaks SMB1 only, which Samba's client no longer offers by default.
    args.push('--option=client min protocol=NT1');
    return args;
  }

  private commandFor(verb: string, name?: string): string {
    return `${commandLine('net', this.argsFor(verb, name))} -U "${this.options.user}"`;
  }

  private async runNet(args: string[]): Promise<CommandResult> {
    await this.resolveHost();
    const seconds = Math.max(this.options.timeoutSeconds, NET_RUN_TIMEOUT_FLOOR_SECONDS);
    // Shielded (RunOptions.shielded): the terminal's Ctrl-C does not kill a stop or start half way
    // (the scope lets it finish, then puts things back), and a run the Ctrl-C caught as it was
    // forked, before it ran, is run again. Every verb here is safe to run twice: status and list
    // only read; a second stop finds the service stopping or stopped (CANNOT_ACCEPT_CTRL,
    // NOT_ACTIVE), a second start finds it started (ALREADY_RUNNING): both taken as such above.
    const result = await this.runner.run(this.options.netExe ?? 'net', args, {
      timeoutMs: seconds * 1000,
      shielded: true,
      maxOutputBytes: NET_MAX_OUTPUT_BYTES,
      // Samba's credentials from the environment: USER may be DOMAIN\user, PASSWD the password.
      // Other ways Samba would read a password are taken out, so only these count.
      env: { USER: this.options.user, PASSWD: this.options.password, PASSWD_FD: undefined, PASSWD_FILE: undefined, LC_ALL: 'C' },
      notFoundHint: "install Samba's client tools (Debian: apt-get install samba-common-bin), which bring `net`",
    });
    const code = errorOf(result);
    if (code !== undefined) {
      const connection = this.connectionError(code, result);
      if (connection) throw connection;
    }
    return result;
  }

  /** An unknown host is found before `net` runs: Samba reports it as "Unable to find a suitable server". */
  private resolveHost(): Promise<void> {
    this.resolved ??= lookup(this.options.host).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => {
        this.resolved = undefined;
        throw new ConfigError(`The CUPM server "${this.options.host}" (CUPM_SERVER) was not found: ${error.code ?? error.message}.`, {
          state: 'nothing was changed',
          hint: "check the name in CUPM_SERVER (or use its IP address) and this host's DNS settings",
        });
      },
    );
    return this.resolved;
  }

  /** Errors of the connection and login, whatever the verb: no service was touched. */
  private connectionError(code: string, out: CommandResult): CupmError | undefined {
    const { host, user } = this.options;
    const state = 'no service was touched';
    switch (code) {
      case 'NT_STATUS_LOGON_FAILURE':
      case 'NT_STATUS_WRONG_PASSWORD':
      case 'NT_STATUS_NO_SUCH_USER':
        return new ConfigError(`${host} refused the login of "${user}" (${code}): wrong user name or password.`, {
          state,
          hint: 'check CUPM_SERVER_USER (DOMAIN\\user for a domain account) and CUPM_SERVER_PASSWORD',
        });
      case 'NT_STATUS_ACCOUNT_LOCKED_OUT':
      case 'NT_STATUS_ACCOUNT_DISABLED':
      case 'NT_STATUS_PASSWORD_EXPIRED':
      case 'NT_STATUS_PASSWORD_MUST_CHANGE':
      case 'NT_STATUS_ACCOUNT_RESTRICTION':
        return new ConfigError(`${host} refused the login of "${user}" (${code}).`, {
          state,
          hint: 'unlock, enable or renew the account on the server (Computer Management > Local Users and Groups), or use another one',
        });
      case 'NT_STATUS_ACCESS_DENIED':
        return new ConfigError(`${host} denied "${user}" access to its Service Control Manager (${code}).`, {
          state,
          hint: 'use an account in the Administrators group of the server (CUPM_SERVER_USER)',
        });
      case 'NT_STATUS_CONNECTION_REFUSED':
        return new JobFailedError(`${host} refused the connection to its SMB port ${this.options.port ?? 445} (${code}).`, {
          state,
          hint: `check that the Server service runs on ${host} and that a firewall lets this host reach TCP ${this.options.port ?? 445} (and 135)`,
        });
      case 'NT_STATUS_IO_TIMEOUT':
      case 'NT_STATUS_HOST_UNREACHABLE':
      case 'NT_STATUS_NETWORK_UNREACHABLE':
      case 'NT_STATUS_CONNECTION_RESET':
      case 'NT_STATUS_CONNECTION_DISCONNECTED':
        return new JobFailedError(`Could not reach ${host} on its SMB port ${this.options.port ?? 445} (${code}).`, {
          state,
          hint: `check that ${host} is up and that a firewall lets this host reach TCP ${this.options.port ?? 445} (and 135)`,
        });
      default:
        return code.startsWith('NT_STATUS_') && /could not connect|connection failed/i.test(oneLine(out))
          ? new JobFailedError(`Could not connect to ${host} (${code}): ${oneLine(out)}.`, {
              state,
              hint: `run ${this.commandFor('list')} by hand to see why`,
            })
          : undefined;
    }
  }

  private failure(verb: string, service: string, name: string, out: CommandResult): CupmError {
    const code = errorOf(out);
    const detail = code ?? `exit status ${out.exitCode}${oneLine(out) ? `: ${oneLine(out)}` : ''}`;
    const message = `net rpc service ${verb} failed for service ${named(service, name)} on ${this.options.host}: ${detail}.`;
    if (code === 'WERR_ACCESS_DENIED') {
      return new ConfigError(message.replace(/\.$/, `: the account "${this.options.user}" may not ${verb} it.`), {
        hint: 'use an account in the Administrators group of the server (CUPM_SERVER_USER), or grant this one the right to control the service',
      });
    }
    return new JobFailedError(message, { hint: hintFor(code, verb, name, this.commandFor(verb, name)) });
  }
}

function hintFor(code: string | undefined, verb: string, name: string, command: string): string {
  switch (code) {
    case 'WERR_DEPENDENT_SERVICES_RUNNING':
      return `other running services depend on ${name}: list them before it in CUPM_SERVICES so they stop first`;
    case 'WERR_SERVICE_DISABLED':
      return `the service is disabled: set its start type to Manual or Automatic on the server, or remove it from CUPM_SERVICES`;
    case 'WERR_SERVICE_REQUEST_TIMEOUT':
      return "the service did not answer the Service Control Manager in time: see the server's event log (System) and the service's own logs";
    default:
      return `see the server's event log (System), then try ${command} by hand (${verb})`;
  }
}

/** The error code of a failed run; undefined on success. */
function errorOf(out: CommandResult): string | undefined {
  const code = parseNetRpcError(`${out.stdout}\n${out.stderr}`);
  if (code === 'WERR_OK') return undefined;
  return code ?? (out.exitCode === 0 ? undefined : `exit status ${out.exitCode}`);
}

function named(service: string, name: string): string {
  return name === service ? `"${service}"` : `"${service}" (key name ${name})`;
}

function oneLine(out: CommandResult): string {
  return `${out.stdout}\n${out.stderr}`.replace(/\s+/g, ' ').trim();
}
