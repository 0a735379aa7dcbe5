import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { DUMP_ENTRY, archiveFileName } from '../../src/archive/format.js';
import { LOCK_FILE } from '../../src/jobs/lock.js';
import { LOG_FILE } from '../../src/schedule/run-log.js';
import { buildZip, manifestFor, typicalEntries } from '../support/archives.js';
import { runCli } from '../support/cli.js';
import { writeArchiveAt, writeCorruptArchive } from '../support/dated-archives.js';

interface PruneJson {
  dryRun: boolean;
  locations: Array<{
    location: string;
    kind: string;
    deleted: string[];
    unreadable: Array<{ name: string; problem: string }>;
    decisions: Array<{ name: string; keep: boolean; reasons: string[] }>;
  }>;
}

describe('prune: retention over the backup dir and the off-site folders', () => {
  let dir: string;
  let share: string;
  /** Nightly archives from 1 September to 29 November 2026, one a week, newest last. */
  let weekly: string[];
  let corrupt: string;
  let preUpgrade: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-prune-'));
    share = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-prune-share-'));
    weekly = [];
    for (let at = Date.parse('2026-09-01T02:00:00Z'); at <= Date.parse('2026-11-29T02:00:00Z'); at += 7 * 86_400_000) {
      weekly.push(await writeArchiveAt(dir, { createdAt: new Date(at).toISOString() }));
    }
    corrupt = await writeCorruptArchive(dir, '2026-08-15T02:00:00.000Z');
    preUpgrade = await writeArchiveAt(dir, { createdAt: '2026-08-01T10:00:00.000Z', label: 'pre-upgrade' });
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(share, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({ CUPM_BACKUP_DIR: dir, ...extra });
  const files = async (folder = dir) => (await fs.readdir(folder)).filter((n) => n.endsWith('.zip')).sort();

  it('--dry-run lists what it would delete and why each kept archive is kept, and deletes nothing', async () => {
    const before = await files();
    const result = await runCli(['prune', '--keep-last', '2', '--keep-monthly', '3', '--dry-run'], { env: env() });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(await files()).to.deep.equal(before);
    const lines = result.stdout.split('\n');
    const line = (name: string) => lines.find((l) => l.includes(name)) ?? '';
    expect(line(weekly.at(-1)!)).to.match(/keep .*\(last 2; monthly 2026-11; the newest verified archive\)/);
    expect(line(weekly.at(-2)!)).to.match(/keep .*\(last 2\)/);
    expect(line(weekly.at(-3)!)).to.match(/would delete/);
    expect(line(preUpgrade)).to.match(/keep .*labelled pre-upgrade \(kept until removed by name\)/);
    expect(line(corrupt)).to.match(/keep .*cannot be judged: .*not a readable ZIP archive/);
    expect(result.stderr).to.match(new RegExp(`${corrupt} in .* cannot be judged .* it is kept: remove it by name`));
  });

  it('--yes deletes by the policy, keeps the corrupt and pre-upgrade archives, reports the corrupt one, and logs what it did', async () => {
    const result = await runCli(['prune', '--keep-last', '2', '--keep-monthly', '3', '--yes', '--json'], { env: env() });
    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<PruneJson>();
    const local = json.locations[0]!;
    expect(local.kind).to.equal('local');
    expect(local.unreadable.map((u) => u.name)).to.deep.equal([corrupt]);
    // Kept: the two newest, the newest of October and of September, and the two never-deleted ones.
    const september = weekly.filter((n) => n.includes('_202609')).at(-1)!;
    const october = weekly.filter((n) => n.includes('_202610')).at(-1)!;
    expect(await files()).to.deep.equal([weekly.at(-1)!, weekly.at(-2)!, october, september, corrupt, preUpgrade].sort());
    expect(local.deleted).to.have.length(weekly.length - 4);
    const log = await fs.readFile(path.join(dir, LOG_FILE), 'utf8');
    expect(log).to.include(`Deleted ${weekly[0]} from ${dir}`);

    // `list` reports the corrupt archive and leaves it.
    const list = await runCli(['list', dir]);
    expect(list.exitCode).to.equal(0);
    expect(list.stdout).to.match(new RegExp(`${corrupt} .*UNREADABLE`));
    expect(await files()).to.include(corrupt);
  });

  it('without --yes and without a terminal it shows the plan and refuses (exit 2), deleting nothing', async () => {
    const before = await files();
    const result = await runCli(['prune', '--keep-last', '1'], { env: env() });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.match(/needs --yes when not run on a terminal/);
    expect(result.stdout).to.match(/would delete/);
    expect(await files()).to.deep.equal(before);
  });

  it('refuses to run without any rule (exit 2) rather than guess', async () => {
    const result = await runCli(['prune', '--yes'], { env: env() });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.match(/prune needs at least one rule/);
  });

  it('takes CUPM_KEEP_* when no --keep flag is given; flags, when given, are the whole policy', async () => {
    const fromEnv = await runCli(['prune', '--dry-run', '--json'], { env: env({ CUPM_KEEP_LAST: '3' }) });
    expect(fromEnv.json<PruneJson>().locations[0]!.decisions.filter((d) => d.reasons.some((r) => r.startsWith('last'))).length).to.equal(3);
    const fromFlags = await runCli(['prune', '--dry-run', '--json', '--keep-monthly', '1'], { env: env({ CUPM_KEEP_LAST: '3' }) });
    const decisions = fromFlags.json<PruneJson>().locations[0]!.decisions;
    expect(decisions.some((d) => d.reasons.some((r) => r.startsWith('last')))).to.equal(false);
    expect(decisions.filter((d) => d.reasons.some((r) => r.startsWith('monthly')))).to.have.length(1);
  });

  it('an archive that does not verify is not taken as the newest verified: it is kept and reported, the one before it is protected', async () => {
    // Newest of all, readable manifest, but its dump does not match the manifest.
    const entries = typicalEntries();
    const manifest = manifestFor(entries, {
      createdAt: '2026-11-30T02:00:00.000Z',
      source: { ...manifestFor({}).source, hostname: os.hostname() },
    });
    manifest.entries = manifest.entries.map((e) => (e.path === DUMP_ENTRY ? { ...e, sha256: '0'.repeat(64) } : e));
    const tampered = archiveFileName(os.hostname(), new Date('2026-11-30T02:00:00.000Z'), null);
    await buildZip(path.join(dir, tampered), entries, manifest);

    const result = await runCli(['prune', '--keep-last', '1', '--dry-run', '--json'], { env: env() });
    const local = result.json<PruneJson>().locations[0]!;
    expect(local.unreadable.map((u) => u.name)).to.have.members([corrupt, tampered]);
    expect(local.unreadable.find((u) => u.name === tampered)?.problem).to.match(/failed verification: .*SHA-256 differs/);
    const newest = local.decisions.find((d) => d.name === weekly.at(-1));
    expect(newest?.reasons).to.deep.equal(['last 1', 'the newest verified archive']);
  });

  it('prunes each off-site folder by the manifests found there', async () => {
    for (const name of weekly.slice(-4)) await fs.copyFile(path.join(dir, name), path.join(share, name));
    const result = await runCli(['prune', '--keep-last', '2', '--yes', '--json'], { env: env({ CUPM_OFFSITE: share }) });
    expect(result.exitCode, result.stderr).to.equal(0);
    const remote = result.json<PruneJson>().locations.find((l) => l.location === share)!;
    expect(remote.kind).to.equal('folder');
    expect(await files(share)).to.deep.equal(weekly.slice(-2).sort());
  });

  it('an unreachable destination does not stop the local prune; the exit code says partly done (6)', async () => {
    const missing = path.join(share, 'not-mounted');
    const result = await runCli(['prune', '--keep-last', '2', '--yes'], { env: env({ CUPM_OFFSITE: missing }) });
    expect(result.exitCode).to.equal(6);
    expect(result.stderr).to.match(/prune could not finish in 1 place/);
    expect(result.stderr).to.match(/not-mounted.*does not exist \(is the share mounted\?\)/);
    expect(await files()).to.include(weekly.at(-1)!);
    expect(await files()).not.to.include(weekly[0]!);

    const json = await runCli(['prune', '--keep-last', '2', '--yes', '--json'], { env: env({ CUPM_OFFSITE: missing }) });
    expect(json.exitCode).to.equal(6);
    expect(json.json<PruneJson>().locations.map((l) => l.location)).to.deep.equal([dir, missing]); // one JSON object
    // ... that the one error path of every command completes: ok, exitCode and the error object.
    const failure = json.json<{ ok: boolean; exitCode: number; error: { type: string; problems: string[]; state: string } }>();
    expect(failure).to.include({ ok: false, exitCode: 6 });
    expect(failure.error.type).to.equal('PartialError');
    expect(failure.error.problems.join('\n')).to.match(/not-mounted/);
    expect(failure.error.state).to.equal('the other places were pruned as shown');
  });

  it('waits for no one: while another job holds the lock it refuses (exit 4) and deletes nothing', async () => {
    const before = await files();
    await fs.writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), command: 'nightly' }),
    );
    const result = await runCli(['prune', '--keep-last', '1', '--yes'], { env: env() });
    expect(result.exitCode).to.equal(4);
    expect(result.stderr).to.match(/Another cupm-backup job is running: "nightly"/);
    expect(await files()).to.deep.equal(before);
  });
});
