import type { Command } from 'commander';
import { writeHtmlReport } from '../report/report.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { formatBytes } from '../format/units.js';
import { printJson, terminalReporter, printOut } from './output.js';

interface ReportFlags extends CommonOptions {
  html: string;
}

export function registerReport(program: Command): void {
  withCommonOptions(
    program
      .command('report')
      .description('write the backup history (sizes, durations, verified, off-site) as one self-contained HTML page')
      .requiredOption('--html <file>', 'the HTML file to write (it fetches nothing: open it anywhere, mail it)'),
  ).action(async (flags: ReportFlags) => {
    const config = configFor(flags);
    const result = await writeHtmlReport(config, flags.html);
    terminalReporter().info(`Report of ${result.runs} nightly run${result.runs === 1 ? '' : 's'} written: ${result.file} (${formatBytes(result.bytes)})`);
    if (flags.json) printJson({ file: result.file, runs: result.runs, bytes: result.bytes });
    else printOut(result.file + '\n');
  });
}
