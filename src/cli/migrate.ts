import type { Command } from 'commander';
import { migrate } from '../migrate/migrate.js';
import { configFor, withCommonOptions } from './common.js';
import { identityOverride, withIdentity } from './encryption-options.js';
import { terminalReporter } from './output.js';
import {
  JOBS_HELP,
  NO_LIVE_HELP,
  parseJobs,
  parsePort,
  printRestoreResult,
  restoreLikeOptions,
  withRecoveryReport,
  type RestoreLikeFlags,
} from './restore.js';

interface MigrateFlags extends RestoreLikeFlags {
  dbHost: string;
  autoPorts?: boolean;
}

export function registerMigrate(program: Command): void {
  withCommonOptions(
    withIdentity(
      program
        .command('migrate')
        .description(
          'move a CUPM 8.5 server onto this one (e.g. Windows 2003 -> 2008): restore the archive, check ports, rewrite the database host',
        )
        .argument('<archive>', 'the archive of the old server')
        .requiredOption('--db-host <host>', 'the database host CUPM on this server uses (dfc.postgres.host or hostlist, dfc-ds.xml)')
        .option('--db-port <port>', 'the port that database listens on (dfc.postgres.port, dfc-ds.xml)', parsePort)
        .option(
          '--old-nice-host <host>',
          "the old NICE host whose nicesyseng rows are deleted (default: the old server's address in the manifest, when it had one)",
        )
        .option('--auto-ports', 'move CUPM ports used by other programs here to free ones (dfc.properties is rewritten)')
        .option('--keep-previous', 'keep the database that was here (renamed <db>__previous_<UTC stamp>) instead of dropping it')
        .option('--allow-version-mismatch', "go on even when the installed CUPM is not the archive's version")
        .option('--admin-password-from-backup', "set the admin role's password to the old server's (by default it stays as it is)")
        .option('--no-live', NO_LIVE_HELP)
        .option('--jobs <n>', JOBS_HELP, parseJobs)
        .option('--dry-run', 'print what would be done, change nothing')
        .option('--yes', 'do not ask for confirmation (required without a terminal)'),
    ),
  ).action(async (archive: string, flags: MigrateFlags) => {
    const config = configFor(flags, identityOverride(flags));
    const result = await withRecoveryReport(
      migrate(
        config,
        archive,
        { ...restoreLikeOptions(flags, 'migrate'), dbHost: flags.dbHost, autoPorts: flags.autoPorts },
        terminalReporter(),
      ),
      flags.json === true,
    );
    printRestoreResult(result, flags.json === true);
  });
}
