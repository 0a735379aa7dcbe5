import { formatBytes, formatDuration } from '../format/units.js';
import type { NightlyRunRecord } from '../schedule/history.js';
import { formatLocalTime } from '../schedule/local-time.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import { escapeHtml } from './escape.js';
import { renderChart, type ChartPoint } from './svg-chart.js';

/** What the page shows. */
export interface ReportInput {
  /** Nightly runs, oldest first (readHistory). */
  runs: NightlyRunRecord[];
  backupDir: string;
  generatedAt: Date;
  /** CUPM_MAX_AGE_HOURS: a newest verified backup older than this is highlighted. */
  maxAgeHours?: number;
}

/**
 * The backup history as one self-contained HTML page: inline CSS and SVG, no script, and a
 * Content-Security-Policy that forbids every fetch, so opening it never touches the network.
 */
export function renderHtmlReport(input: ReportInput): string {
  const runs = [...input.runs].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const host = runs.at(-1)?.host ?? 'this server';
  const title = `Backup history of ${host}`;
  const body: string[] = [];
  body.push(`<header><h1>${escapeHtml(title)}</h1>`);
  body.push(
    `<p class="meta">${escapeHtml(periodText(runs, input.backupDir))} Generated ${escapeHtml(formatLocalTime(input.generatedAt.toISOString(), false))} by ${TOOL_NAME} ${TOOL_VERSION}.</p></header>`,
  );
  if (runs.length === 0) {
    body.push(
      `<p id="empty">No nightly runs are recorded in ${escapeHtml(input.backupDir)} yet: the history starts with the first <code>cupm-backup nightly</code>.</p>`,
    );
  } else {
    body.push(summary(runs, input.generatedAt, input.maxAgeHours));
    body.push(sizeChart(runs));
    body.push(durationChart(runs));
    body.push(table(runs));
  }
  return htmlPage(title, body);
}

