import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { appendHistory, type NightlyRunRecord } from '../../src/schedule/history.js';
import { writeHtmlReport } from '../../src/report/report.js';
import { openInChromium, type OpenedPage } from '../support/chromium.js';
import { REPO, runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { failedRun, offsiteFailedRun, okRun } from '../support/nightly-records.js';

const MIB = 1024 * 1024;
const DAY = 86_400_000;
/** Screenshots land here (gitignored), so a person can look at what the test saw. */
const OUTPUT = path.join(REPO, 'test-output');

/**
 * Five weeks of nightly runs: the database grows and the backup slows, with two failed nights
 * (no archive) and one whose off-site copy failed.
 */
function fiveWeeks(): NightlyRunRecord[] {
  const runs: NightlyRunRecord[] = [];
  const start = Date.parse('2026-10-01T02:00:00Z');
  for (let day = 0; day < 35; day++) {
    const at = new Date(start + day * DAY).toISOString();
    if (day === 9 || day === 23) {
      runs.push(failedRun(at));
      continue;
    }
    const base = day === 30 ? offsiteFailedRun(at) : okRun(at);
    const size = Math.round((40 + day * 0.6) * MIB);
    runs.push({ ...base, archive: { ...base.archive!, size, dumpBytes: size * 4 }, backupDurationMs: 90_000 + day * 1_500 });
  }
  return runs;
}

describe('report --html: the backup history as one self-contained page (headless Chromium)', () => {
  let dir: string;
  let backupDir: string;
  let opened: OpenedPage | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cupm-report-'));
    backupDir = path.join(dir, 'backups');
    await mkdir(backupDir);
  });

  afterEach(async () => {
    await opened?.close();
    opened = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function report(runs: NightlyRunRecord[]): Promise<string> {
    for (const run of runs) await appendHistory(backupDir, run);
    const config = loadConfig({ env: { CUPM_BACKUP_DIR: backupDir }, cwd: dir });
    const file = path.join(dir, 'report.html');
    const result = await writeHtmlReport(config, file, { now: new Date('2026-11-05T08:00:00Z') });
    expect(result).to.include({ file, runs: runs.length });
    return file;
  }

  it('renders the history with one point per run in each chart, fetches nothing, and is screenshotted', async () => {
    const runs = fiveWeeks();
    const file = await report(runs);

    opened = await openInChromium(file);
    const { page } = opened;

    expect(await page.title()).to.equal('Backup history of CUPM01');
    expect(await page.locator('h1').textContent()).to.equal('Backup history of CUPM01');
    for (const chart of ['#size-chart', '#duration-chart']) {
      expect(await page.locator(`${chart} .mark`).count(), chart).to.equal(runs.length);
      expect(await page.locator(`${chart} circle.point`).count(), chart).to.equal(33);
      expect(await page.locator(`${chart} .no-value`).count(), chart).to.equal(2);
      const box = await page.locator(chart).boundingBox();
      expect(box!.width, `${chart} is laid out`).to.be.greaterThan(600);
    }
    // The points are the runs' archive sizes, in time order, left to right.
    const sizes = await page
      .locator('#size-chart circle.point')
      .evaluateAll((els) => els.map((el) => [Number(el.getAttribute('data-value')), Number(el.getAttribute('cx'))]));
    expect(sizes.map(([value]) => value)).to.deep.equal(runs.filter((r) => r.archive).map((r) => r.archive!.size));
    expect(sizes.map(([, x]) => x)).to.deep.equal([...sizes.map(([, x]) => x)].sort((a, b) => a! - b!));
    expect(await page.locator('#size-chart circle.point').first().locator('title').textContent()).to.equal(
      '2026-10-01 02:00 UTC: 40.0 MiB (database dump 160.0 MiB)',
    );
    expect(await page.locator('#duration-chart .no-value').first().locator('title').textContent()).to.equal(
      '2026-10-10 02:00 UTC: FAILED, no backup',
    );
    expect(await page.locator('#size .trend-note').textContent()).to.equal(
      'From 40.0 MiB to 60.4 MiB (+51%); highest 60.4 MiB. Red crosses on the axis: 2 runs without an archive.',
    );

    // The table: newest first, one row per run.
    const rows = page.locator('#runs tbody tr');
    expect(await rows.count()).to.equal(runs.length);
    expect(await rows.first().locator('td').allTextContents()).to.deep.equal([
      '2026-11-04 02:00 UTC',
      'OK',
      '60.4 MiB',
      '2m21s',
      'yes',
      '1/1 copied',
      'cupm-backup_CUPM01_20261104T020002Z.zip',
    ]);
    expect(await rows.nth(4).locator('td').allTextContents()).to.deep.equal([
      '2026-10-31 02:00 UTC',
      'warning',
      '58.0 MiB',
      '2m15s',
      'yes',
      '1/2 copied; failed: sftp://backup@nas02:22/srv/cupm',
      'cupm-backup_CUPM01_20261031T020002Z.zip',
    ]);
    expect(await rows.nth(11).locator('td').allTextContents()).to.deep.equal([
      '2026-10-24 02:00 UTC',
      'FAILED',
      '—',
      '—',
      'no',
      '—',
      'The backup failed: No space left on device while writing the archive.',
    ]);
    expect(await page.locator('#summary .card .value').allTextContents()).to.deep.equal(['OK', '30 h old', '2', '0']);

    await mkdir(OUTPUT, { recursive: true });
    const shot = path.join(OUTPUT, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = await readFile(shot);
    expect(png.subarray(1, 4).toString('ascii')).to.equal('PNG');
    expect((await stat(shot)).size).to.be.greaterThan(20_000);

    expect(opened.networkRequests).to.deep.equal([]);
    expect(opened.errors).to.deep.equal([]);
  });

  it('the request watch of these tests does catch a page that reaches out', async () => {
    const file = path.join(dir, 'leaky.html');
    await writeFile(
      file,
      '<!doctype html><title>leaky</title><img src="http://127.0.0.1:9/pixel.png"><link rel="stylesheet" href="https://cdn.example.invalid/x.css">',
    );
    opened = await openInChromium(file);
    expect(opened.networkRequests).to.include('http://127.0.0.1:9/pixel.png');
    expect(opened.networkRequests).to.include('https://cdn.example.invalid/x.css');
  });

  it('holds no script and no address to fetch: a Content-Security-Policy forbids every fetch', async () => {
    const html = await readFile(await report(fiveWeeks()), 'utf8');
    expect(html).to.include(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    expect(html).not.to.match(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.to.match(/https?:\/\//);
  });

  it('shows names and errors as text, never as markup', async () => {
    const hostile = failedRun('2026-11-01T02:00:00Z', {
      host: 'CUPM<b>01</b>',
      error: { message: 'disk "full" <script>document.title="pwned"</script> & gone' },
    });
    opened = await openInChromium(await report([okRun('2026-10-31T02:00:00Z', { host: 'CUPM<b>01</b>' }), hostile]));
    expect(await opened.page.title()).to.equal('Backup history of CUPM<b>01</b>');
    expect(await opened.page.locator('script').count()).to.equal(0);
    expect(await opened.page.locator('#runs tbody tr').first().locator('td.what').textContent()).to.equal(
      'disk "full" <script>document.title="pwned"</script> & gone',
    );
  });

  it('a single run is one point in each chart', async () => {
    opened = await openInChromium(await report([okRun('2026-11-01T02:00:00Z')]));
    expect(await opened.page.locator('#size-chart circle.point').count()).to.equal(1);
    expect(await opened.page.locator('#duration-chart circle.point').count()).to.equal(1);
    expect(opened.errors).to.deep.equal([]);
  });

  it('runs on one day get distinct x-axis labels, archive names wrap only at "_", and a newest backup older than CUPM_MAX_AGE_HOURS is highlighted', async () => {
    // Three runs on 2 November (a backup retried in the afternoon): the report is made 3 days later.
    const runs = ['2026-11-02T02:00:00Z', '2026-11-02T09:30:00Z', '2026-11-02T17:45:00Z'].map((at) => okRun(at));
    opened = await openInChromium(await report(runs));
    const { page } = opened;
    for (const chart of ['#size-chart', '#duration-chart']) {
      const labels = await page.locator(`${chart} text.tick.x`).allTextContents();
      expect(labels.length, chart).to.be.greaterThan(1);
      expect(new Set(labels).size, `${chart}: ${labels.join(' | ')}`).to.equal(labels.length);
    }
    const stale = page.locator('#summary .card.stale');
    expect(await stale.count()).to.equal(1);
    expect(await stale.locator('.note').textContent()).to.contain('older than CUPM_MAX_AGE_HOURS (26 h)');
    expect(await stale.locator('.value .outcome.failed').count()).to.equal(1);

    // A narrow window: every line break inside an archive name comes right after an underscore.
    await page.setViewportSize({ width: 420, height: 900 });
    // Runs in the page (a string: this project's TypeScript has no DOM types).
    const breaks = await page.evaluate<string[]>(`(() => {
      const cell = document.querySelector('#runs td.what');
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      const chars = [];
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent || '';
        for (let i = 0; i < text.length; i++) {
          const range = document.createRange();
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          chars.push({ char: text[i], top: Math.round(range.getBoundingClientRect().top) });
        }
      }
      const before = [];
      for (let i = 1; i < chars.length; i++) if (chars[i].top > chars[i - 1].top) before.push(chars[i - 1].char);
      return before;
    })()`);
    expect(breaks.length, 'the name wraps in a narrow window').to.be.greaterThan(0);
    for (const char of breaks) expect(char).to.equal('_');
    await mkdir(OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT, 'report-one-day-narrow.png'), fullPage: true });
    expect(opened.errors).to.deep.equal([]);
  });

  it('says when there is no history yet', async () => {
    opened = await openInChromium(await report([]));
    expect(await opened.page.locator('#empty').textContent()).to.include('No nightly runs are recorded in');
    expect(await opened.page.locator('svg').count()).to.equal(0);
  });

  it('from the command line: writes the file and prints its path; an unwritable place is exit 1', async () => {
    for (const run of fiveWeeks().slice(0, 3)) await appendHistory(backupDir, run);
    const file = path.join(dir, 'weekly report.html');

    const written = await runCli(['report', '--html', file, '--json'], { env: { CUPM_BACKUP_DIR: backupDir }, cwd: dir });
    expect(written.exitCode, written.stderr).to.equal(0);
    expect(written.json()).to.include({ file, runs: 3 });
    expect((await readFile(file, 'utf8')).startsWith('<!doctype html>')).to.equal(true);

    const refused = await runCli(['report', '--html', path.join(dir, 'no such folder', 'r.html')], {
      env: { CUPM_BACKUP_DIR: backupDir },
      cwd: dir,
    });
    expect(refused.exitCode).to.equal(1);
    expect(refused.stderr).to.include('Cannot write the report');
    expect(refused.stderr).to.include('ENOENT');

    const usage = await runCli(['report'], { env: { CUPM_BACKUP_DIR: backupDir }, cwd: dir });
    expect(usage.exitCode).to.equal(2);
    expect(usage.stderr).to.include("required option '--html <file>' not specified");
  });
});
