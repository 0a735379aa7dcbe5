import { escapeHtml } from './escape.js';

/** One run on a chart: a value, or none (a run that made no archive: drawn as a marker on the axis). */
export interface ChartPoint {
  at: number;
  value: number | null;
  /** The tooltip (SVG <title>): date and value, or why there is none. */
  label: string;
  run: number;
}

export interface ChartOptions {
  id: string;
  title: string;
  points: ChartPoint[];
  formatValue(value: number): string;
  formatTime(at: number): string;
  /** A finer label (date and time) for ticks that fall on one day. */
  formatTimeOfDay?(at: number): string;
  /** Round steps the value axis may use, ascending (bytes: 1, 2, 5 MiB ...; durations: 30 s, 1 min ...). */
  steps: number[];
}

const WIDTH = 860;
const HEIGHT = 260;
const MARGIN = { top: 16, right: 20, bottom: 36, left: 84 };

/**
 * A time chart as inline SVG: one mark per run (a point when it has a value, a red cross on the
 * axis when it has none), a line through the points, labelled axes. No script, no external file.
 */
export function renderChart(options: ChartOptions): string {
  const { points } = options;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const instants = points.map((p) => p.at);
  const minT = Math.min(...instants);
  const maxT = Math.max(...instants);
  const values = points.flatMap((p) => (p.value === null ? [] : [p.value]));
  const ticks = axisTicks(Math.max(0, ...values), options.steps);
  const top = ticks.at(-1)!;
  // A single run (or runs at one instant) sits in the middle rather than on the axis.
  const x = (t: number) => MARGIN.left + (maxT === minT ? plotW / 2 : ((t - minT) / (maxT - minT)) * plotW);
  const y = (v: number) => MARGIN.top + plotH - (top === 0 ? 0 : (v / top) * plotH);
  const baseline = MARGIN.top + plotH;

  const parts: string[] = [];
  parts.push(
    `<svg id="${options.id}" class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(options.title)}">`,
  );
  parts.push(`<title>${escapeHtml(options.title)}</title>`);
  for (const v of ticks) {
    const yy = y(v).toFixed(1);
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${yy}" y2="${yy}"/>`);
    parts.push(
      `<text class="tick y" x="${MARGIN.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle">${escapeHtml(options.formatValue(v))}</text>`,
    );
  }
  // Runs that fall on one day would repeat one date on every tick: label those with the time
  // (formatTimeOfDay), and never print the same label twice.
  let times = timeTicks(minT, maxT);
  const dates = times.map((t) => options.formatTime(t));
  const format: (t: number) => string =
    new Set(dates).size < dates.length && options.formatTimeOfDay ? (t) => options.formatTimeOfDay!(t) : (t) => options.formatTime(t);
  const seen = new Set<string>();
  times = times.filter((t) => {
    const label = format(t);
    if (seen.has(label)) return false;
    seen.add(label);
    return true;
  });
  for (const [i, t] of times.entries()) {
    // The first and last labels lean inwards so that they are not cut at the edges.
    const anchor = times.length === 1 ? 'middle' : i === 0 ? 'start' : i === times.length - 1 ? 'end' : 'middle';
    parts.push(`<text class="tick x" x="${x(t).toFixed(1)}" y="${HEIGHT - 12}" text-anchor="${anchor}">${escapeHtml(format(t))}</text>`);
  }
  parts.push(`<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${baseline}" y2="${baseline}"/>`);
  const withValue = points.filter((p): p is ChartPoint & { value: number } => p.value !== null);
  if (withValue.length > 1) {
    const line = withValue.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    parts.push(`<polyline class="trend" points="${line}"/>`);
  }
  for (const p of points) {
    const cx = x(p.at).toFixed(1);
    if (p.value === null) {
      const d = `M${+cx - 5},${baseline - 5}l10,10M${+cx - 5},${baseline + 5}l10,-10`;
      parts.push(`<path class="mark no-value" data-run="${p.run}" d="${d}"><title>${escapeHtml(p.label)}</title></path>`);
    } else {
      parts.push(
        `<circle class="mark point" data-run="${p.run}" data-value="${p.value}" cx="${cx}" cy="${y(p.value).toFixed(1)}" r="4"><title>${escapeHtml(p.label)}</title></circle>`,
      );
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The value axis: 0 and up to five round steps, the last at or above `max`. */
export function axisTicks(max: number, steps: number[]): number[] {
  const step = steps.find((candidate) => Math.ceil(max / candidate) <= 5) ?? Math.max(max / 5, Number.MIN_VALUE);
  const count = Math.max(1, Math.ceil(max / step));
  return Array.from({ length: count + 1 }, (_, i) => i * step);
}

/** Up to five instants spread over the period, the first and the last included. */
function timeTicks(min: number, max: number): number[] {
  if (max === min) return [min];
  return [0, 0.25, 0.5, 0.75, 1].map((f) => min + f * (max - min));
}