/** A self-contained page: the report's style, and a Content-Security-Policy that forbids every fetch. */
export function htmlPage(title: string, body: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may be fetched: no script, no image, no font, no stylesheet from anywhere.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function periodText(runs: NightlyRunRecord[], backupDir: string): string {
  if (runs.length === 0) return `Backup folder ${backupDir}.`;
  const first = formatLocalTime(runs[0]!.startedAt, false);
  const last = formatLocalTime(runs.at(-1)!.startedAt, false);
  return `${runs.length} nightly run${runs.length === 1 ? '' : 's'} from ${first} to ${last}, backup folder ${backupDir}.`;
}

function summary(runs: NightlyRunRecord[], now: Date, maxAgeHours: number | undefined): string {
  const last = runs.at(-1)!;
  const newest = [...runs].reverse().find((r) => r.verified && r.archive);
  const failures = runs.filter((r) => r.outcome === 'failed').length;
  const warnings = runs.filter((r) => r.outcome === 'warning').length;
  const pending = last.pendingOffsite.length;
  const ageMs = newest ? now.getTime() - Date.parse(newest.archive!.createdAt) : 0;
  const stale = newest !== undefined && maxAgeHours !== undefined && ageMs > maxAgeHours * 3_600_000;
  const cards = [
    card('Last run', `<span class="outcome ${last.outcome}">${OUTCOME[last.outcome]}</span>`, formatLocalTime(last.startedAt, false)),
    newest
      ? card(
          'Newest verified backup',
          stale ? `<span class="outcome failed">${escapeHtml(formatAge(ageMs))}</span>` : escapeHtml(formatAge(ageMs)),
          `${formatLocalTime(newest.archive!.createdAt, false)}, ${formatBytes(newest.archive!.size)}${stale ? `; older than CUPM_MAX_AGE_HOURS (${maxAgeHours} h)` : ''}`,
          stale ? 'stale' : undefined,
        )
      : card('Newest verified backup', '<span class="outcome failed">none</span>', 'no run in this history made one'),
    card('Failed runs', String(failures), `${warnings} with warnings, of ${runs.length}`),
    card(
      'Off-site copies pending',
      String(pending),
      pending === 0 ? 'none owed' : last.pendingOffsite.map((p) => p.destination).join(', '),
    ),
  ];
  return `<section id="summary" class="cards">${cards.join('')}</section>`;
}

function card(label: string, valueHtml: string, note: string, extraClass?: string): string {
  return `<div class="card${extraClass ? ` ${extraClass}` : ''}"><div class="label">${escapeHtml(label)}</div><div class="value">${valueHtml}</div><div class="note">${escapeHtml(note)}</div></div>`;
}

const OUTCOME: Record<NightlyRunRecord['outcome'], string> = { ok: 'OK', warning: 'warning', failed: 'FAILED' };

function sizeChart(runs: NightlyRunRecord[]): string {
  const points: ChartPoint[] = runs.map((run, i) => ({
    run: i,
    at: Date.parse(run.startedAt),
    value: run.archive ? run.archive.size : null,
    label: run.archive
      ? `${formatLocalTime(run.startedAt, false)}: ${formatBytes(run.archive.size)} (database dump ${formatBytes(run.archive.dumpBytes)})`
      : `${formatLocalTime(run.startedAt, false)}: ${OUTCOME[run.outcome]}, no archive`,
  }));
  return chartSection('size', 'Archive size', points, formatBytes, BYTE_STEPS, formatBytes);
}

function durationChart(runs: NightlyRunRecord[]): string {
  const points: ChartPoint[] = runs.map((run, i) => ({
    run: i,
    at: Date.parse(run.startedAt),
    value: run.archive && run.backupDurationMs !== null ? run.backupDurationMs : null,
    label:
      run.archive && run.backupDurationMs !== null
        ? `${formatLocalTime(run.startedAt, false)}: backup took ${formatDuration(run.backupDurationMs)}`
        : `${formatLocalTime(run.startedAt, false)}: ${OUTCOME[run.outcome]}, no backup`,
  }));
  return chartSection('duration', 'Backup duration', points, formatDuration, DURATION_STEPS, (ms) =>
    formatDuration(ms).replace(/\.0s$/, 's'),
  );
}

/** 1, 2, 5 times a power of ten, in KiB, MiB, GiB and TiB: axis steps that read well. */
const BYTE_STEPS = [1, 2, 3].flatMap((power) => [1, 2, 5, 10, 20, 50, 100, 200, 500].map((n) => n * 1024 ** power)).concat([1024 ** 4]);
const SECOND = 1000;
const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * SECOND);

