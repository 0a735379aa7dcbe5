import type { Command } from 'commander';
import type { ExitCode } from '../errors.js';
import { ExitWith } from './exit-code.js';
import { backupStatus, formatHours } from '../schedule/status.js';
import { configFor, withCommonOptions, type CommonOptions } from './common.js';
import { formatBytes } from '../format/units.js';
import { formatTable } from '../format/table.js';
import { printJson, printOut } from './output.js';

export function registerStatus(program: Command): void {
  withCommonOptions(
    program
      .command('status')
      .description('the last nightly run, the newest verified backup and its age, pending off-site copies (exit 1: no verified backup within CUPM_MAX_AGE_HOURS; 6: needs attention)'),
  ).action(async (flags: CommonOptions) => {
    const config = configFor(flags);
    const status = await backupStatus(config);
    if (flags.json) {
      printJson(status);
    } else {
      const out = (line: string) => printOut(line + '\n');
      const last = status.lastRun;
      const newest = status.newestVerified;
      const rows: Array<string[] | string> = [
        ['Backup folder:', status.backupDir],
        ['Last run:', last ? `${last.outcome.toUpperCase()} (exit ${last.exitCode}), started ${last.startedAt}` : 'none recorded'],
        ['Newest verified:', newest ? `${newest.name} (${formatBytes(newest.size)}), ${formatHours(newest.ageHours)} old (limit ${status.maxAgeHours}h)` : 'none'],
        ['Off-site:', status.pendingOffsite.length === 0 ? 'nothing pending' : `${status.pendingOffsite.length} pending`],
        ...status.pendingOffsite.map((p) => `  pending: ${p.archive} -> ${p.destination} (since ${p.since})`),
      ];
      for (const line of formatTable([{}, {}], rows)) out(line);
      for (const problem of status.problems) out(`PROBLEM: ${problem}`);
      if (status.problems.length === 0) out('OK');
    }
    if (status.exitCode !== 0) throw new ExitWith(status.exitCode as ExitCode);
  });
}
