import type { Command } from 'commander';
import { backup } from '../backup/backup.js';
import { configFor, interruptSignal, withCommonOptions, type CommonOptions } from './common.js';
import { encryptToOverride, withEncryptTo } from './encryption-options.js';
import { formatBytes, formatDuration } from '../format/units.js';
import { printJson, terminalReporter, printOut, writtenArchiveFacts } from './output.js';

interface BackupFlags extends CommonOptions {
  outputDir?: string;
  label?: string;
  stop: boolean;
  allowLive?: boolean;
  encryptTo?: string[];
}

export function registerBackup(program: Command): void {
  withCommonOptions(withEncryptTo(
    program
      .command('backup')
      .description('stop the CUPM services, dump PostgreSQL, bundle the CUPM files into a verified archive, start the services')
      .option('--output-dir <dir>', 'where to write the archive (default CUPM_BACKUP_DIR)')
      .option('--label <text>', 'a label for the archive name and manifest (e.g. pre-upgrade)')
      .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
      .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)'),
  )).action(async (flags: BackupFlags) => {
    const config = configFor(flags, { CUPM_BACKUP_DIR: flags.outputDir, ...encryptToOverride(flags) });
    const reporter = terminalReporter();
    const result = await backup(
      config,
      { label: flags.label ?? null, noStop: !flags.stop, allowLive: flags.allowLive, signal: interruptSignal() },
      reporter,
    );
    reporter.info(
      `Backup written: ${result.archive} (${formatBytes(result.size)}; dump ${formatBytes(result.dumpBytes)}; ${formatDuration(result.durationMs)}` +
        `${result.services.stopped.length > 0 ? `; services down ${formatDuration(result.servicesDownMs)}` : ''})`,
    );
    if (flags.json) {
      printJson({
        ...writtenArchiveFacts(result),
        services: result.services,
        liveSessions: result.liveSessions.length,
        servicesDownMs: result.servicesDownMs,
        dumpMs: result.dumpMs,
        spooled: result.spooled,
      });
    } else {
      printOut(result.archive + '\n');
    }
  });
}
