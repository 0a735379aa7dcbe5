import type { BackupStatus } from '../schedule/status.js';
import { formatLocalTime } from '../schedule/local-time.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import { escapeHtml } from './escape.js';
import { formatAge, htmlPage } from './html-report.js';

/** One server's row of the fleet page. */
export interface FleetReportRow {
  server: string;
  /** The server's own report page, relative to the fleet page; null when it could not be written. */
  href: string | null;
  status: BackupStatus | null;
  /** The exit code `status` gives this server; why there is no status when there is none. */
  exitCode: number;
  error: string | null;
}

/** The fleet page: one row per server (last run, newest verified backup and its age, pending copies), linking each server's report. */
export function renderFleetReport(rows: FleetReportRow[], generatedAt: Date): string {
  const title = `Backups of ${rows.length} CUPM server${rows.length === 1 ? '' : 's'}`;
  const attention = rows.filter((r) => r.exitCode !== 0).length;
  const body = [
    `<header><h1>${escapeHtml(title)}</h1>`,
    `<p class="meta">${attention === 0 ? 'All servers are well.' : `${attention} server${attention === 1 ? ' needs' : 's need'} attention.`} Generated ${escapeHtml(formatLocalTime(generatedAt.toISOString(), false))} by ${TOOL_NAME} ${TOOL_VERSION}.</p></header>`,
    '<table id="fleet">',
    '<thead><tr><th>Server</th><th>Last run</th><th>Newest verified backup</th><th>Age</th><th>Pending copies</th><th>Status</th></tr></thead>',
    '<tbody>',
    ...rows.map(row),
    '</tbody>',
    '</table>',
  ];
  return htmlPage(title, body);
}

function row(r: FleetReportRow): string {
  const outcome = r.exitCode === 0 ? 'ok' : r.exitCode === 6 ? 'warning' : 'failed';
  const name = r.href ? `<a href="${escapeHtml(r.href)}">${escapeHtml(r.server)}</a>` : escapeHtml(r.server);
  const s = r.status;
  const last = s?.lastRun
    ? `<span class="outcome ${s.lastRun.outcome}">${escapeHtml(s.lastRun.outcome.toUpperCase())}</span> ${escapeHtml(formatLocalTime(s.lastRun.startedAt, false))}`
    : 'none recorded';
  const newest = s?.newestVerified;
  const problems = s ? s.problems : r.error ? [r.error] : [];
  const statusText = `${r.exitCode === 0 ? 'OK' : `exit ${r.exitCode}`}${problems.length > 0 ? `: ${problems.join('; ')}` : ''}`;
  return [
    `<tr class="${outcome}" data-server="${escapeHtml(r.server)}">`,
    `<td>${name}</td>`,
    `<td>${s ? last : '-'}</td>`,
    `<td>${newest ? escapeHtml(newest.name) : 'none'}</td>`,
    `<td>${newest ? escapeHtml(formatAge(newest.ageHours * 3_600_000)) : '-'}</td>`,
    `<td>${s ? s.pendingOffsite.length : '-'}</td>`,
    `<td class="outcome ${outcome}">${escapeHtml(statusText)}</td>`,
    '</tr>',
  ].join('');
}
