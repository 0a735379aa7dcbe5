import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { archiveFileName, DUMP_ENTRY } from '../../src/archive/format.js';
import { ArchiveWriter } from '../../src/archive/writer.js';
import { appendHistory, type NightlyRunRecord } from '../../src/schedule/history.js';
import { expect } from '../support/expect.js';
import { ageKeygen, type AgeKey } from '../support/age.js';
import { runCli } from '../support/cli.js';
import { manifestFor, SAMPLE_DUMP } from '../support/archives.js';

interface PruneJson {
  locations: Array<{ location: string; deleted: string[]; decisions: Array<{ name: string; keep: boolean; reasons: string[] }> }>;
}

/**
 * Retention over encrypted archives on the host that makes them, which holds no identity: their
 * names carry the host, time and label the backup wrote there, and nightly's history says which
 * it verified (with the file key it made). Without either, nothing is deleted.
 */
describe('prune: encrypted archives (.zip.age) are judged by their names where no identity is held', function () {
  this.timeout(120_000);
  const HOST = os.hostname();
  let dir: string;
  let share: string;
  let key: AgeKey;
  let weekly: string[];
  let other: string;
  let preUpgrade: string;
  let renamed: string;

  /** An encrypted archive as the backup would write and name it; returns its name. */
  async function encryptedAt(folder: string, createdAt: string, options: { host?: string; label?: string | null } = {}): Promise<string> {
    const host = options.host ?? HOST;
    const writer = await ArchiveWriter.create(path.join(folder, archiveFileName(host, new Date(createdAt), options.label ?? null)), {
      encryptTo: [key.recipient],
    });
    await writer.addStream(DUMP_ENTRY, Readable.from([Buffer.from(SAMPLE_DUMP)]));
    const { entries: _entries, ...body } = manifestFor(
      {},
      { createdAt, label: options.label ?? null, source: { hostname: host, addresses: [], platform: 'linux', osRelease: 'x' } },
    );
    return path.basename((await writer.finish(body)).path);
  }

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-prune-age-'));
    share = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-prune-age-share-'));
    key ??= await ageKeygen(await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-prune-key-')));
    weekly = [];
    for (const day of ['2026-11-01', '2026-11-08', '2026-11-15', '2026-11-22', '2026-11-29'])
      weekly.push(await encryptedAt(dir, `${day}T02:00:00.000Z`));
    other = await encryptedAt(dir, '2026-11-02T02:00:00.000Z', { host: 'CUPM-OTHER' });
    preUpgrade = await encryptedAt(dir, '2026-10-01T10:00:00.000Z', { label: 'pre-upgrade' });
    renamed = 'cupm-backup_copied-by-hand.zip.age';
    await fs.copyFile(path.join(dir, weekly[0]!), path.join(dir, renamed));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(share, { recursive: true, force: true });
  });

  /** The history nightly writes: the newest archive verified (with the file key it made). */
  async function nightlyVerified(name: string): Promise<void> {
    const { size } = await fs.stat(path.join(dir, name));
    const record: NightlyRunRecord = {
      startedAt: '2026-11-29T02:00:00.000Z',
      finishedAt: '2026-11-29T02:01:00.000Z',
      durationMs: 60_000,
      host: HOST,
      outcome: 'ok',
      exitCode: 0,
      archive: { path: path.join(dir, name), name, size, dumpBytes: 1, createdAt: '2026-11-29T02:00:00.000Z', cupmVersion: '8.5' },
      backupDurationMs: 1,
      verified: true,
      offsite: [],
      pendingOffsite: [],
      pruned: [],
      steps: [],
      error: null,
    };
    await appendHistory(dir, record);
  }

  const prune = (...args: string[]) => runCli(['prune', '--keep-last', '2', '--json', ...args], { env: { CUPM_BACKUP_DIR: dir } });
  const left = async (folder = dir) => (await fs.readdir(folder)).filter((n) => n.endsWith('.age')).sort();

  it('with nightly having verified the newest: deletes the old ones by their names, keeps other hosts, pre-upgrade and unparsable names', async () => {
    await nightlyVerified(weekly.at(-1)!);
    const result = await prune('--yes');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stderr).to.match(/encrypted archive\(s\) judged by the host, time and label in their names/);
    const local = result.json<PruneJson>().locations[0]!;
    expect(local.deleted.sort()).to.deep.equal(weekly.slice(0, 3).sort());
    expect(await left()).to.deep.equal([...weekly.slice(3), other, preUpgrade, renamed].sort());
    const reasons = (name: string) => local.decisions.find((d) => d.name === name)!.reasons.join('; ');
    expect(reasons(weekly.at(-1)!)).to.match(/last 2; the newest verified archive/);
    expect(reasons(other)).to.match(/an archive of another host \(CUPM-OTHER\)/);
    expect(reasons(preUpgrade)).to.match(/labelled pre-upgrade/);
    expect(reasons(renamed)).to.match(/cannot be judged: encrypted; no identity given, and its name is not one cupm-backup writes/);
  });

  it('with nothing known verified and no identity: nothing is deleted, and it says why', async () => {
    const result = await prune('--yes');
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.json<PruneJson>().locations[0]!.deleted).to.deep.equal([]);
    expect(await left()).to.have.length(8);
    expect(result.stderr).to.match(/encrypted, and not known to be verified: no identity opens it here/);
  });

  it('with --identity it reads them: verifies the newest itself and judges by the manifests (the renamed copy too)', async () => {
    const result = await prune('--yes', '--identity', key.identityFile);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stderr).to.not.match(/judged by .* their names/);
    // The copy renamed by hand holds the manifest of the oldest weekly archive: it goes with it.
    expect(result.json<PruneJson>().locations[0]!.deleted.sort()).to.deep.equal([...weekly.slice(0, 3), renamed].sort());
  });

  it('off-site copies of encrypted archives are pruned by name too (a copy gets its name only once checked)', async () => {
    await nightlyVerified(weekly.at(-1)!);
    for (const name of [...weekly, other]) await fs.copyFile(path.join(dir, name), path.join(share, name));
    const result = await runCli(['prune', '--keep-last', '2', '--json', '--yes'], { env: { CUPM_BACKUP_DIR: dir, CUPM_OFFSITE: share } });
    expect(result.exitCode, result.stderr).to.equal(0);
    const remote = result.json<PruneJson>().locations[1]!;
    expect(remote.location).to.equal(share);
    expect(remote.deleted.sort()).to.deep.equal(weekly.slice(0, 3).sort());
    expect(await left(share)).to.deep.equal([...weekly.slice(3), other].sort());
  });
});
