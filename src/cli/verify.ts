import path from 'node:path';
import type { Command } from 'commander';
import { verifyArchive } from '../archive/verify.js';
import { ArchiveInvalidError } from '../errors.js';
import { withCommonOptions, type CommonOptions } from './common.js';
import { formatBytes, printJson, terminalReporter } from './output.js';

export function registerVerify(program: Command): void {
  withCommonOptions(
    program
      .command('verify')
      .description('re-read every entry of an archive and check sizes, SHA-256, manifest and dump trailer')
      .argument('<archive>', 'the archive to check'),
  ).action(async (archive: string, flags: CommonOptions) => {
    const reporter = terminalReporter();
    const report = await verifyArchive(path.resolve(archive), { onProgress: (done, total) => reporter.progress('verify', done, total) });
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
      });
    }
    if (!report.ok) {
      throw new ArchiveInvalidError(`The archive ${report.archive} is NOT valid:`, {
        problems: report.problems,
        hint: 'do not restore from it; use another archive (cupm-backup list)',
      });
    }
    for (const warning of report.warnings) reporter.warn(warning);
    reporter.info(`OK: ${report.archive} (${report.manifest?.entries.length} entries, ${formatBytes(report.bytesChecked)} checked)`);
  });
}
