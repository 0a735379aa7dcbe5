import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { readSources } from '../config/sources.js';
import { ConfigError, CupmError, EXIT, messageOf, type ExitCode } from '../errors.js';
import {
  fleetConflicts,
  loadFleet,
  readFleet,
  runPool,
  selectServers,
  serversDirOf,
  worstExitCode,
  type FleetServer,
} from '../fleet/fleet.js';
import type { Reporter } from '../jobs/reporter.js';
import { registerSecrets, secretsOf } from '../security/redact.js';
import { configFor, interruptSignal, type CommonOptions } from './common.js';
import { ExitWith, FailedWithReport } from './exit-code.js';
import { printErr, printJson, printOut, terminalReporter } from './output.js';

/** --server, --all, --servers-dir, --parallel. */
export interface FleetFlags extends CommonOptions {
  server?: string;
  all?: boolean;
  serversDir?: string;
  parallel?: string;
}

/** Adds the fleet options to a command that can run for one server of a fleet, or all of them. */
export function withFleetOptions(command: Command): Command {
  return command
    .option('--server <name>', 'run for one server of the fleet: <servers dir>/<name>.env holds its settings')
    .option('--all', 'run for every server of the fleet, one after another (see --parallel); exit code: the worst')
    .option('--servers-dir <dir>', 'the fleet folder, one env file per server (default CUPM_SERVERS_DIR, else ./servers)')
    .option('--parallel <n>', 'with --all: run at most n servers at once (default 1)');
}

/** Where a command body sends its output, and where its settings come from: one server, or the plain run. */
export interface CommandIO {
  /** The fleet server this run is for; null for a plain run (--env-file / ./cupm-backup.env). */
  server: string | null;
  /** This run's settings, flags given as variable overrides; warnings shown once. */
  config(overrides?: Record<string, string | undefined>): Config;
  /** Human text (stderr), prefixed with the server's name in a fleet run. */
  reporter: Reporter;
  /** Text for stdout (an archive path, a listing). */
  out(text: string): void;
  /** The one JSON object of --json (in a fleet run: this server's part of it). */
  json(value: unknown): void;
  /** Fires on Ctrl-C / SIGTERM (one for the whole fleet run: no server is started after it). */
  signal(): AbortSignal;
}

/** What one server's run came to. */
export interface ServerResult<T> {
  server: string;
  envFile: string;
  exitCode: ExitCode;
  /** What the body returned. */
  value: T | undefined;
  /** What it printed to stdout, and what it gave as JSON. */
  stdout: string;
  json: unknown;
  error: { type: string; message: string; problems: string[]; state: string | null; hint: string | null } | null;
}

/** A whole fleet run. */
export interface FleetRun<T> {
  serversDir: string;
  parallel: number;
  results: Array<ServerResult<T>>;
  exitCode: ExitCode;
}

/** True when the flags ask for fleet mode. */
export function isFleetRun(flags: FleetFlags): boolean {
  return flags.server !== undefined || flags.all === true;
}

/**
 * Runs a command: once, as before, without --server/--all; else for each chosen server, each with
 * its own settings, then prints the servers' output grouped by name (or one JSON object) and
 * ends with the worst exit code.
 */
export async function runCommand<T>(
  flags: FleetFlags,
  body: (io: CommandIO) => Promise<T>,
  options: { render?: (run: FleetRun<T>) => string } = {},
): Promise<void> {
  if (!isFleetRun(flags)) {
    if (flags.parallel !== undefined || flags.serversDir !== undefined) {
      throw new ConfigError('--parallel and --servers-dir only apply with --server NAME or --all.', { state: 'nothing was changed' });
    }
    await body(plainIO(flags));
    return;
  }
  finishFleetRun(await runFleet(flags, body), flags, options.render);
}

/** Prints a fleet run (see printFleetRun) and ends with its worst exit code. */
export function finishFleetRun<T>(
  run: FleetRun<T>,
  flags: FleetFlags,
  render?: (run: FleetRun<T>) => string,
  extraJson: Record<string, unknown> = {},
): void {
  printFleetRun(run, flags, render, extraJson);
  if (run.exitCode !== EXIT.done) throw new ExitWith(run.exitCode);
}

