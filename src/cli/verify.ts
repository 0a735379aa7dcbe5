import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { verifyArchive } from '../archive/verify.js';
import { loadConfig } from '../config/config.js';
import { ArchiveInvalidError, ConfigError } from '../errors.js';
import { s3Remote, isS3Url } from '../offsite/s3-archive.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { keysFromFlags, withIdentity } from './encryption-options.js';
import { FailedWithReport } from './exit-code.js';
import { formatBytes } from '../format/units.js';
import { printJson, terminalReporter } from './output.js';

export function registerVerify(program: Command): void {
  withCommonOptions(
    withIdentity(
      program
        .command('verify')
        .description(
          're-read every entry of an archive and check sizes, SHA-256, manifest, dump trailer, and that the dump is a pg_dumpall script',
        )
        .argument('<archive>', 'the archive to check (.zip, or .zip.age with --identity; or s3://bucket/prefix/NAME.zip, read in place)'),
    ),
  ).action(async (archive: string, flags: CommonOptions & { identity?: string }) => {
    const reporter = terminalReporter();
    const keys = keysFromFlags(flags);
    // s3://bucket/prefix/NAME.zip is read in place, with the endpoint and keys of the configuration.
    const remote = isS3Url(archive) ? s3Remote(archive, configFor(flags).offsite.s3) : undefined;
    if (!remote) await requireFile(path.resolve(archive));
    // Only for the warning about a missing application database: a configuration problem elsewhere
    // must not stop an archive from being checked (the default name cupm is used then).
    const database = configuredDatabase(flags.envFile);
    const report = await verifyArchive(remote ? archive : path.resolve(archive), {
      database,
      keys,
      remote,
      onProgress: (done, total) => reporter.progress('verify', done, total),
    });
    const summary = {
      ok: report.ok,
      archive: report.archive,
      problems: report.problems,
      bytesChecked: report.bytesChecked,
      createdAt: report.manifest?.createdAt ?? null,
      hostname: report.manifest?.source.hostname ?? null,
      cupmVersion: report.manifest?.cupm.version ?? null,
      entries: report.manifest?.entries.length ?? 0,
      warnings: report.warnings,
      encrypted: report.encrypted,
    };
    if (!report.ok) {
      // A wrong identity is one message with one State/Next, not a list inside "NOT valid".
      const error = report.wrongIdentity
        ? report.wrongIdentity
        : report.needsIdentity
          ? new ConfigError(`The archive ${report.archive} is encrypted: verifying it needs the identity it was encrypted to.`, {
              state: 'nothing was checked',
              hint: 'pass --identity <file> (or set CUPM_IDENTITY) with the age key made by age-keygen',
            })
          : new ArchiveInvalidError(`The archive ${report.archive} is NOT valid:`, {
              problems: report.problems,
              hint: 'do not restore from it; use another archive (cupm-backup list)',
            });
      // With --json the report and the error are the one object on stdout (main.ts prints it).
      throw flags.json ? new FailedWithReport(error, summary) : error;
    }
    if (flags.json) printJson(summary);
    for (const warning of report.warnings) reporter.warn(warning);
    reporter.info(
      `OK: ${report.archive} (${report.manifest?.entries.length} entries, ${formatBytes(report.bytesChecked)} checked${report.encrypted ? ', decrypted with the identity' : ''})`,
    );
  });
}

/** A path that names no file is the caller's mistake (exit 2), not an invalid archive (exit 3). */
async function requireFile(file: string): Promise<void> {
  const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => error);
  if (stat instanceof Error) {
    throw new ConfigError(`No such file: ${file}${stat.code === 'ENOENT' ? '' : ` (${stat.code ?? stat.message})`}`, {
      state: 'nothing was checked',
      hint: 'give the path of an archive (cupm-backup list shows the archives of the backup dir)',
    });
  }
  if (!stat.isFile()) {
    throw new ConfigError(`${file} is not a file.`, {
      state: 'nothing was checked',
      hint: 'give the path of an archive (cupm-backup list shows them)',
    });
  }
}

function configuredDatabase(envFile: string | undefined): string | undefined {
  try {
    return loadConfig({ envFile }).database;
  } catch {
    return undefined;
  }
}
