import path from 'node:path';
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { FailedWithReport } from './exit-code.js';
import { formatChecklist } from '../upgrade/checklist.js';
import { formatCleanupReports } from '../upgrade/cleanup-runner.js';
import {
  cleanupFailure,
  planLines,
  upgradeCleanup,
  upgradeCleanupCheck,
  upgradeCleanupScript,
  type UpgradeCleanupResult,
} from '../upgrade/cleanup.js';
import { cleanupCheckFailure, formatCleanupCheck } from '../upgrade/cleanup-check.js';
import { prepareUpgrade } from '../upgrade/prepare.js';
import { formatRollback, rollbackSequence } from '../upgrade/rollback.js';
import { configFor, interruptSignal, withCommonOptions, type CommonOptions } from './common.js';
import { formatBytes } from '../format/units.js';
import { printJson, terminalReporter, printOut, printErr } from './output.js';

interface PrepareFlags extends CommonOptions {
  outputDir?: string;
  stop: boolean;
  allowLive?: boolean;
  anyVersion?: boolean;
}

interface CleanupFlags extends CommonOptions {
  dryRun?: boolean;
  yes?: boolean;
  backupCheck: boolean;
  archive?: string;
  windowsUser?: string;
  script?: string;
  check?: boolean;
  serverInstallDir?: string;
}

interface RollbackFlags extends CommonOptions {
  windowsUser?: string;
}

export function registerUpgrade(program: Command): void {
  const upgrade = program
    .command('upgrade')
    .description('a 2.1/2.2 -> 8.5 upgrade done safely: pre-upgrade backup and checklist, clean-up of a failed upgrade, the way back');

  withCommonOptions(
    upgrade
      .command('prepare')
      .description('back up with the label pre-upgrade (kept by retention), then print the upgrade checklist')
      .option('--output-dir <dir>', 'where to write the archive (default CUPM_BACKUP_DIR)')
      .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
      .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)')
      .option(
        '--any-version',
        'back up even when install.log says the server already runs CUPM 8.5 (refused otherwise, before anything is stopped)',
      ),
  ).action(async (flags: PrepareFlags) => {
    const config = configFor(flags, { CUPM_BACKUP_DIR: flags.outputDir });
    const reporter = terminalReporter();
    const result = await prepareUpgrade(
      config,
      { noStop: !flags.stop, allowLive: flags.allowLive, anyVersion: flags.anyVersion, signal: interruptSignal() },
      reporter,
    );
    const b = result.backup;
    reporter.info(
      `Pre-upgrade backup written: ${b.archive} (${formatBytes(b.size)}; CUPM ${b.manifest.cupm.version ?? 'version unknown'})`,
    );
    reporter.info(['', ...formatChecklist(result.checklist)].join('\n'));
    if (flags.json) {
      printJson({
        archive: b.archive,
        size: b.size,
        createdAt: b.manifest.createdAt,
        label: b.manifest.label,
        cupmVersion: b.manifest.cupm.version,
        checklist: result.checklist,
        warnings: result.warnings,
      });
    } else {
      printOut(b.archive + '\n');
    }
  });

  withCommonOptions(
    upgrade
      .command('cleanup')
      .description(
        "the install guide's clean-up of a failed upgrade: uninstallers, PostgreSQL 8.2, services, the cupmuser user and home, the install dir, Zero G Registry (Windows only; --dry-run anywhere)",
      )
      .option('--dry-run', 'print the plan and the archive the restore will use; change nothing')
      .option('--yes', 'do not ask for confirmation (required without a terminal)')
      .option('--no-backup-check', 'delete the install dir even without a verified archive of the old version')
      .option('--archive <file>', 'the archive the restore will use (default: the newest verified pre-upgrade archive in CUPM_BACKUP_DIR)')
      .option('--windows-user <name>', 'the Windows user the CUPM installer created', 'cupmuser')
      .option(
        '--script <file>',
        'write the clean-up as a cmd.exe batch file to run on a Windows 2003/2008 server (Node cannot run there); it logs next to itself',
      )
      .option(
        '--check',
        'from an admin host: what the clean-up left on the server (services through the service driver, folders through the share); exit 5 when something is left',
      )
      .option(
        '--server-install-dir <dir>',
        'with --script/--check: the install dir as a Windows path on the server (default: CUPM_INSTALL_DIR when it is one, else C:\\CUPM)',
      ),
  ).action(async (flags: CleanupFlags) => {
    const config = configFor(flags);
    const reporter = terminalReporter();
    if (flags.script !== undefined && flags.check)
      throw new ConfigError('--script and --check are two steps: write the script, run it on the server, then check.', {
        state: 'nothing was changed',
      });
    if (flags.script !== undefined) {
      const { script, target, backupCheck } = await upgradeCleanupScript(
        config,
        path.resolve(flags.script),
        {
          noBackupCheck: !flags.backupCheck,
          archive: flags.archive ? path.resolve(flags.archive) : undefined,
          windowsUser: flags.windowsUser,
          serverInstallDir: flags.serverInstallDir,
        },
        reporter,
      );
      if (flags.json)
        printJson({ ok: true, script: script.file, log: script.log, installDir: target.installDir, steps: script.steps, backupCheck });
      else {
        printOut(
          `${[
            `Clean-up script written: ${script.file} (install dir ${target.installDir} on the server)`,
            ...script.steps.map((s, i) => `  ${i + 1}. ${s}`),
            `Backup check: ${backupCheck.message}`,
            '',
            'Next:',
            '  1. copy it to the CUPM server and run it there from a command prompt opened with Run as administrator',
            `  2. it writes its log next to itself (${path.basename(script.log)}); run it again until it says "Nothing to do"`,
            '  3. check from here: cupm-backup upgrade cleanup --check',
          ].join('\n')}\n`,
        );
      }
      return;
    }
    if (flags.check) {
      const result = await upgradeCleanupCheck(config, { windowsUser: flags.windowsUser, serverInstallDir: flags.serverInstallDir });
      const failure = cleanupCheckFailure(result);
      if (failure) throw flags.json ? new FailedWithReport(failure, { items: result.items, notChecked: result.notChecked }) : failure;
      if (flags.json) printJson({ ok: true, items: result.items, notChecked: result.notChecked });
      else printOut(`${['Nothing the clean-up removes is left on the server:', ...formatCleanupCheck(result)].join('\n')}\n`);
      return;
    }
    const result = await upgradeCleanup(
      config,
      {
        dryRun: flags.dryRun,
        noBackupCheck: !flags.backupCheck,
        archive: flags.archive ? path.resolve(flags.archive) : undefined,
        windowsUser: flags.windowsUser,
        confirm: confirmer(flags.yes),
        // A clean-up is not undone: the step under way finishes, no further one starts.
        signal: interruptSignal({ doing: 'letting the step under way finish' }),
      },
      reporter,
    );
    printCleanup(result, flags.json === true);
  });

  withCommonOptions(
    upgrade
      .command('rollback')
      .description(
        'print the whole way back from a failed upgrade for this archive: the clean-up, the version to reinstall, the restore command',
      )
      .argument('<archive>', 'the archive of the old version (usually the pre-upgrade one)')
      .option('--windows-user <name>', 'the Windows user the CUPM installer created'),
  ).action(async (archive: string, flags: RollbackFlags) => {
    const config = configFor(flags);
    const reporter = terminalReporter();
    const sequence = await rollbackSequence(config, archive, { windowsUser: flags.windowsUser, envFile: flags.envFile, reporter });
    if (flags.json) printJson({ ok: true, ...sequence });
    else printOut(`${formatRollback(sequence).join('\n')}\n`);
  });
}

