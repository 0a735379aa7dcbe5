import { ConfigError, JobFailedError, type CupmError } from '../errors.js';
import { execaRunner, type CommandResult, type RunFailure } from '../system/command-runner.js';
import { ServiceNotFoundError, ServiceTimeoutError, waitForState, type ServiceManager, type ServiceState } from './service-manager.js';

/** Options of the systemctl driver. */
export interface SystemdServiceManagerOptions {
  /** Seconds a unit may take to reach its state (CUPM_SERVICE_TIMEOUT). */
  timeoutSeconds: number;
  /** The systemctl to run; looked up on PATH by default. */
  systemctl?: string;
  /** How often to ask `systemctl is-active` while a unit is pending. */
  pollMs?: number;
}

/** ActiveState words, as `systemctl is-active` prints them. */
const ACTIVE_STATES = new Map<string, ServiceState>([
  ['active', 'running'],
  ['inactive', 'stopped'],
  ['failed', 'stopped'],
  ['activating', 'pending'],
  ['deactivating', 'pending'],
  ['reloading', 'pending'],
  // Newer systemd versions (v250+, v256+).
  ['refreshing', 'pending'],
  ['maintenance', 'pending'],
]);

/** Parses `systemctl is-active` output: the state plus systemd's own word for it. */
export function parseIsActive(text: string): { state: ServiceState; label: string } | undefined {
  const label = text.trim().split(/\s+/)[0] ?? '';
  const state = ACTIVE_STATES.get(label);
  return state === undefined ? undefined : { state, label };
}

/** Parses `systemctl show -p LoadState` output, with or without `--value` (`LoadState=not-found` or `not-found`). */
export function parseLoadState(text: string): string | undefined {
  return /^(?:LoadState=)?([a-z-]+)[ \t]*$/m.exec(text.replace(/\r\n?/g, '\n').trim())?.[1];
}

/** The least time a query (is-active, show) gets, whatever CUPM_SERVICE_TIMEOUT says. */
const QUERY_TIMEOUT_FLOOR_SECONDS = 30;

interface SystemctlOutput {
  args: string[];
  /** The time the run was allowed. */
  seconds: number;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** CUPM_SERVICE_MANAGER=systemd: drives units through systemctl. Unit names are case-sensitive. */
export class SystemdServiceManager implements ServiceManager {
  readonly kind = 'systemd';
  private readonly timeoutSeconds: number;
  private readonly systemctlPath: string;
  private readonly pollMs: number | undefined;
  /** Units already seen loaded: a unit does not vanish in the middle of a job. */
  private readonly loaded = new Set<string>();

  constructor(options: SystemdServiceManagerOptions) {
    this.timeoutSeconds = options.timeoutSeconds;
    this.systemctlPath = options.systemctl ?? 'systemctl';
    this.pollMs = options.pollMs;
  }

  async status(unit: string): Promise<ServiceState> {
    await this.ensureLoaded(unit);
    return (await this.isActive(unit)).state;
  }

  async stop(unit: string): Promise<void> {
    await this.change('stop', 'stopped', unit);
  }

  async start(unit: string): Promise<void> {
    await this.change('start', 'running', unit);
  }

  private async change(verb: 'stop' | 'start', wanted: 'stopped' | 'running', unit: string): Promise<void> {
    if ((await this.status(unit)) === wanted) return;
    // systemctl stop/start block until the job is done; the timeout bounds a job that never ends.
    // --no-ask-password: fail with a message rather than wait for a polkit password nobody types.
    const out = await this.systemctl(['--no-ask-password', verb, '--', unit], this.timeoutSeconds);
    if (out.timedOut) {
      throw new ServiceTimeoutError(unit, wanted, this.timeoutSeconds, (await this.isActive(unit)).label);
    }
    if (out.exitCode !== 0) throw this.failure(verb, unit, out);
    // The job finished, but some units (Type=simple, forking) only settle a moment later.
    await waitForState(
      unit,
      wanted,
      this.timeoutSeconds,
      async () => {
        const now = await this.isActive(unit);
        if (wanted === 'running' && now.state === 'stopped') {
          throw new JobFailedError(`The unit ${unit} stopped again right after it started (now ${now.label}).`, {
            hint: `see systemctl status ${unit} and journalctl -u ${unit} for why it exited`,
          });
        }
        return now;
      },
      this.pollMs,
    );
  }

