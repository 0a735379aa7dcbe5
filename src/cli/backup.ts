import type { Command } from 'commander';
import { backup, ServicesDownAfterBackupError } from '../backup/backup.js';
import { ConfigError } from '../errors.js';
import { FailedWithReport } from './exit-code.js';
import { withCommonOptions } from './common.js';
import { encryptToOverride, withEncryptTo } from './encryption-options.js';
import { formatBytes, formatDuration } from '../format/units.js';
import { runCommand, withFleetOptions, type FleetFlags } from './fleet.js';
import { writtenArchiveFacts } from './output.js';

interface BackupFlags extends FleetFlags {
  outputDir?: string;
  label?: string;
  stop: boolean;
  allowLive?: boolean;
  encryptTo?: string[];
}

export function registerBackup(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      withEncryptTo(
        program
          .command('backup')
          .description('stop the CUPM services, dump PostgreSQL, bundle the CUPM files into a verified archive, start the services')
          .option('--output-dir <dir>', 'where to write the archive (default CUPM_BACKUP_DIR)')
          .option('--label <text>', 'a label for the archive name and manifest (e.g. pre-upgrade)')
          .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
          .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)'),
      ),
    ),
  ).action(async (flags: BackupFlags) => {
    if (flags.all && flags.outputDir !== undefined) {
      throw new ConfigError("--output-dir does not go with --all: the servers' archives would collide in one folder.", {
        state: 'nothing was changed',
        hint: 'leave out --output-dir (each server writes to its CUPM_BACKUP_DIR), or use --server NAME',
      });
    }
    await runCommand(flags, async (io) => {
      const config = io.config({ CUPM_BACKUP_DIR: flags.outputDir, ...encryptToOverride(flags) });
      const result = await backup(
        config,
        { label: flags.label ?? null, noStop: !flags.stop, allowLive: flags.allowLive, signal: io.signal() },
        io.reporter,
      ).catch((error: unknown) => {
        // Exit 5 with a good archive: its path is on stdout and in the JSON, as after a success.
        if (!(error instanceof ServicesDownAfterBackupError)) throw error;
        if (flags.json) throw new FailedWithReport(error, { archive: error.archive });
        io.out(error.archive + '\n');
        throw error;
      });
      io.reporter.info(
        `Backup written: ${result.archive} (${formatBytes(result.size)}; dump ${formatBytes(result.dumpBytes)}; ${formatDuration(result.durationMs)}` +
          `${result.services.stopped.length > 0 ? `; services down ${formatDuration(result.servicesDownMs)}` : ''})`,
      );
      if (flags.json) {
        io.json({
          ...writtenArchiveFacts(result),
          services: result.services,
          liveSessions: result.liveSessions.length,
          servicesDownMs: result.servicesDownMs,
          dumpMs: result.dumpMs,
          spooled: result.spooled,
        });
      } else {
        io.out(result.archive + '\n');
      }
    });
  });
}
