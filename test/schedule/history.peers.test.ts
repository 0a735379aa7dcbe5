import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { mountTmpfs, type TestMount } from '../support/mounts.js';
import { okRun } from '../support/nightly-records.js';
import { HISTORY_FILE, appendHistory, readHistory } from '../../src/schedule/history.js';

const MIB = 1024 * 1024;
/** What history.ts trims at (HISTORY_MAX_BYTES) and keeps (HISTORY_KEEP_RECORDS). */
const MAX_BYTES = 4 * MIB;
const KEEP = 2000;

/** The record of night `i`, about 1.5 kB as a line. */
const night = (i: number) =>
  okRun(new Date(Date.UTC(2020, 0, 1) + i * 86_400_000).toISOString(), { warnings: [`night ${i} `.padEnd(600, '.')] });

/** A history past the trim size: `count` nights as nightly appends them. Returns its bytes. */
async function writeHistory(dir: string, count: number): Promise<Buffer> {
  const text = Array.from({ length: count }, (_, i) => JSON.stringify(night(i)) + '\n').join('');
  await fs.writeFile(path.join(dir, HISTORY_FILE), text, { mode: 0o600 });
  return Buffer.from(text);
}

/**
 * The trim of a large history rewrites it through the one atomic writer: a failure in the middle
 * of the write (a full disk) leaves the history as it was, and a temp file of a trim that was
 * killed is removed by the next run that trims.
 */
describe('history: the trim of a large history is atomic', function () {
  this.timeout(120_000);
  const lineBytes = JSON.stringify(night(0)).length + 1;
  const count = Math.ceil((MAX_BYTES + 256 * 1024) / lineBytes);

  it('a disk that fills up during the rewrite: the history stays whole, no temp file is left', async () => {
    // Room for the history and a little more, not for the trimmed copy beside it.
    let mount: TestMount | undefined = await mountTmpfs({ sizeBytes: MAX_BYTES + 1 * MIB, prefix: 'cupm-history-full-' });
    try {
      const before = await writeHistory(mount.dir, count);
      expect(before.length).to.be.above(MAX_BYTES);
      expect(KEEP * lineBytes).to.be.above(1 * MIB, 'the trimmed copy must not fit');
      const next = night(count);
      const failure = await appendHistory(mount.dir, next, { locked: true }).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => error,
      );
      expect(failure?.code).to.equal('ENOSPC');
      // The appended line is there (O_APPEND, before the trim), the rest byte for byte as before.
      const after = await fs.readFile(path.join(mount.dir, HISTORY_FILE));
      expect(after.equals(Buffer.concat([before, Buffer.from(JSON.stringify(next) + '\n')]))).to.equal(true);
      expect(await fs.readdir(mount.dir)).to.deep.equal([HISTORY_FILE]);
      expect((await readHistory(mount.dir)).length).to.equal(count + 1);

      // With room again, the next run trims it.
      const remount = await execa('mount', ['-o', `remount,size=${4 * MAX_BYTES}`, mount.dir], { reject: false });
      expect(remount.exitCode, remount.stderr).to.equal(0);
      await appendHistory(mount.dir, night(count + 1), { locked: true });
      const kept = await readHistory(mount.dir);
      expect(kept.length).to.equal(KEEP);
      expect(kept.at(-1)?.startedAt).to.equal(night(count + 1).startedAt);
      expect(await fs.readdir(mount.dir)).to.deep.equal([HISTORY_FILE]);
      await mount.unmount();
      mount = undefined;
    } finally {
      await mount?.unmount();
    }
  });

  it('the temp file of a trim that was killed is removed by the next run holding the lock', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-history-'));
    try {
      await writeHistory(dir, 10);
      // What writeFileAtomic leaves when its process is killed before the rename (its naming rule).
      const left = path.join(dir, `.${HISTORY_FILE}.cupm-backup-4194000-0a1b2c3d.tmp`);
      const notOurs = path.join(dir, `${HISTORY_FILE}.tmp`);
      await fs.writeFile(left, '{"startedAt": "2020-01-0');
      await fs.writeFile(notOurs, 'kept');

      // A run refused by the lock appends only: it removes nothing.
      await appendHistory(dir, night(10));
      expect((await fs.readdir(dir)).sort()).to.deep.equal([left, HISTORY_FILE, notOurs].map((f) => path.basename(f)).sort());

      await appendHistory(dir, night(11), { locked: true });
      expect((await fs.readdir(dir)).sort()).to.deep.equal([HISTORY_FILE, path.basename(notOurs)].sort());
      expect((await readHistory(dir)).length).to.equal(12);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