  /** `is-active` says `inactive` for units that do not exist, so ask for the LoadState once. */
  private async ensureLoaded(unit: string): Promise<void> {
    if (this.loaded.has(unit)) return;
    // Without --value (systemd >= 230 only), so that older systemd (RHEL 7: 219) works too.
    const out = await this.systemctl(['show', '-p', 'LoadState', '--', unit]);
    const loadState = out.exitCode === 0 ? parseLoadState(out.stdout) : undefined;
    if (loadState === undefined) throw this.failure('show', unit, out);
    if (loadState === 'not-found') {
      throw new ServiceNotFoundError(unit, this.kind, 'systemd has no such unit (LoadState=not-found)');
    }
    this.loaded.add(unit);
  }

  private async isActive(unit: string): Promise<{ state: ServiceState; label: string }> {
    // is-active exits 3 for every state but active: the word tells the state, not the exit status.
    const out = await this.systemctl(['is-active', '--', unit]);
    const parsed = parseIsActive(out.stdout);
    if (!parsed) throw this.failure('is-active', unit, out);
    return parsed;
  }

  /**
   * Runs systemctl; `seconds` bounds the run (a query gets at least QUERY_TIMEOUT_FLOOR_SECONDS).
   * Shielded (RunOptions.shielded): the terminal's Ctrl-C does not kill a stop or start half way
   * (the scope lets it finish, then puts things back), and a run the Ctrl-C caught as it was
   * forked is run again. Every verb run here is safe to run twice: show and is-active only read,
   * and stop/start of a unit already stopped/started is a job that does nothing.
   */
  private async systemctl(args: string[], seconds = Math.max(this.timeoutSeconds, QUERY_TIMEOUT_FLOOR_SECONDS)): Promise<SystemctlOutput> {
    // A run past its time is not an error here: the caller says what it means (a stop that did not finish).
    const timedOut: { output?: string } = {};
    let result: CommandResult;
    try {
      result = await execaRunner.run(this.systemctlPath, args, {
        timeoutMs: seconds * 1000,
        shielded: true,
        // is-active and show print a line; 256 KiB is far more than any answer or error systemctl gives.
        maxOutputBytes: 256 * 1024,
        failure: (failure) => {
          if (failure.kind === 'timed-out') timedOut.output = failure.output;
          return this.notRun(args, failure);
        },
      });
    } catch (error) {
      if (timedOut.output === undefined) throw error;
      return { args, seconds, exitCode: -1, stdout: timedOut.output, stderr: '', timedOut: true };
    }
    return { args, seconds, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, timedOut: false };
  }

  private notRun(args: string[], failure: RunFailure): CupmError {
    if (failure.code === 'ENOENT' || failure.code === 'EACCES') {
      return new ConfigError(
        `Could not run systemctl ("${this.systemctlPath}": ${failure.code === 'ENOENT' ? 'not found' : 'permission denied'}); the systemd service manager needs it.`,
        { hint: 'set CUPM_SERVICE_MANAGER to the manager this host has (windows on the CUPM server, command, or none)' },
      );
    }
    const how = failure.signal
      ? `was killed by ${failure.signal}`
      : `could not be run (${failure.code ?? failure.message ?? 'unknown error'})`;
    return new JobFailedError(`systemctl ${args.join(' ')} ${how}.`, { hint: 'check that systemctl runs from this account' });
  }

  private failure(verb: string, unit: string, out: SystemctlOutput): JobFailedError {
    const said = (out.stderr.trim() || out.stdout.trim()).replace(/\s*\n\s*/g, ' ');
    const how = out.timedOut ? `did not answer within ${out.seconds} s` : `failed (exit status ${out.exitCode})`;
    return new JobFailedError(`systemctl ${verb} ${unit} ${how}${said ? `: ${said}` : '.'}`, { hint: hintFor(said, unit) });
  }
}

function hintFor(said: string, unit: string): string {
  if (/authentication required|access denied|permission denied/i.test(said)) {
    return 'run cupm-backup as root, or allow its account to manage these units (polkit or sudo)';
  }
  if (/failed to connect to bus|not been booted with systemd/i.test(said)) {
    return 'this host does not run systemd: set CUPM_SERVICE_MANAGER to command or none';
  }
  return `see systemctl status ${unit} and journalctl -u ${unit}`;
}