function chartSection(
  id: string,
  title: string,
  points: ChartPoint[],
  format: (v: number) => string,
  steps: number[],
  formatTick: (v: number) => string,
): string {
  const svg = renderChart({
    id: `${id}-chart`,
    title,
    points,
    steps,
    formatValue: (v) => (v === 0 ? '0' : formatTick(v)),
    formatTime: (t) => formatLocalTime(new Date(t).toISOString(), false).slice(0, 10),
    formatTimeOfDay: (t) => formatLocalTime(new Date(t).toISOString(), false).slice(0, 16),
  });
  const valued = points.filter((p) => p.value !== null) as Array<ChartPoint & { value: number }>;
  let trend = 'No run made an archive in this period.';
  if (valued.length === 1) trend = `One value: ${format(valued[0]!.value)}.`;
  if (valued.length > 1) {
    const first = valued[0]!.value;
    const last = valued.at(-1)!.value;
    const change = first === 0 ? '' : ` (${last >= first ? '+' : ''}${(((last - first) / first) * 100).toFixed(0)}%)`;
    trend = `From ${format(first)} to ${format(last)}${change}; highest ${format(Math.max(...valued.map((p) => p.value)))}.`;
  }
  const missing = points.length - valued.length;
  const note = missing > 0 ? ` Red crosses on the axis: ${missing} run${missing === 1 ? '' : 's'} without an archive.` : '';
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2><p class="trend-note">${escapeHtml(trend + note)}</p>${svg}</section>`;
}

function table(runs: NightlyRunRecord[]): string {
  const rows = [...runs].reverse().map((run) => {
    const offsite = offsiteText(run);
    // Archive names break only after an underscore (host, time, label), never inside a word.
    const what = run.archive
      ? escapeHtml(run.archive.name).replaceAll('_', '_<wbr>')
      : escapeHtml(run.error?.message ?? run.steps.find((s) => s.status === 'failed')?.error ?? 'no archive');
    return [
      `<tr class="${run.outcome}">`,
      `<td class="date">${escapeHtml(formatLocalTime(run.startedAt, false))}</td>`,
      `<td><span class="outcome ${run.outcome}">${OUTCOME[run.outcome]}</span></td>`,
      `<td class="num">${run.archive ? escapeHtml(formatBytes(run.archive.size)) : '—'}</td>`,
      `<td class="num">${run.backupDurationMs === null ? '—' : escapeHtml(formatDuration(run.backupDurationMs))}</td>`,
      `<td class="verified ${run.verified ? 'yes' : 'no'}">${run.verified ? 'yes' : 'no'}</td>`,
      `<td class="offsite">${escapeHtml(offsite)}</td>`,
      `<td class="what">${what}</td>`,
      '</tr>',
    ].join('');
  });
  return [
    '<section id="history"><h2>Runs</h2>',
    '<table id="runs"><thead><tr><th>Date</th><th>Outcome</th><th>Size</th><th>Duration</th><th>Verified</th><th>Off-site</th><th>Archive or error</th></tr></thead>',
    `<tbody>${rows.join('\n')}</tbody></table></section>`,
  ].join('\n');
}

function offsiteText(run: NightlyRunRecord): string {
  if (run.offsite.length === 0) return run.pendingOffsite.length > 0 ? `${run.pendingOffsite.length} pending` : '—';
  const ok = run.offsite.filter((c) => c.ok).length;
  const failedTo = run.offsite.filter((c) => !c.ok).map((c) => c.destination);
  const text = `${ok}/${run.offsite.length} copied`;
  return failedTo.length === 0 ? text : `${text}; failed: ${failedTo.join(', ')}`;
}

export function formatAge(ms: number): string {
  const hours = Math.max(0, ms) / 3_600_000;
  if (hours < 1) return `${Math.round(hours * 60)} min old`;
  if (hours < 48) return `${hours.toFixed(hours < 10 ? 1 : 0)} h old`;
  return `${Math.round(hours / 24)} days old`;
}

const STYLE = `
:root { --ok: #1a7f37; --warning: #9a6700; --failed: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0 auto; max-width: 960px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 4px; }
.meta, .trend-note, .note, .label { color: var(--muted); }
.meta { margin: 0; }
.trend-note { margin: 0 0 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin-top: 20px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: 600; margin: 2px 0; }
.card .note { font-size: 12px; }
.card.stale { border-color: var(--failed); background: #fff5f5; }
.outcome.ok { color: var(--ok); } .outcome.warning { color: var(--warning); } .outcome.failed { color: var(--failed); }
svg.chart { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
svg .grid { stroke: #eef1f4; } svg .axis { stroke: #8c959f; }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .trend { fill: none; stroke: #0969da; stroke-width: 2; }
svg .point { fill: #0969da; stroke: #fff; stroke-width: 1.5; }
svg .no-value { stroke: var(--failed); stroke-width: 2.5; fill: none; }
table { border-collapse: collapse; width: 100%; margin-top: 6px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
td.num { text-align: right; white-space: nowrap; } td.date { white-space: nowrap; }
td.verified.no { color: var(--failed); } td.what { min-width: 17em; overflow-wrap: break-word; } td.offsite { overflow-wrap: break-word; }
tr.failed td { background: #fff5f5; } tr.warning td { background: #fffbeb; }
@media print { body { max-width: none; } }
`;
