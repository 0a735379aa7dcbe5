import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { expect } from '../support/expect.js';
import { LOCK_FILE, withLock } from '../../src/jobs/lock.js';
import { RefusedError } from '../../src/errors.js';

describe('one job at a time (lock)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-lock-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('records its holder while the job runs and removes itself afterwards', async () => {
    await withLock(dir, 'backup', async () => {
      const holder = JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8'));
      expect(holder).to.include({ pid: process.pid, host: os.hostname(), command: 'backup' });
      expect((await fs.stat(path.join(dir, LOCK_FILE))).mode & 0o777).to.equal(0o600);
    });
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('releases the lock when the job fails', async () => {
    await expect(withLock(dir, 'backup', async () => { throw new Error('boom'); })).to.be.rejectedWith('boom');
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('refuses with exit 4 and names the holder when a live job holds it', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: sleeper.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:00Z', command: 'nightly' }));
      const error = await withLock(dir, 'backup', async () => 'ran').catch((e) => e);
      expect(error).to.be.instanceOf(RefusedError);
      expect(error.exitCode).to.equal(4);
      expect(error.message).to.contain(`"nightly", pid ${sleeper.pid} on ${os.hostname()}`);
      // Stale locks are taken over: the message never sends the user to delete the lock by hand.
      expect(error.hint).to.contain('taken over by the next run').and.not.to.match(/delete/);
    } finally {
      sleeper.kill();
    }
  });

  it('takes over a stale lock whose process is gone', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.on('exit', resolve));
    await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: gone.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:00Z', command: 'backup' }));
    expect(await withLock(dir, 'backup', async () => 'ran')).to.equal('ran');
  });

  it('does not judge a lock of another host stale', async () => {
    await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 999999, host: 'other-host', startedAt: '2026-11-25T02:00:00Z', command: 'restore' }));
    await expect(withLock(dir, 'backup', async () => 'ran')).to.be.rejectedWith(RefusedError, /other-host/);
  });
});
