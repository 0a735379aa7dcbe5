import type { Config } from '../config/config.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import type { PortProbe } from '../restore/ports.js';
import type { ServiceManager } from '../services/service-manager.js';
import { backupChecks, type BackupCheckOptions } from './backup-checks.js';
import { failFrom, type CheckResult, type CheckStatus } from './check.js';
import { fileChecks, type FileFacts } from './file-checks.js';
import { jobChecks } from './job-checks.js';
import { portChecks } from './port-checks.js';
import { postgresChecks } from './postgres-checks.js';
import { remoteChecks } from './remote-checks.js';
import { remoteServerChecks } from './remote-service-checks.js';
import { serviceChecks } from './service-checks.js';
import { formatTable } from '../format/table.js';

export interface DoctorOptions extends BackupCheckOptions {
  /** For tests: a service manager other than the configured one. */
  serviceManager?: ServiceManager;
  /** For tests: how listening sockets are seen (the system's by default). */
  portProbe?: PortProbe;
  /** Only these groups (e.g. `schedule install`'s check leaves out the ports); all by default. */
  groups?: readonly DoctorGroup[];
}

export type DoctorGroup = 'remote' | 'postgres' | 'services' | 'files' | 'ports' | 'backup' | 'jobs';

export interface DoctorReport {
  /** True when no check failed (warnings allowed). */
  ok: boolean;
  checks: CheckResult[];
  counts: Record<CheckStatus, number>;
}

/**
 * Checks a server before install, backup, restore or migration, as the install guide asks: each
 * check a pass / warn / fail line with what to do. Changes nothing; never stops at the first
 * problem (a server that is down still gets its files and ports checked).
 */
export async function doctor(config: Config, options: DoctorOptions = {}, reporter: Reporter = silentReporter): Promise<DoctorReport> {
  const facts: FileFacts = { files: undefined };
  const groups: Array<[DoctorGroup, string, () => Promise<CheckResult[]>]> = [
    // Only with CUPM_SERVER (an admin host): the server's name and channels, the share.
    ...(config.server
      ? [
          [
            'remote',
            'CUPM server',
            async () => [...(await remoteChecks(config)), ...(await remoteServerChecks(config, options.serviceManager))],
          ] as [DoctorGroup, string, () => Promise<CheckResult[]>],
        ]
      : []),
    ['postgres', 'PostgreSQL', () => postgresChecks(config)],
    ['services', 'Services', () => serviceChecks(config, options.serviceManager)],
    ['files', 'CUPM files', () => fileChecks(config, facts)],
    // After the files: the ports come from dfc.properties.
    ['ports', 'Ports', () => portChecks(config, facts.properties, options.portProbe)],
    ['backup', 'Backups', () => backupChecks(config, options)],
    ['jobs', 'Interrupted jobs', () => jobChecks(config)],
  ];
  const checks: CheckResult[] = [];
  for (const [id, title, run] of groups) {
    if (options.groups && !options.groups.includes(id)) continue;
    reporter.info(`Checking ${title.toLowerCase()}...`);
    try {
      checks.push(...(await run()));
    } catch (error) {
      // A check that breaks is a finding too, not the end of the report.
      checks.push(failFrom(`${id}.error`, `${title}: the check itself failed`, error));
    }
  }
  const counts = { pass: 0, warn: 0, fail: 0 };
  for (const check of checks) counts[check.status]++;
  return { ok: counts.fail === 0, checks, counts };
}

/** The report as lines: "[pass] title: detail", with "what to do" under warnings and failures. */
export function formatDoctorReport(report: DoctorReport): string[] {
  const rows: Array<string[] | string> = [];
  for (const check of report.checks) {
    rows.push([`[${check.status}]`, `${check.title}: ${check.detail}`]);
    if (check.hint && check.status !== 'pass') rows.push(`       what to do: ${check.hint}`);
  }
  const { pass, warn, fail } = report.counts;
  return [
    ...formatTable([{}, {}], rows, { gap: 1 }),
    '',
    `${pass} passed, ${warn} warning(s), ${fail} failed${fail > 0 ? ': fix the failures before a backup, restore or migration' : ''}`,
  ];
}
