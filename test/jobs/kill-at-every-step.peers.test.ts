import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/faults.js';
import { killAt, type Interruption } from '../support/kill-at.js';
import { paddedDumpallBin } from '../support/pg-wrappers.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { withClient } from '../../src/pg/connection.js';
import { configOf } from '../support/servers.js';
import { dumpsOf } from '../support/proc-watch.js';
import { processesNaming } from '../../src/sandbox/proc.js';

/**
 * kill -9 and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) at every step of
 * backup and nightly, each followed by the next run and `status`: the services all run, nothing
 * half-written is left in the backup folder (spool, partial, temp files, crash record, lock), and
 * every archive there is whole (README: a file with the final name is always whole).
 * One sandbox server for the whole table.
 */
describe('kill -9, Ctrl-C or SIGTERM at every step of backup and nightly: the next run heals, status tells the truth', function () {
  this.timeout(600_000);
  let server: SandboxServer;
  let padded: string;
  let offsite: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-kill-steps' });
    // A dump of some 15 MB for the backup rows: each step lasts long enough to be interrupted in (nothing depends on it).
    padded = await paddedDumpallBin(server.dir, server.cluster.binDir, 20);
    offsite = path.join(server.dir, 'offsite');
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    await fs.rm(server.backupDir, { recursive: true, force: true });
    await fs.rm(offsite, { recursive: true, force: true });
    await fs.mkdir(offsite);
  });

  // The backup rows dump through the padded pg_dumpall (its archive is whole but not a script
  // verify accepts); nightly verifies, so it dumps with the real one.
  const env = (job: 'backup' | 'nightly' = 'backup') => ({
    ...server.env(),
    ...(job === 'backup' ? { CUPM_PG_BIN: padded } : {}),
    CUPM_OFFSITE: offsite,
  });

  /** The killed run's children end on their own: shielded service commands, an orphaned pg_dumpall. */
  async function settled(): Promise<void> {
    await waitFor("the killed run's service commands to end", async () =>
      processesNaming(server.services.dir).some(({ args }) => args.includes('stop') || args.includes('start')) ? undefined : true,
    );
    await waitFor("the killed run's pg_dumpall to end", async () =>
      (await dumpsOf(server.env().PGPORT!, padded)).length === 0 ? true : undefined,
    );
    await waitFor("the killed run's dump session to end", () =>
      withClient(configOf(server), 'postgres', async (client) =>
        (await client.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dumpall'")).rowCount === 0 ? true : undefined,
      ),
    );
  }

  async function assertHealed(dir: string): Promise<void> {
    for (const service of server.services.services) expect(await server.services.status(service), service).to.equal('running');
    const left = await fs.readdir(dir);
    const garbage = left.filter(
      (n) => /\.(spool|partial|tmp)$/.test(n) || n.startsWith('cupm-backup.job') || n.startsWith('cupm-backup.lock'),
    );
    expect(garbage, left.join(', ')).to.deep.equal([]);
    const archives = left.filter((n) => n.startsWith('cupm-backup_') && n.endsWith('.zip'));
    expect(archives.length).to.be.greaterThan(0);
    for (const name of archives) {
      const test = await execa('unzip', ['-tq', path.join(dir, name)], { reject: false });
      expect(test.exitCode, `${name}: ${test.stdout}`).to.equal(0);
    }
  }

  const interruptions: Interruption[] = ['SIGKILL', 'SIGINT-group', 'SIGTERM'];

  const backupSteps: Array<[string, RegExp]> = [
    ['stopping the services', /^Stopping Apache/],
    ['stopping the last service', /^Stopping cupm NiceService/],
    ['dumping into the spool', /^Dumping PostgreSQL/],
    ['starting the services', /^Starting cupm NiceService/],
    ['writing the archive from the spool', /^Services are running again; the archive is still being written/],
  ];
  for (const [step, line] of backupSteps) {
    for (const how of interruptions) {
      it(`backup, ${how} while ${step}`, async () => {
        const killed = await killAt(['backup'], line, how, { env: env() });
        expect(killed.matched, killed.stderr).to.be.a('string');
        await settled();
        const next = await runCli(['backup'], { env: env() });
        expect(next.exitCode, next.stderr).to.equal(0);
        await assertHealed(server.backupDir);
        const status = await runCli(['status', '--json'], { env: env() });
        const body = status.json<{ interruptedJob: unknown; interruptedRestore: unknown; problems: string[] }>();
        expect(body.interruptedJob).to.equal(null);
        expect(body.interruptedRestore).to.equal(null);
        expect(body.problems.join('\n')).not.to.match(/down since|interrupted/);
      });
    }
  }

  const nightlySteps: Array<[string, RegExp]> = [
    ['stopping the services', /^Stopping Apache/],
    ['dumping into the spool', /^Dumping PostgreSQL/],
    ['writing the archive from the spool', /^Services are running again/],
    ['verifying', /^\[done\] backup/],
    ['copying off-site', /^Copying cupm-backup_/],
    ['after the off-site copy', /^\[done\] offsite/],
  ];
  for (const [step, line] of nightlySteps) {
    for (const how of interruptions) {
      it(`nightly, ${how} while ${step}`, async () => {
        const killed = await killAt(['nightly'], line, how, { env: env('nightly') });
        expect(killed.matched, killed.stderr).to.be.a('string');
        await settled();
        const next = await runCli(['nightly'], { env: env('nightly') });
        expect(next.exitCode, next.stderr).to.equal(0);
        await assertHealed(server.backupDir);
        // Off-site: whole archives only, the newest one among them.
        const copies = (await fs.readdir(offsite)).filter((n) => n.endsWith('.zip'));
        expect(copies.length).to.be.greaterThan(0);
        for (const name of copies)
          expect((await execa('unzip', ['-tq', path.join(offsite, name)], { reject: false })).exitCode, name).to.equal(0);
        const status = await runCli(['status', '--json'], { env: env('nightly') });
        expect(status.exitCode, status.stdout).to.equal(0);
        const body = status.json<{ interruptedJob: unknown; interruptedRestore: unknown }>();
        expect(body.interruptedJob).to.equal(null);
        expect(body.interruptedRestore).to.equal(null);
      });
    }
  }
});
