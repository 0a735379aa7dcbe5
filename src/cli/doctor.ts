import type { Command } from 'commander';
import { doctor, formatDoctorReport } from '../doctor/doctor.js';
import { EXIT } from '../errors.js';
import { ExitWith } from './exit-code.js';
import { silentReporter } from '../jobs/reporter.js';
import { withCommonOptions } from './common.js';
import { runCommand, withFleetOptions, type FleetFlags } from './fleet.js';

export function registerDoctor(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      program
        .command('doctor')
        .description(
          'check this server before a backup, restore or migration: PostgreSQL and its tools, services, the CUPM files, ports, backups (exit 4 when a check fails)',
        ),
    ),
  ).action(async (flags: FleetFlags) => {
    await runCommand(flags, async (io) => {
      const config = io.config();
      const report = await doctor(config, {}, flags.json ? io.reporter : silentReporter);
      if (flags.json)
        io.json({ ok: report.ok, exitCode: report.ok ? EXIT.done : EXIT.refused, counts: report.counts, checks: report.checks });
      else io.out(`${formatDoctorReport(report).join('\n')}\n`);
      if (!report.ok) throw new ExitWith(EXIT.refused);
    });
  });
}
