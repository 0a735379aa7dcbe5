import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { ConfigError, PartialError } from '../errors.js';
import { FailedWithReport } from './exit-code.js';
import { withLock } from '../jobs/lock.js';
import { openRunLog, secretsOf } from '../schedule/run-log.js';
import { pruneLocked, type PruneResult } from '../schedule/prune.js';
import type { RetentionPolicy } from '../config/nightly-settings.js';
import { hasRules, RETENTION_RULES } from '../schedule/retention.js';
import { withCommonOptions } from './common.js';
import { identityOverride, withIdentity } from './encryption-options.js';
import { runCommand, withFleetOptions, type CommandIO, type FleetFlags } from './fleet.js';

interface PruneFlags extends FleetFlags {
  keepLast?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  host?: string;
  localOnly?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  identity?: string;
}

export function registerPrune(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      withIdentity(
        program
          .command('prune')
          .description(
            'delete old archives here and off-site by retention rules (restic semantics, UTC periods); never the newest verified, unreadable or pre-upgrade ones',
          )
          .option('--keep-last <n>', 'keep the n newest archives')
          .option('--keep-daily <n>', 'keep the newest archive of each of the last n days that have one')
          .option('--keep-weekly <n>', 'keep the newest archive of each of the last n ISO weeks that have one')
          .option('--keep-monthly <n>', 'keep the newest archive of each of the last n months that have one')
          .option('--host <name>', "prune this host's archives (default: this machine's name)")
          .option('--local-only', 'prune the backup dir only, not the off-site destinations')
          .option('--dry-run', 'say what would be deleted and why each kept archive is kept; delete nothing')
          .option('--yes', 'delete without asking (required when not on a terminal)'),
      ),
    ),
  ).action(async (flags: PruneFlags) => {
    if (flags.all && !flags.yes && !flags.dryRun) {
      throw new ConfigError("prune --all asks no questions: give --yes to delete, or --dry-run to see each server's plan.", {
        state: 'nothing was deleted',
      });
    }
    await runCommand(flags, (io) => pruneOne(flags, io));
  });
}

/** prune for one server (or the plain run). */
async function pruneOne(flags: PruneFlags, io: CommandIO): Promise<void> {
  // Any --keep-* given makes the flags the whole policy; otherwise CUPM_KEEP_* applies.
  const given = {
    CUPM_KEEP_LAST: flags.keepLast,
    CUPM_KEEP_DAILY: flags.keepDaily,
    CUPM_KEEP_WEEKLY: flags.keepWeekly,
    CUPM_KEEP_MONTHLY: flags.keepMonthly,
  };
  const config = io.config({ ...given, ...identityOverride(flags) });
  const fromFlags = Object.values(given).some((v) => v !== undefined);
  const policy: RetentionPolicy = {};
  for (const rule of RETENTION_RULES) {
    const flag = { last: flags.keepLast, daily: flags.keepDaily, weekly: flags.keepWeekly, monthly: flags.keepMonthly }[rule];
    if (!fromFlags || flag !== undefined) {
      const count = config.nightly.retention[rule];
      if (count !== undefined) policy[rule] = count;
    }
  }
  if (!hasRules(policy)) {
    throw new ConfigError('prune needs at least one rule: --keep-last, --keep-daily, --keep-weekly or --keep-monthly (or CUPM_KEEP_*).', {
      state: 'nothing was deleted',
    });
  }
  const terminal = io.reporter;
  const log = openRunLog(config.backupDir, { command: 'prune', secrets: secretsOf(config), tee: terminal });
  const options = { policy, ...(flags.host ? { host: flags.host } : {}), ...(flags.localOnly ? { destinations: [] } : {}) };

  const result = await withLock(config.backupDir, flags.dryRun ? 'prune --dry-run' : 'prune', async () => {
    const plan = await pruneLocked(config, { ...options, dryRun: true }, flags.dryRun ? terminal : log.reporter);
    const toDelete = plan.locations.reduce((n, l) => n + l.deleted.length, 0);
    if (flags.dryRun || toDelete === 0) return plan;
    if (!flags.yes) {
      printPlan(plan, (text) => io.out(text));
      if (!process.stdin.isTTY || !process.stderr.isTTY) {
        throw new ConfigError(`prune would delete ${toDelete} archive(s) (listed above) and needs --yes when not run on a terminal.`, {
          state: 'nothing was deleted',
          hint: 'run again with --yes, or with --dry-run to only see the plan',
        });
      }
      const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
      const answer = await prompt.question(`Delete these ${toDelete} archive(s)? [y/N] `);
      prompt.close();
      if (!/^y(es)?$/i.test(answer.trim())) throw new ConfigError('Not confirmed.', { state: 'nothing was deleted' });
    }
    return pruneLocked(config, options, log.reporter);
  });

  if (!flags.json) printPlan(result, (text) => io.out(text));
  const failed = result.locations.filter((l) => l.error);
  if (failed.length > 0) {
    const error = new PartialError(`prune could not finish in ${failed.length} place(s):`, {
      problems: failed.map((l) => `${l.location}: ${l.error}`),
      state: 'the other places were pruned as shown',
    });
    // With --json the result and the error are the one object on stdout (main.ts prints it).
    throw flags.json ? new FailedWithReport(error, result) : error;
  }
  if (flags.json) io.json(result);
}

/** The plan, one line per archive: KEEP with the reasons, or DELETE. */
function printPlan(result: PruneResult, print: (text: string) => void): void {
  const out = (line: string) => print(line + '\n');
  for (const location of result.locations) {
    out(`${location.location}${location.error ? `  FAILED: ${location.error}` : ''}`);
    for (const d of location.decisions) {
      const deleted = location.deleted.includes(d.name);
      const verb = (d.keep ? 'keep' : result.dryRun ? 'would delete' : deleted ? 'deleted' : 'NOT deleted').padEnd(12);
      out(`  ${verb}  ${d.name}${d.keep ? `  (${d.reasons.join('; ')})` : ''}`);
    }
    if (location.decisions.length === 0 && !location.error) out('  (no archives)');
  }
}
