import type { Command } from 'commander';
import type { ExitCode } from '../errors.js';
import { ExitWith } from './exit-code.js';
import { backupStatus, formatHours, type BackupStatus } from '../schedule/status.js';
import { withCommonOptions } from './common.js';
import { runCommand, withFleetOptions, type FleetFlags, type FleetRun } from './fleet.js';
import { formatBytes } from '../format/units.js';
import { formatTable } from '../format/table.js';

export function registerStatus(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      program
        .command('status')
        .description(
          'the last nightly run, the newest verified backup and its age, pending off-site copies (exit 1: no verified backup within CUPM_MAX_AGE_HOURS; 6: needs attention)',
        ),
    ),
  ).action(async (flags: FleetFlags) => {
    await runCommand(
      flags,
      async (io) => {
        const status = await backupStatus(io.config());
        if (flags.json) {
          io.json(status);
        } else {
          const out = (line: string) => io.out(line + '\n');
          const last = status.lastRun;
          const newest = status.newestVerified;
          const rows: Array<string[] | string> = [
            ['Backup folder:', status.backupDir],
            ['Last run:', last ? `${last.outcome.toUpperCase()} (exit ${last.exitCode}), started ${last.startedAt}` : 'none recorded'],
            [
              'Newest verified:',
              newest
                ? `${newest.name} (${formatBytes(newest.size)}), ${formatHours(newest.ageHours)} old (limit ${status.maxAgeHours}h)`
                : 'none',
            ],
            ['Off-site:', status.pendingOffsite.length === 0 ? 'nothing pending' : `${status.pendingOffsite.length} pending`],
            ...status.pendingOffsite.map((p) => `  pending: ${p.archive} -> ${p.destination} (since ${p.since})`),
          ];
          for (const line of formatTable([{}, {}], rows)) out(line);
          for (const problem of status.problems) out(`PROBLEM: ${problem}`);
          if (status.problems.length === 0) out('OK');
        }
        if (status.exitCode !== 0) throw new ExitWith(status.exitCode as ExitCode, status);
        return status;
      },
      { render: statusTable },
    );
  });
}

/** `status --all`: one row per server (last outcome, newest verified archive and its age, pending copies, exit). */
export function statusTable(run: FleetRun<BackupStatus>): string {
  const rows = run.results.map((r) => {
    const s = r.value;
    if (!s) return [r.server, 'NOT CHECKED', r.error?.message.split('\n')[0] ?? '', '', '', String(r.exitCode)];
    const last = s.lastRun ? `${s.lastRun.outcome.toUpperCase()} ${s.lastRun.startedAt}` : 'none recorded';
    const newest = s.newestVerified;
    return [
      r.server,
      last,
      newest ? newest.name : 'none',
      newest ? formatHours(newest.ageHours) : '-',
      String(s.pendingOffsite.length),
      String(r.exitCode),
    ];
  });
  const header = ['SERVER', 'LAST RUN', 'NEWEST VERIFIED', 'AGE', 'PENDING', 'EXIT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const problems = run.results.flatMap((r) => (r.value?.problems ?? []).map((p) => `${r.server}: PROBLEM: ${p}`));
  return [line(header), ...rows.map(line), ...problems, ''].join('\n');
}
