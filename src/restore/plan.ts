import type { PortFinding } from './ports.js';
import { describeConflict } from './ports.js';
import type { DiskCheck } from './disk.js';
import type { Rewrite } from './rewrites.js';

/** What a restore will do, known before anything changes: printed by --dry-run and the prompt. */
export interface RestorePlan {
  command: 'restore' | 'migrate';
  archive: string;
  createdAt: string;
  sourceHost: string;
  cupmVersion: { archive: string | null; installed: string | null };
  /** An interrupted restore found in the journal, done first. */
  pendingRecovery: string[] | null;
  services: { stop: string[]; alreadyStopped: string[] };
  databases: Array<{ name: string; action: 'replace' | 'create'; movedTo?: string }>;
  roles: { alter: string[]; create: string[]; admin: string; adminPassword: 'kept' | 'from-backup' };
  files: Array<{ path: string; target: string; action: 'replace' | 'create'; from: 'archive' | 'this server' }>;
  rewrites: Rewrite[];
  ports: PortFinding[] | null;
  purge: { host: string; rows: number | null } | null;
  postgres: { restart: string } | { endSessionsOf: string };
  keepPrevious: boolean;
  /** ANALYZE the restored databases once the services run (autovacuum does not here). */
  analyze: boolean;
  disk: DiskCheck;
  warnings: string[];
  /** A live restore (the server has the application database): the steps while CUPM runs, and those of the outage. */
  live?: { whileUp: string[]; outage: string[] };
  /** The plain restore (services stopped for the whole of it): why it runs rather than a live one. */
  plain?: string;
}

/** The plan as lines a person reads before saying yes. */
export function formatPlan(plan: RestorePlan): string[] {
  const lines: string[] = [];
  const push = (title: string, items: string[]) => {
    if (items.length === 0) return;
    lines.push(title, ...items.map((i) => `  - ${i}`));
  };
  lines.push(`${plan.command === 'migrate' ? 'Migrate' : 'Restore'} ${plan.archive}`);
  lines.push(
    `  made ${plan.createdAt} on ${plan.sourceHost}; CUPM ${plan.cupmVersion.archive ?? 'unknown'} (this server: ${plan.cupmVersion.installed ?? 'unknown'})`,
  );
  if (plan.pendingRecovery) push('First, an interrupted restore is finished:', plan.pendingRecovery);
  if (plan.live) {
    push('While CUPM keeps running:', plan.live.whileUp);
    push('During the outage (services stopped):', plan.live.outage);
  }
  if (plan.plain) push('Services stopped for the whole restore (the plain restore), because:', [plan.plain]);
  push(
    plan.live
      ? 'Services stopped for the outage only, and started again after:'
      : 'Services stopped during the restore, and started again after:',
    [...plan.services.stop, ...plan.services.alreadyStopped.map((s) => `${s} (already stopped: stays stopped)`)],
  );
  push('Databases replaced from the archive:', [
    ...plan.databases.map((d) =>
      d.action === 'replace'
        ? `${d.name} (the current one is renamed ${d.movedTo}, then ${plan.keepPrevious ? 'kept (--keep-previous)' : 'dropped once the services run'})`
        : `${d.name} (new)`,
    ),
    ...(plan.databases.length === 0
      ? []
      : plan.analyze
        ? ['then ANALYZE in each, once the services run (a dump carries no planner statistics, and autovacuum is off here)']
        : ['planner statistics: gathered by autovacuum (on here) within its next rounds']),
  ]);
  lines.push('  (the contents the dump holds for the built-in databases postgres and template1 are not restored)');
  push('Roles:', [
    ...(plan.roles.alter.length > 0 ? [`set as in the backup: ${plan.roles.alter.join(', ')}`] : []),
    ...(plan.roles.create.length > 0 ? [`created: ${plan.roles.create.join(', ')}`] : []),
    plan.roles.adminPassword === 'kept'
      ? `the password of ${plan.roles.admin} (the admin this tool uses) stays as it is`
      : `the password of ${plan.roles.admin} becomes the backup's, at the very end (--admin-password-from-backup)`,
  ]);
  push(
    'Files written (atomically, mode kept):',
    plan.files.map((f) => `${f.target} (${f.action === 'replace' ? 'replaced' : 'created'}, from ${f.from})`),
  );
  push(
    'Rewrites:',
    plan.rewrites.map((r) => `${r.file}: ${r.what}: ${r.before} -> ${r.after}`),
  );
  if (plan.ports) {
    push(
      'Ports (dfc.properties):',
      plan.ports.map((p) => {
        if (p.state === 'not-checked') return `${p.key}${p.port ? ` ${p.port}` : ''}: not checked (${p.note ?? ''})`;
        if (p.state === 'cupm-database') return `${p.key} ${p.port}: the CUPM database itself`;
        if (p.movedTo !== undefined) return `${describeConflict(p)}: moved to ${p.movedTo}`;
        return `${p.key} ${p.port}: ${p.state}${p.note ? ` (${p.note})` : ''}`;
      }),
    );
  }
  if (plan.purge) {
    const rows =
      plan.purge.rows === null
        ? 'rows counted after the load'
        : `${plan.purge.rows} row${plan.purge.rows === 1 ? '' : 's'} (counted in the dump)`;
    push('nicesyseng:', [`delete the rows of the old NICE host ${plan.purge.host}: ${rows}`]);
  }
  push('PostgreSQL:', [
    'restart' in plan.postgres
      ? `restart the service ${plan.postgres.restart}`
      : `end the remaining sessions of role ${plan.postgres.endSessionsOf}`,
  ]);
  const disk =
    plan.disk.free === undefined
      ? `not checked: ${plan.disk.note ?? ''}`
      : `${mib(plan.disk.free)} free on the disk of ${plan.disk.where}, ${mib(plan.disk.needed)} needed (twice the dump)${plan.disk.note ? ` (${plan.disk.note})` : ''}`;
  push('Disk:', [disk]);
  push('Warnings:', plan.warnings);
  return lines;
}

/** Bytes as MiB with one decimal: disk figures for people. */
function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
