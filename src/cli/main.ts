import { Command, CommanderError } from 'commander';
import { CupmError, EXIT } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { registerBackup } from './backup.js';
import { registerDaemon } from './daemon.js';
import { registerDemo } from './demo.js';
import { ExitWith } from './exit-code.js';
import { registerDoctor } from './doctor.js';
import { registerImport } from './import.js';
import { registerList } from './list.js';
import { registerMigrate } from './migrate.js';
import { registerNightly } from './nightly.js';
import { printJson } from './output.js';
import { registerPrune } from './prune.js';
import { registerReport } from './report.js';
import { registerRestore } from './restore.js';
import { registerSchedule } from './schedule.js';
import { registerStatus } from './status.js';
import { registerUpgrade } from './upgrade.js';
import { registerVerify } from './verify.js';
import { redactOutput } from '../security/redact.js';

/** The command line: builds the program, runs it, and is the only place that exits. */
function buildProgram(): Command {
  const program = new Command('cupm-backup')
    .description('Backup, restore and migration for Cisco Unified Provisioning Manager (CUPM) servers')
    .version(TOOL_VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerBackup(program);
  registerVerify(program);
  registerList(program);
  registerRestore(program);
  registerMigrate(program);
  registerImport(program);
  registerNightly(program);
  registerPrune(program);
  registerStatus(program);
  registerSchedule(program);
  registerDaemon(program);
  registerReport(program);
  registerUpgrade(program);
  registerDoctor(program);
  registerDemo(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.done;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version "fail" with exit code 0; every other commander error is usage (2).
      return error.exitCode === 0 ? EXIT.done : EXIT.usage;
    }
    if (error instanceof ExitWith) return error.code;
    if (error instanceof CupmError) {
      process.stderr.write(redactOutput(`\nerror: ${error.describe()}\n`));
      if (json) printJson({ ok: false, exitCode: error.exitCode, error: errorJson(error) });
      return error.exitCode;
    }
    // A bug or an unexpected failure: show everything, and say what state we know of.
    process.stderr.write(redactOutput(`\ninternal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`));
    if (json) printJson({ ok: false, exitCode: EXIT.failed, error: { message: String(error) } });
    return EXIT.failed;
  }
}

function errorJson(error: CupmError) {
  return { type: error.name, message: error.message, problems: error.problems, state: error.state ?? null, hint: error.hint ?? null };
}

process.exitCode = await main(process.argv);
