import path from 'node:path';
import type { Command } from 'commander';
import { renderFleetReport } from '../report/fleet-report.js';
import { writeHtmlReport, writeReportFile } from '../report/report.js';
import { backupStatus } from '../schedule/status.js';
import { withCommonOptions } from './common.js';
import { finishFleetRun, runCommand, runFleet, withFleetOptions, type FleetFlags } from './fleet.js';
import { formatBytes } from '../format/units.js';
import { terminalReporter } from './output.js';

interface ReportFlags extends FleetFlags {
  html: string;
}

export function registerReport(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      program
        .command('report')
        .description(
          'write the backup history (sizes, durations, verified, off-site) as one self-contained HTML page; with --all a fleet page linking one page per server',
        )
        .requiredOption(
          '--html <file>',
          'the HTML file to write (it fetches nothing: open it anywhere, mail it); with --all the fleet page, next to <file>-<server>.html',
        ),
    ),
  ).action(async (flags: ReportFlags) => {
    if (flags.all) {
      await fleetReport(flags);
      return;
    }
    await runCommand(flags, async (io) => {
      const result = await writeHtmlReport(io.config(), flags.html);
      io.reporter.info(
        `Report of ${result.runs} nightly run${result.runs === 1 ? '' : 's'} written: ${result.file} (${formatBytes(result.bytes)})`,
      );
      if (flags.json) io.json({ file: result.file, runs: result.runs, bytes: result.bytes });
      else io.out(result.file + '\n');
    });
  });
}

/** `report --html FILE --all`: each server's page as FILE-<server>.html, then the fleet page FILE linking them. */
async function fleetReport(flags: ReportFlags): Promise<void> {
  const fleetFile = path.resolve(flags.html);
  const base = fleetFile.replace(/\.html?$/i, '');
  const run = await runFleet(flags, async (io) => {
    const config = io.config();
    const result = await writeHtmlReport(config, `${base}-${io.server}.html`);
    io.reporter.info(`Report of ${result.runs} nightly run${result.runs === 1 ? '' : 's'} written: ${result.file}`);
    io.json({ file: result.file, runs: result.runs, bytes: result.bytes });
    io.out(result.file + '\n');
    return { file: result.file, status: await backupStatus(config) };
  });
  const page = renderFleetReport(
    run.results.map((r) => ({
      server: r.server,
      href: r.value ? path.basename(r.value.file) : null,
      status: r.value?.status ?? null,
      exitCode: r.value ? r.value.status.exitCode : r.exitCode,
      error: r.error?.message ?? null,
    })),
    new Date(),
  );
  const written = await writeReportFile(fleetFile, page);
  terminalReporter().info(
    `Fleet report of ${run.results.length} server${run.results.length === 1 ? '' : 's'} written: ${written.file} (${formatBytes(written.bytes)})`,
  );
  finishFleetRun(run, flags, (r) => r.results.map((s) => s.stdout).join('') + `${written.file}\n`, { fleetReport: written.file });
}