/** The IO of a run without --server/--all: straight to the terminal. */
function plainIO(flags: CommonOptions): CommandIO {
  let signal: AbortSignal | undefined;
  return {
    server: null,
    config: (overrides) => configFor(flags, overrides),
    reporter: terminalReporter(),
    out: printOut,
    json: printJson,
    signal: () => (signal ??= interruptSignal()),
  };
}

/** Runs `body` for each server --server/--all chooses; never throws for one server's failure. */
export async function runFleet<T>(
  flags: FleetFlags,
  body: (io: CommandIO) => Promise<T>,
  options: { signal?: AbortSignal } = {},
): Promise<FleetRun<T>> {
  if (flags.envFile !== undefined) {
    throw new ConfigError("--env-file does not go with --server or --all: each server's settings are in its own env file.", {
      state: 'nothing was changed',
      hint: 'leave out --env-file, or run without --server/--all',
    });
  }
  if (flags.server !== undefined && flags.all)
    throw new ConfigError('Give --server NAME or --all, not both.', { state: 'nothing was changed' });
  const parallel = parseParallel(flags);
  const { serversDir, fleet, load } = openFleet(flags);
  const chosen = selectServers(fleet, flags, serversDir);

  // The caller's stop signal (the daemon's), else Ctrl-C / SIGTERM, listened for once asked.
  let signal: AbortSignal | undefined = options.signal;
  const interrupt = () => (signal ??= interruptSignal());
  const runOne = async (server: FleetServer): Promise<ServerResult<T>> => {
    const reporter = terminalReporter(prefixedStderr(server.name));
    const result: ServerResult<T> = {
      server: server.name,
      envFile: server.envFile,
      exitCode: EXIT.done,
      value: undefined,
      stdout: '',
      json: undefined,
      error: null,
    };
    const io: CommandIO = {
      server: server.name,
      config: (overrides) => {
        const config = load(server, overrides);
        registerSecrets(secretsOf(config));
        for (const warning of config.warnings) reporter.warn(warning);
        return config;
      },
      reporter,
      out: (text) => {
        result.stdout += text;
      },
      json: (value) => {
        result.json = value;
      },
      signal: interrupt,
    };
    try {
      result.value = await body(io);
    } catch (error) {
      if (error instanceof ExitWith) {
        result.exitCode = error.code;
        result.value = error.value as T | undefined;
      } else if (error instanceof CupmError || error instanceof FailedWithReport) {
        // A failure with a report (prune's plan): the report is this server's JSON, the error beside it.
        if (error instanceof FailedWithReport) result.json = error.report;
        const failure = error instanceof FailedWithReport ? error.error : error;
        result.exitCode = failure.exitCode;
        result.error = {
          type: failure.name,
          message: failure.message,
          problems: failure.problems,
          state: failure.state ?? null,
          hint: failure.hint ?? null,
        };
        reporter.info(`error: ${failure.describe()}`);
      } else {
        // A bug in one server's run must not stop the others: report it whole, go on.
        result.exitCode = EXIT.failed;
        result.error = { type: 'InternalError', message: messageOf(error), problems: [], state: null, hint: null };
        reporter.info(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    }
    reporter.info(`${outcomeWord(result.exitCode)} (exit ${result.exitCode})`);
    return result;
  };

  const done = await runPool(chosen, parallel, runOne, () => signal?.aborted === true);
  const results = done.filter((r): r is ServerResult<T> => r !== undefined);
  for (const server of chosen.slice(results.length)) {
    // Interrupted before this server's turn: said, never silently skipped.
    results.push({
      server: server.name,
      envFile: server.envFile,
      exitCode: EXIT.failed,
      value: undefined,
      stdout: '',
      json: undefined,
      error: {
        type: 'Interrupted',
        message: "not run: the fleet run was interrupted before this server's turn",
        problems: [],
        state: 'nothing was changed on this server',
        hint: 'run it again',
      },
    });
  }
  return { serversDir, parallel, results, exitCode: worstExitCode(results.map((r) => r.exitCode)) };
}

/** A fleet folder (--servers-dir, CUPM_SERVERS_DIR, ./servers) read and checked; refuses servers that would trample each other (exit 2). */
export function openFleet(flags: Pick<FleetFlags, 'serversDir'>): {
  serversDir: string;
  fleet: FleetServer[];
  load: (server: FleetServer, overrides?: Record<string, string | undefined>) => Config;
} {
  const cwd = process.cwd();
  // CUPM_SERVERS_DIR from the environment or ./cupm-backup.env, like any other setting.
  const serversDir = serversDirOf(flags.serversDir, readSources({ env: process.env, cwd }).values, cwd);
  const fleet = readFleet(serversDir);
  const load = (server: FleetServer, overrides: Record<string, string | undefined> = {}) =>
    loadConfig({ envFile: server.envFile, cwd, fileBeatsEnvironment: true, overrides });
  // Every server's settings, not just the chosen ones: a conflict is a fault of the fleet.
  const conflicts = fleetConflicts(loadFleet(fleet, (server) => load(server)));
  if (conflicts.length > 0) {
    throw new ConfigError('The fleet folder names servers that would trample each other:', {
      problems: conflicts,
      state: 'nothing was changed',
      hint: 'give each server its own CUPM_BACKUP_DIR and its own database (PGHOST, PGPORT, CUPM_DATABASE), or remove the duplicate file',
    });
  }
  return { serversDir, fleet, load };
}

/** --parallel N (with --all only): 1 to 64 servers at once; 1 without it. */
export function parseParallel(flags: Pick<FleetFlags, 'parallel' | 'all'>): number {
  if (flags.parallel === undefined) return 1;
  if (!flags.all) throw new ConfigError('--parallel only applies with --all.', { state: 'nothing was changed' });
  const n = Number(flags.parallel);
  if (!/^\d+$/.test(flags.parallel) || n < 1 || n > 64) {
    throw new ConfigError(`--parallel must be a number of servers from 1 to 64, got "${flags.parallel}".`, {
      state: 'nothing was changed',
    });
  }
  return n;
}

/** A stderr for one server: every line starts with its name, so parallel runs stay readable. */
function prefixedStderr(name: string): NodeJS.WriteStream {
  const prefix = `[${name}] `;
  const stream = {
    isTTY: false,
    write: (text: string) => process.stderr.write(text.replace(/^(?=.)/gm, prefix)),
  };
  return stream as unknown as NodeJS.WriteStream;
}

function outcomeWord(code: ExitCode): string {
  if (code === EXIT.done) return 'OK';
  if (code === EXIT.partial) return 'WARNING';
  return 'FAILED';
}

/** The fleet run's output: one JSON object, or each server's stdout grouped under its name; a summary on stderr. */
function printFleetRun<T>(
  run: FleetRun<T>,
  flags: FleetFlags,
  render: ((run: FleetRun<T>) => string) | undefined,
  extraJson: Record<string, unknown>,
): void {
  if (flags.json) {
    printJson({
      ...extraJson,
      ok: run.exitCode === EXIT.done,
      exitCode: run.exitCode,
      serversDir: run.serversDir,
      parallel: run.parallel,
      servers: run.results.map((r) => ({
        server: r.server,
        envFile: r.envFile,
        ok: r.exitCode === EXIT.done,
        exitCode: r.exitCode,
        result: r.json ?? null,
        error: r.error,
      })),
    });
  } else if (render) {
    printOut(render(run));
  } else {
    for (const r of run.results) printOut(r.stdout.replace(/^(?=.)/gm, `[${r.server}] `));
  }
  const width = Math.max(...run.results.map((r) => r.server.length));
  const lines = run.results.map(
    (r) =>
      `  ${r.server.padEnd(width)}  ${outcomeWord(r.exitCode).padEnd(7)} exit ${r.exitCode}${r.error ? `  ${r.error.message.split('\n')[0]}` : ''}`,
  );
  printErr(
    `\nFleet (${run.serversDir}): ${run.results.length} server${run.results.length === 1 ? '' : 's'}, exit ${run.exitCode}\n${lines.join('\n')}\n`,
  );
}
