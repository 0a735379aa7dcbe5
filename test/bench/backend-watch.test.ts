import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { watchBusiestBackend } from '../../scripts/bench/proc.js';
import { expect } from '../support/expect.js';

// The bench's view of a load from the server's side (/proc/PID/schedstat of the postmaster's
// busiest child), on real processes: a shell stands in for the postmaster, its children for the
// sessions and the auxiliary processes.
describe('the bench watches the backend that loads', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-backend-watch-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reports the busiest child: how long it lived, ran on a core, waited for one, and waited otherwise', async () => {
    // A session that works (0.4-1 s, by the machine) then waits 0.6 s (as a backend waits for its
    // input), and an idle one.
    const postmaster = execa('sh', ['-c', "sh -c 'i=0; while [ $i -lt 500000 ]; do i=$((i+1)); done; sleep 0.6' & sleep 3 & wait"]);
    await fs.writeFile(path.join(dir, 'postmaster.pid'), `${postmaster.pid}\n${dir}\n`);
    const watch = watchBusiestBackend(dir);
    await postmaster;
    const times = watch.stop();
    expect(times, 'a busy child was seen').to.not.equal(undefined);
    const { aliveMs, cpuMs, runqueueMs, waitingMs } = times!;
    // The busy one, not the idle sleep (3 s alive, no CPU).
    expect(cpuMs).to.be.greaterThan(200);
    expect(aliveMs).to.be.lessThan(2_900);
    expect(waitingMs, 'its sleep is time it waited').to.be.greaterThan(300);
    expect(aliveMs).to.be.closeTo(cpuMs + runqueueMs + waitingMs, 1);
  });

  it('leaves out the auxiliary processes (a checkpointer is no session) and says so when no session ran', async () => {
    // One child, named as PostgreSQL names its checkpointer (bash's exec -a), busy a moment.
    const postmaster = execa('bash', [
      '-c',
      'exec -a "postgres: checkpointer" sh -c \'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done\' & wait',
    ]);
    await fs.writeFile(path.join(dir, 'postmaster.pid'), `${postmaster.pid}\n`);
    const watch = watchBusiestBackend(dir);
    await postmaster;
    expect(watch.stop()).to.equal(undefined);
  });
});
