import type { BenchResult } from './results.js';

/**
 * An SVG chart of a run: per size, backup and restore times of cupm-backup next to pg_dumpall and
 * psql; then verify throughput, archive size against gzip -6, and peak RSS, each against its target.
 */
export function chart(result: BenchResult): string {
  const width = 860;
  const left = 250;
  const barWidth = width - left - 120;
  const out: string[] = [];
  let y = 50;
  const text = (x: number, yy: number, content: string, extra = '') =>
    out.push(`<text x="${x}" y="${yy}" ${extra}>${escape(content)}</text>`);
  const bar = (yy: number, value: number, scale: number, color: string, label: string) => {
    const w = Math.max(1, (value / scale) * barWidth);
    out.push(`<rect x="${left}" y="${yy}" width="${w.toFixed(1)}" height="14" fill="${color}"/>`);
    text(left + w + 6, yy + 11, label, 'font-size="11"');
  };
  const limitLine = (yTop: number, yBottom: number, at: number, scale: number, label: string) => {
    const x = left + (at / scale) * barWidth;
    out.push(`<line x1="${x.toFixed(1)}" y1="${yTop}" x2="${x.toFixed(1)}" y2="${yBottom}" stroke="#c00" stroke-dasharray="4 3"/>`);
    text(x + 3, yTop + 9, label, 'font-size="10" fill="#c00"');
  };
  const title = (content: string) => {
    y += 14;
    text(10, y, content, 'font-weight="bold" font-size="13"');
    y += 10;
  };

  text(
    10,
    24,
    `cupm-backup benchmark ${result.startedAt.slice(0, 10)}: ${result.machine.cores} cores, load ${result.machine.loadAtStart[0]?.toFixed(1)}`,
    'font-size="15" font-weight="bold"',
  );

  // Times: one scale for every size, so growth shows.
  const maxMs = Math.max(
    ...result.sizes.flatMap((z) => [z.backup.medianTool, z.backup.medianBaseline, z.restore.medianTool, z.restore.medianBaseline]),
  );
  for (const [name, key, reference] of [
    ['Backup', 'backup', 'pg_dumpall > file'],
    ['Restore', 'restore', 'psql -X -f dump.sql'],
  ] as const) {
    title(`${name} time (median of ${result.runs} pairs)`);
    for (const size of result.sizes) {
      const pair = size[key];
      text(10, y + 11, `${size.label}: cupm-backup`);
      bar(y, pair.medianTool, maxMs, '#2a6fb0', `${(pair.medianTool / 1000).toFixed(1)} s (x ${pair.medianRatio.toFixed(2)})`);
      y += 18;
      text(10, y + 11, `${size.label}: ${reference}`);
      bar(y, pair.medianBaseline, maxMs, '#999', `${(pair.medianBaseline / 1000).toFixed(1)} s`);
      y += 24;
    }
  }

  title('Verify throughput (MB/s of uncompressed data; target >= 250)');
  const maxRate = Math.max(300, ...result.sizes.map((z) => z.verify.mbPerSecondAfterStartup)) * 1.1;
  const rateTop = y;
  for (const size of result.sizes) {
    text(10, y + 11, `${size.label}: command`);
    bar(y, size.verify.mbPerSecond, maxRate, '#2a6fb0', `${size.verify.mbPerSecond.toFixed(0)} MB/s`);
    y += 18;
    text(10, y + 11, `${size.label}: start excluded`);
    bar(y, size.verify.mbPerSecondAfterStartup, maxRate, '#7aa6d2', `${size.verify.mbPerSecondAfterStartup.toFixed(0)} MB/s`);
    y += 22;
  }
  limitLine(rateTop - 4, y - 4, 250, maxRate, '250');

  title('Archive size against gzip -6 of the same dump (target <= 1.10)');
  const sizeTop = y;
  for (const size of result.sizes) {
    text(10, y + 11, `${size.label}: archive / gzip -6`);
    bar(y, size.archiveBytes / size.gzipBytes, 1.5, '#2a6fb0', (size.archiveBytes / size.gzipBytes).toFixed(3));
    y += 22;
  }
  limitLine(sizeTop - 4, y - 4, 1.1, 1.5, '1.10');

  title('Peak RSS of the cupm-backup process (MB; target <= 150)');
  const rssTop = y;
  for (const size of result.sizes) {
    for (const what of ['backup', 'verify', 'restore'] as const) {
      text(10, y + 11, `${size.label}: ${what}`);
      bar(y, size.peakRss[what] / 1e6, 200, '#2a6fb0', `${(size.peakRss[what] / 1e6).toFixed(0)} MB`);
      y += 18;
    }
    y += 4;
  }
  limitLine(rssTop - 4, y - 4, 150, 200, '150');

  const height = y + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
