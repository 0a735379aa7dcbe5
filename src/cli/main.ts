// First: its settings must hold before anything large is allocated.
import './v8-settings.js';
import { Command, CommanderError } from 'commander';
import { CupmError, EXIT } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { ExitWith, FailedWithReport } from './exit-code.js';
import { printJson } from './output.js';
import { redactOutput } from '../security/redact.js';

type Register = (program: Command) => void;

/**
 * The commands, in help order, each loaded only when used: a backup then does not load what
 * mail, SFTP or the scheduler need (startup time and memory: see README "Performance").
 */
const COMMANDS: Array<[name: string, load: () => Promise<Register>]> = [
  ['backup', async () => (await import('./backup.js')).registerBackup],
  ['verify', async () => (await import('./verify.js')).registerVerify],
  ['list', async () => (await import('./list.js')).registerList],
  ['restore', async () => (await import('./restore.js')).registerRestore],
  ['migrate', async () => (await import('./migrate.js')).registerMigrate],
  ['import', async () => (await import('./import.js')).registerImport],
  ['nightly', async () => (await import('./nightly.js')).registerNightly],
  ['prune', async () => (await import('./prune.js')).registerPrune],
  ['status', async () => (await import('./status.js')).registerStatus],
  ['schedule', async () => (await import('./schedule.js')).registerSchedule],
  ['daemon', async () => (await import('./daemon.js')).registerDaemon],
  ['report', async () => (await import('./report.js')).registerReport],
  ['upgrade', async () => (await import('./upgrade.js')).registerUpgrade],
  ['doctor', async () => (await import('./doctor.js')).registerDoctor],
  ['demo', async () => (await import('./demo.js')).registerDemo],
];

/** The commands to register: only the one named first on the command line, none for --version, else all (help, errors). */
async function commandsFor(argv: string[]): Promise<Register[]> {
  const args = argv.slice(2);
  const first = args.find((arg) => !arg.startsWith('-'));
  if (first === undefined && (args.includes('--version') || args.includes('-V'))) return [];
  const named = COMMANDS.find(([name]) => name === first);
  return Promise.all((named ? [named] : COMMANDS).map(([, load]) => load()));
}

/** The command line: builds the program, runs it, and is the only place that exits. */
function buildProgram(registers: Register[]): Command {
  const program = new Command('cupm-backup')
    .description('Backup, restore and migration for Cisco Unified Provisioning Manager (CUPM) servers')
    .version(TOOL_VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  for (const register of registers) register(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram(await commandsFor(argv)).parseAsync(argv);
    return EXIT.done;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version "fail" with exit code 0; every other commander error is usage (2).
      return error.exitCode === 0 ? EXIT.done : EXIT.usage;
    }
    if (error instanceof ExitWith) return error.code;
    if (error instanceof FailedWithReport) return reportFailure(error.error, json, error.report);
    if (error instanceof CupmError) return reportFailure(error, json);
    // A bug or an unexpected failure: show everything, and say what state we know of.
    process.stderr.write(redactOutput(`\ninternal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`));
    if (json) printJson({ ok: false, exitCode: EXIT.failed, error: { message: String(error) } });
    return EXIT.failed;
  }
}

/** The one error path: the words on stderr; with --json one object on stdout (a command's report, if any, merged in). */
function reportFailure(error: CupmError, json: boolean, report: object = {}): number {
  process.stderr.write(redactOutput(`\nerror: ${error.describe()}\n`));
  if (json) printJson({ ...report, ok: false, exitCode: error.exitCode, error: errorJson(error) });
  return error.exitCode;
}

function errorJson(error: CupmError) {
  return { type: error.name, message: error.message, problems: error.problems, state: error.state ?? null, hint: error.hint ?? null };
}

process.exitCode = await main(process.argv);
