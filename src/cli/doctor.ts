import type { Command } from 'commander';
import { doctor, formatDoctorReport } from '../doctor/doctor.js';
import { EXIT } from '../errors.js';
import { ExitWith } from './exit-code.js';
import { silentReporter } from '../jobs/reporter.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { printJson, terminalReporter, printOut } from './output.js';

export function registerDoctor(program: Command): void {
  withCommonOptions(
    program
      .command('doctor')
      .description('check this server before a backup, restore or migration: PostgreSQL and its tools, services, the CUPM files, ports, backups (exit 4 when a check fails)'),
  ).action(async (flags: CommonOptions) => {
    const config = configFor(flags);
    const report = await doctor(config, {}, flags.json ? terminalReporter() : silentReporter);
    if (flags.json) printJson({ ok: report.ok, exitCode: report.ok ? EXIT.done : EXIT.refused, counts: report.counts, checks: report.checks });
    else printOut(`${formatDoctorReport(report).join('\n')}\n`);
    if (!report.ok) throw new ExitWith(EXIT.refused);
  });
}
