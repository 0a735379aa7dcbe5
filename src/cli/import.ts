import type { Command } from 'commander';
import { DEFAULT_IMPORT_LABEL, importBackup } from '../backup/import.js';
import { configFor, interruptSignal, withCommonOptions, type CommonOptions } from './common.js';
import { encryptToOverride, withEncryptTo } from './encryption-options.js';
import { formatBytes, formatDuration } from '../format/units.js';
import { printJson, terminalReporter, printOut, writtenArchiveFacts } from './output.js';

interface ImportFlags extends CommonOptions {
  dump: string;
  files?: string;
  cupmVersion?: string;
  outputDir?: string;
  label?: string;
  sourceHost?: string;
  sourceAddress: string[];
  allowIncomplete?: boolean;
  allowMissingFiles?: boolean;
  allowMissingDatabase?: boolean;
  createdAt?: string;
  encryptTo?: string[];
}

export function registerImport(program: Command): void {
  withCommonOptions(
    withEncryptTo(
      program
        .command('import')
        .description('wrap a manual backup (a pg_dumpall file and the copied CUPM files) into an archive that verify and restore accept')
        .requiredOption('--dump <file>', 'the pg_dumpall output made by hand (pg_dumpall -o -U postgres > FILE)')
        .option(
          '--files <dir>',
          'the folder holding the copied CUPM files in their install-dir layout (install.log, sep\\dfc.properties, ...)',
        )
        .option(
          '--cupm-version <version>',
          'the CUPM version, where no install.log says it (checked against install.log when both are given)',
        )
        .option('--output-dir <dir>', 'where to write the archive (default CUPM_BACKUP_DIR)')
        .option('--label <text>', `a label for the archive name and manifest (default "${DEFAULT_IMPORT_LABEL}")`)
        .option('--source-host <name>', 'the host name of the server the backup was made on (default "unknown")')
        .option('--source-address <ip>', 'an IP address of that server (repeatable; migrate purges its nicesyseng rows)', collect, [])
        .option(
          '--created-at <time>',
          "when the backup was made (ISO-8601, e.g. 2011-03-04T02:00:00Z); default: the dump's own time stamp, else its file time",
        )
        .option(
          '--allow-missing-database',
          'import a dump that holds no application database (e.g. pg_dumpall --roles-only; restore will refuse it)',
        )
        .option('--allow-incomplete', "import a dump that does not end with pg_dumpall's closing comment (the archive records it)")
        .option('--allow-missing-files', 'import although some of the five files are not in --files (the archive names them)'),
    ),
  ).action(async (flags: ImportFlags) => {
    const config = configFor(flags, { CUPM_BACKUP_DIR: flags.outputDir, ...encryptToOverride(flags) });
    const reporter = terminalReporter();
    const result = await importBackup(
      {
        dump: flags.dump,
        files: flags.files,
        cupmVersion: flags.cupmVersion,
        outputDir: config.backupDir,
        label: flags.label,
        sourceHost: flags.sourceHost,
        sourceAddresses: flags.sourceAddress,
        allowIncomplete: flags.allowIncomplete,
        allowMissingFiles: flags.allowMissingFiles,
        allowMissingDatabase: flags.allowMissingDatabase,
        createdAt: flags.createdAt,
        database: config.database,
        encryptTo: config.encryption.recipients,
        signal: interruptSignal(),
      },
      reporter,
    );
    reporter.info(
      `Archive written: ${result.archive} (${formatBytes(result.size)}; dump ${formatBytes(result.dumpBytes)}` +
        `${result.dumpComplete ? '' : ', INCOMPLETE'}; ${result.files.length} file(s); ${formatDuration(result.durationMs)})`,
    );
    if (flags.json) {
      printJson({
        ...writtenArchiveFacts(result),
        dumpComplete: result.dumpComplete,
        files: result.files,
        missingFiles: result.missingFiles,
        databases: result.facts.databases,
        roles: result.facts.roles,
        serverVersion: result.facts.serverVersion,
        dumpToolVersion: result.facts.dumpToolVersion,
      });
    } else {
      printOut(result.archive + '\n');
    }
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