function printCleanup(result: UpgradeCleanupResult, json: boolean): void {
  const reporter = terminalReporter();
  const body = {
    dryRun: result.dryRun,
    installDir: result.target.installDir,
    plan: result.plan,
    backupCheck: result.backupCheck,
    steps: result.steps,
    cancelled: result.cancelled,
    next: result.next,
  };
  if (result.dryRun) {
    if (json) printJson({ ok: true, ...body, wouldRefuse: !result.backupCheck.ok });
    else {
      const refusal = result.backupCheck.ok
        ? []
        : ['', 'A real run would REFUSE (exit 4) before touching anything: no archive to restore afterwards.'];
      printOut(`${[...planLines(result), ...refusal].join('\n')}\n\n(--dry-run: nothing was changed)\n`);
    }
    return;
  }
  if (!result.ok) {
    // With --json the steps and the error are the one object on stdout (main.ts prints it).
    const failure = cleanupFailure(result);
    throw json ? new FailedWithReport(failure, body) : failure;
  }
  reporter.info(
    [
      '',
      'Upgrade clean-up finished:',
      ...formatCleanupReports(result.steps),
      '',
      'Next:',
      ...result.next.map((n, i) => `  ${i + 1}. ${n}`),
    ].join('\n'),
  );
  if (json) printJson({ ok: true, ...body });
}

/** A prompt on a terminal; without one, --yes is required (exit 2). */
function confirmer(yes: boolean | undefined) {
  return async (question: string, details: string[]): Promise<boolean> => {
    if (yes) return true;
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw new ConfigError(
        'upgrade cleanup deletes CUPM from this server (programs, services, a user, folders) and needs a confirmation: there is no terminal to ask on.',
        {
          state: 'nothing was changed',
          hint: 'pass --yes to confirm (run with --dry-run first to see the plan)',
        },
      );
    }
    printErr(`\n${details.join('\n')}\n\n`);
    const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
      return (await prompt.question(`${question} Type "yes" to go on: `)).trim().toLowerCase() === 'yes';
    } finally {
      prompt.close();
    }
  };
}
