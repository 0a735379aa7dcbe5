import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { registerSecrets, secretsOf } from '../security/redact.js';
import { terminalReporter, printErr } from './output.js';

/** Options every command takes. */
export interface CommonOptions {
  envFile?: string;
  json?: boolean;
}

/** Adds --env-file and --json to a command. */
export function withCommonOptions(command: Command): Command {
  return command
    .option('--env-file <file>', 'read settings from this dotenv file (instead of ./cupm-backup.env)')
    .option('--json', 'print exactly one JSON object on stdout (human text stays on stderr)');
}

/** Loads the configuration for a command; flags given as variable overrides; warnings shown once. */
export function configFor(options: CommonOptions, overrides: Record<string, string | undefined> = {}): Config {
  const config = loadConfig({ envFile: options.envFile, overrides });
  registerSecrets(secretsOf(config));
  const reporter = terminalReporter();
  for (const warning of config.warnings) reporter.warn(warning);
  return config;
}

/**
 * An AbortSignal that fires on the first Ctrl-C / SIGTERM, so jobs can put things back. A second
 * signal ends the process at once only for jobs with a journal (restore, migrate: the next run
 * finishes what was left); for the others it just says to wait, since ending now would leave the
 * services stopped.
 */
export function interruptSignal(
  options: {
    secondEndsAtOnce?: boolean;
    /** What the job does on the signal, as the message says it after "stopping and" (default: putting things back). */
    doing?: string;
  } = {},
): AbortSignal {
  const doing = options.doing ?? 'putting things back';
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      const again = options.secondEndsAtOnce ? `; ${signal} again ends at once and the next run finishes the job` : '';
      printErr(`\nReceived ${signal}: stopping and ${doing} (this can take a moment${again})...\n`);
      controller.abort();
      return;
    }
    if (!options.secondEndsAtOnce) {
      printErr(`\nReceived ${signal} again: still ${doing}; please wait.\n`);
      return;
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  // `on`, not `once`: execa's exit hook re-raises a signal nobody else listens to, which would
  // kill us half way through putting things back.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
