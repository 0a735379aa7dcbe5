import path from 'node:path';
import type { Command } from 'commander';
import { verifyArchive } from '../archive/verify.js';
import { ArchiveInvalidError, ConfigError } from '../errors.js';
import { s3Remote, isS3Url } from '../offsite/s3-archive.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { keysFromFlags, withIdentity } from './encryption-options.js';
import { ExitWith } from './exit-code.js';
import { formatBytes, printJson, terminalReporter, printErr } from './output.js';

export function registerVerify(program: Command): void {
  withCommonOptions(withIdentity(
    program
      .command('verify')
      .description('re-read every entry of an archive and check sizes, SHA-256, manifest, dump trailer, and that the dump is a pg_dumpall script')
      .argument('<archive>', 'the archive to check (.zip, or .zip.age with --identity; or s3://bucket/prefix/NAME.zip, read in place)'),
  )).action(async (archive: string, flags: CommonOptions & { identity?: string }) => {
    const reporter = terminalReporter();
    const keys = keysFromFlags(flags);
    // s3://bucket/prefix/NAME.zip is read in place, with the endpoint and keys of the configuration.
    const remote = isS3Url(archive) ? s3Remote(archive, configFor(flags).offsite.s3) : undefined;
    const report = await verifyArchive(remote ? archive : path.resolve(archive), { keys, remote, onProgress: (done, total) => reporter.progress('verify', done, total) });
    if (flags.json) {
      printJson({
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
      });
    }
    if (!report.ok) {
      const error = report.needsIdentity
        ? new ConfigError(`The archive ${report.archive} is encrypted: verifying it needs the identity it was encrypted to.`, {
            state: 'nothing was checked',
            hint: 'pass --identity <file> (or set CUPM_IDENTITY) with the age key made by age-keygen',
          })
        : new ArchiveInvalidError(`The archive ${report.archive} is NOT valid:`, {
            problems: report.problems,
            hint: 'do not restore from it; use another archive (cupm-backup list)',
          });
      // With --json the report above is the one object on stdout; the reason still goes to stderr.
      if (!flags.json) throw error;
      printErr(`error: ${error.describe()}\n`);
      throw new ExitWith(error.exitCode);
    }
    for (const warning of report.warnings) reporter.warn(warning);
    reporter.info(`OK: ${report.archive} (${report.manifest?.entries.length} entries, ${formatBytes(report.bytesChecked)} checked${report.encrypted ? ', decrypted with the identity' : ''})`);
  });
}
