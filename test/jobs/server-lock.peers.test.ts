import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { pausingPgBin, waitFor } from '../support/faults.js';
import { slowDumpallBin } from '../support/pg-wrappers.js';
import { configOf } from '../support/servers.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { RefusedError } from '../../src/errors.js';
import { describeServerLockHolder, holderName, takeServerLock } from '../../src/pg/server-lock.js';
import { withClient } from '../../src/pg/connection.js';

/**
 * One job per CUPM server, whatever the backup folder: the PostgreSQL advisory lock. A backup and
 * a restore with two different folders exclude each other; the second is refused (exit 4) naming
 * the first, and the services are stopped only once.
 */
describe('one job per server: the PostgreSQL advisory lock', function () {
  this.timeout(300_000);
  let server: SandboxServer;
  let otherDir: string;
  let archive: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-server-lock' });
    otherDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-other-folder-'));
    const made = await runCli(['backup', '--json', '--output-dir', otherDir], { env: server.env() });
    expect(made.exitCode, made.stderr).to.equal(0);
    archive = made.json<{ archive: string }>().archive;
  });
  after(async () => {
    await server?.destroy();
    await fs.rm(otherDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await server.services.events({ clear: true });
  });

  const stops = async () => (await server.services.events()).filter((e) => e.startsWith('stop'));

  it('a restore from another folder while a backup dumps: exit 4 naming the backup; services stopped once', async () => {
    // The dump hangs for minutes: however slowly the restore's preflight runs, the backup still holds the server.
    const bin = await slowDumpallBin(server.dir, server.cluster.binDir, 600);
    const backup = execa(BIN, ['backup'], {
      env: { PATH: process.env.PATH ?? '', ...server.env(), CUPM_PG_BIN: bin },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
    });
    await waitFor('the backup to dump', async () => ((await fs.stat(path.join(bin, 'started')).catch(() => undefined)) ? true : undefined));
    const restore = await runCli(['restore', archive, '--yes'], { env: { ...server.env(), CUPM_BACKUP_DIR: otherDir } });
    expect(restore.exitCode, restore.stderr).to.equal(4);
    expect(restore.stderr).to.match(
      new RegExp(
        `Another cupm-backup job is working on the PostgreSQL server .*: "backup", pid ${backup.pid} on ${os.hostname()}, since \\d{4}-`,
      ),
    );
    expect(restore.stderr).to.match(/no service was stopped/);
    expect(await stops()).to.have.length(3);
    backup.kill('SIGTERM'); // cancelled: the backup stops its dump and starts the services
    expect((await backup).exitCode).to.equal(1);
    await fs.rm(path.join(bin, 'started'), { force: true });
    expect(await stops()).to.have.length(3);
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
  });

  it('a backup into another folder while a restore loads: exit 4 naming the restore; services stopped once', async () => {
    const pausing = await pausingPgBin(server.cluster.binDir, path.join(server.dir, `pausing-${Date.now()}`));
    await pausing.arm('COPY');
    const restore = runCli(['restore', archive, '--yes'], {
      env: { ...server.env(), CUPM_BACKUP_DIR: otherDir, CUPM_PG_BIN: pausing.bin },
    });
    await pausing.paused();
    try {
      const backup = await runCli(['backup'], { env: server.env() });
      expect(backup.exitCode, backup.stderr).to.equal(4);
      expect(backup.stderr).to.match(/Another cupm-backup job is working on the PostgreSQL server .*: "restore", pid \d+ on /);
      // The restore loads while CUPM runs (it stops the services for the swap only); the backup stopped none.
      expect(await stops()).to.have.length(0);
    } finally {
      await pausing.release();
    }
    const done = await restore;
    expect(done.exitCode, done.stderr).to.equal(0);
    expect(await stops()).to.have.length(3);
  });

  it('is re-taken when PostgreSQL restarts under it, and names its holder', async () => {
    const config = configOf(server);
    const lock = await takeServerLock(config, 'restore', silentReporter);
    try {
      await server.cluster.stop();
      await server.cluster.start();
      expect(await lock.ensureHeld(120_000)).to.equal(true);
      const names = await withClient(config, 'postgres', async (client) =>
        (
          await client.query<{ application_name: string }>(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'cupm-backup %@%'",
          )
        ).rows.map((r) => r.application_name),
      );
      expect(names).to.have.length(1);
      expect(names[0]).to.match(new RegExp(`^cupm-backup restore ${process.pid}@${os.hostname().slice(0, 10)}`));
      const second = await takeServerLock(config, 'backup', silentReporter).catch((e: unknown) => e);
      expect(second).to.be.instanceOf(RefusedError);
      expect((second as RefusedError).exitCode).to.equal(4);
      expect((second as RefusedError).message).to.contain(`"restore", pid ${process.pid} on `);
    } finally {
      await lock.release();
    }
    // Released: the next job takes it.
    const next = await takeServerLock(config, 'backup', silentReporter);
    await next.release();
  });

  it('PostgreSQL down at the start: the job goes on under the folder lock, says so, and takes the server lock once it answers', async () => {
    const config = configOf(server);
    const warnings: string[] = [];
    const reporter = { ...silentReporter, warn: (message: string) => warnings.push(message) };
    await server.cluster.stop();
    let lock: Awaited<ReturnType<typeof takeServerLock>> | undefined;
    try {
      lock = await takeServerLock(config, 'restore', reporter);
      expect(lock.held).to.equal(false);
      expect(warnings.join('\n')).to.match(/does not answer .*ensured by the backup folder's lock only until it answers/);
    } finally {
      await server.cluster.start();
    }
    try {
      expect(await lock.ensureHeld(120_000)).to.equal(true);
      const second = await takeServerLock(config, 'backup', silentReporter).catch((e: unknown) => e);
      expect(second).to.be.instanceOf(RefusedError);
    } finally {
      await lock.release();
    }
  });

  it('names the holder within the 63 bytes PostgreSQL keeps, and reads it back', () => {
    const name = holderName(
      'restore (finishing an interrupted restore)',
      new Date('2026-12-04T14:40:00.123Z'),
      4242,
      'cupm-admin-01.example.internal.corp',
    );
    expect(Buffer.byteLength(name)).to.be.at.most(63);
    expect(describeServerLockHolder({ pid: 1, applicationName: name, clientAddress: null, backendStart: null })).to.match(
      /^"restore", pid 4242 on cupm-admin-01\.example.*, since 2026-12-04T14:40:00Z$/,
    );
    expect(
      describeServerLockHolder({ pid: 77, applicationName: null, clientAddress: '10.0.0.5', backendStart: '2026-12-04 14:40:00+00' }),
    ).to.equal('a cupm-backup session (server pid 77) from 10.0.0.5, connected since 2026-12-04 14:40:00+00');
  });
});
