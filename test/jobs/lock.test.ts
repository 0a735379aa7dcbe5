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
    await expect(
      withLock(dir, 'backup', async () => {
        throw new Error('boom');
      }),
    ).to.be.rejectedWith('boom');
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('refuses with exit 4 and names the holder when a live job holds it', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      await fs.writeFile(
        path.join(dir, LOCK_FILE),
        JSON.stringify({ pid: sleeper.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:00Z', command: 'nightly' }),
      );
      const error = await withLock(dir, 'backup', async () => 'ran').catch((e) => e);
      expect(error).to.be.instanceOf(RefusedError);
      expect(error.exitCode).to.equal(4);
      expect(error.message).to.contain(`"nightly", pid ${sleeper.pid} on ${os.hostname()}`);
      // Stale locks are taken over: the message never sends the user to delete the lock by hand.
      expect(error.hint)
        .to.contain('taken over by the next run')
        .and.not.to.match(/delete/);
    } finally {
      sleeper.kill();
    }
  });

  it('takes over a stale lock whose process is gone', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.on('exit', resolve));
    await fs.writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: gone.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:00Z', command: 'backup' }),
    );
    expect(await withLock(dir, 'backup', async () => 'ran')).to.equal('ran');
  });

  it('does not judge a lock of another host stale', async () => {
    await fs.writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: 999999, host: 'other-host', startedAt: '2026-11-25T02:00:00Z', command: 'restore' }),
    );
    await expect(withLock(dir, 'backup', async () => 'ran')).to.be.rejectedWith(RefusedError, /other-host/);
  });
});

describe('taking over a stale lock (two runs after a crash)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-lock-race-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function staleLock(): Promise<void> {
    const gone = spawn('true');
    await new Promise((resolve) => gone.on('exit', resolve));
    await fs.writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: gone.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:00Z', command: 'restore' }),
    );
  }

  /** Resolves for each caller once `n` callers have arrived: both contenders stand at the racy point at once. */
  function barrier(n: number): () => Promise<void> {
    let arrived = 0;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return async () => {
      if (++arrived === n) open();
      await opened;
    };
  }

  it('lets exactly one of two runs that judged the same lock stale take it over; the other exits 4', async () => {
    await staleLock();
    const bothThere = barrier(2);
    const running: string[] = [];
    // A takes over first; B, which read the same stale holder, goes on only once A holds the lock
    // and runs: the moment where B used to remove A's fresh lock.
    let aRuns!: () => void;
    const aRunning = new Promise<void>((resolve) => (aRuns = resolve));
    // A holds the lock until B has finished trying (refused, or running too: the bug).
    let bSettles!: () => void;
    const bSettled = new Promise<void>((resolve) => (bSettles = resolve));
    const a = withLock(
      dir,
      'restore A',
      async () => {
        running.push('A');
        aRuns();
        await bSettled;
      },
      { beforeTakeover: bothThere },
    ).finally(aRuns);
    const b = withLock(
      dir,
      'restore B',
      async () => {
        running.push('B');
      },
      {
        beforeTakeover: async () => {
          await bothThere();
          await aRunning;
        },
      },
    ).finally(bSettles);
    const [ra, rb] = await Promise.allSettled([a, b]);
    expect(ra.status).to.equal('fulfilled');
    expect(rb.status).to.equal('rejected');
    const error = (rb as PromiseRejectedResult).reason;
    expect(error).to.be.instanceOf(RefusedError);
    expect(error.exitCode).to.equal(4);
    expect(error.message).to.contain('"restore A"');
    expect(running).to.deep.equal(['A']);
    // Nothing is left behind: no lock, no takeover ticket.
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('still takes over when a previous run was killed in the middle of a takeover', async () => {
    await staleLock();
    // The killed taker's ticket: created by a process that is gone now.
    let ticket = '';
    await withLock(dir, 'probe', async () => 'ran', {
      beforeTakeover: async () => {
        const gone = spawn('true');
        await new Promise((resolve) => gone.on('exit', resolve));
        const { createHash } = await import('node:crypto');
        const stale = await fs.readFile(path.join(dir, LOCK_FILE), 'utf8');
        ticket = path.join(dir, `${LOCK_FILE}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}.1`);
        await fs.writeFile(
          ticket,
          JSON.stringify({ pid: gone.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:01Z', command: 'restore' }),
        );
      },
    });
    expect(ticket).not.to.equal('');
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('removes the ticket of a taker killed after its takeover, once it holds the lock', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.on('exit', resolve));
    const ticket = path.join(dir, `${LOCK_FILE}.takeover-0123456789abcdef.1`);
    await fs.writeFile(
      ticket,
      JSON.stringify({ pid: gone.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:01Z', command: 'restore' }),
    );
    await withLock(dir, 'backup', async () => {
      expect(await fs.readdir(dir)).to.deep.equal([LOCK_FILE]);
    });
  });

  it('refuses while a live run holds the takeover ticket', async () => {
    await staleLock();
    const sleeper = spawn('sleep', ['30']);
    try {
      const error = await withLock(dir, 'backup', async () => 'ran', {
        beforeTakeover: async () => {
          const { createHash } = await import('node:crypto');
          const stale = await fs.readFile(path.join(dir, LOCK_FILE), 'utf8');
          const ticket = path.join(dir, `${LOCK_FILE}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}.1`);
          await fs.writeFile(
            ticket,
            JSON.stringify({ pid: sleeper.pid, host: os.hostname(), startedAt: '2026-11-25T02:00:01Z', command: 'restore' }),
          );
        },
      }).catch((e) => e);
      expect(error).to.be.instanceOf(RefusedError);
      expect(error.exitCode).to.equal(4);
      expect(error.message).to.contain(`pid ${sleeper.pid}`);
    } finally {
      sleeper.kill();
    }
  });
});
