import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { quote } from 'shell-quote';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { alive, waitFor } from '../support/faults.js';
import { configOf, STOPPED_AND_STARTED_ONCE } from '../support/servers.js';
import { mountTmpfs, type TestMount } from '../support/mounts.js';
import { killedDumpallBin, paddedDumpallBin } from '../support/pg-wrappers.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { withClient } from '../../src/pg/connection.js';
import { STANDIN_SCRIPT, type TimelineEvent } from '../../src/sandbox/standin-services.js';
import type { Manifest } from '../../src/archive/format.js';

/**
 * A backup with the services stopped dumps into a spool in the backup folder and starts the
 * services again as soon as pg_dumpall is done, while the archive is still being written. The
 * order is read from the stand-in services' own timestamps.
 */
describe('backup through a spool: the services come back when the dump is complete', function () {
  this.timeout(300_000);
  let server: SandboxServer;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-spool-test' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    await fs.rm(server.backupDir, { recursive: true, force: true });
    await server.services.events({ clear: true });
    await server.services.timeline({ clear: true });
  });

  const lastStart = (events: TimelineEvent[]) => Math.max(...events.filter((e) => e.verb === 'start').map((e) => e.at));
  const leftIn = async (dir: string) => (await fs.readdir(dir).catch(() => [] as string[])).sort();
  const allRunning = async () => {
    for (const service of server.services.services) expect(await server.services.status(service), service).to.equal('running');
  };

  it('starts the services before the archive is finished, records the downtime, and leaves no spool', async () => {
    // A dump padded with random text, deflated at level 9: the archive takes seconds after pg_dumpall.
    const bin = await paddedDumpallBin(server.dir, server.cluster.binDir, 150);
    const run = await runCli(['backup', '--json'], { env: { ...server.env(), CUPM_PG_BIN: bin, CUPM_COMPRESSION_LEVEL: '9' } });
    expect(run.exitCode, run.stderr).to.equal(0);
    const result = JSON.parse(run.stdout) as { archive: string; servicesDownMs: number; dumpMs: number; spooled: boolean };
    expect(result.spooled).to.equal(true);
    expect(run.stderr)
      .to.match(/into the spool cupm-backup_.*\.zip\.spool/)
      .and.match(/Services are running again; the archive is still being written/);
    const timeline = await server.services.timeline();
    expect(timeline.map((e) => `${e.verb} ${e.service}`)).to.deep.equal(STOPPED_AND_STARTED_ONCE);
    // The archive's last write came after the last service was up again.
    const archiveWritten = (await fs.stat(result.archive)).mtimeMs;
    expect(lastStart(timeline)).to.be.below(archiveWritten);
    expect((await leftIn(server.backupDir)).filter((n) => n.endsWith('.spool') || n.endsWith('.partial'))).to.deep.equal([]);
    expect(result.servicesDownMs).to.be.greaterThan(0);
    expect(result.dumpMs).to.be.greaterThan(0);
    const { stdout } = await execa('unzip', ['-p', result.archive, 'manifest.json']);
    const manifest = JSON.parse(stdout) as Manifest & { consistency: { servicesDownMs: number; dumpMs: number; spooled: boolean } };
    expect(manifest.consistency).to.include({ servicesDownMs: result.servicesDownMs, dumpMs: result.dumpMs, spooled: true });
    expect((await execa('unzip', ['-t', result.archive])).stdout).to.match(/No errors detected/);
    await allRunning();
  });

  it('leaves no spool when pg_dumpall fails, and the services run again (exit 1)', async () => {
    const bin = await killedDumpallBin(server.dir, server.cluster.binDir, 2000);
    const run = await runCli(['backup'], { env: { ...server.env(), CUPM_PG_BIN: bin } });
    expect(run.exitCode).to.equal(1);
    expect(run.stderr)
      .to.match(/pg_dumpall was killed by SIGKILL/)
      .and.match(/no archive was written/);
    expect((await leftIn(server.backupDir)).filter((n) => n.startsWith('cupm-backup_'))).to.deep.equal([]);
    await allRunning();
  });

  describe('on a small disk', () => {
    let mount: TestMount;
    afterEach(async () => {
      await mount?.unmount();
    });

    it('refuses before stopping anything when not even the archive fits (exit 4), naming spool and archive', async () => {
      mount = await mountTmpfs({ sizeBytes: 1024 * 1024, prefix: 'cupm-spool-tiny-' });
      const run = await runCli(['backup'], { env: { ...server.env(), CUPM_BACKUP_DIR: mount.dir } });
      expect(run.exitCode, run.stderr).to.equal(4);
      expect(run.stderr).to.match(
        /Not enough free disk for the backup: spool \(the dump\) about [\d.]+ \w+, archive about [\d.]+ \w+, [\d.]+ \w+ free/,
      );
      expect(await server.services.events()).to.deep.equal([]);
    });

    it('a disk that fills while spooling: the services run again and nothing is left (exit 1)', async () => {
      // Room for the databases' estimate, not for the padded dump.
      mount = await mountTmpfs({ sizeBytes: 64 * 1024 * 1024, prefix: 'cupm-spool-full-' });
      const bin = await paddedDumpallBin(server.dir, server.cluster.binDir, 150);
      const run = await runCli(['backup'], { env: { ...server.env(), CUPM_BACKUP_DIR: mount.dir, CUPM_PG_BIN: bin } });
      expect(run.exitCode, run.stderr).to.equal(1);
      expect(run.stderr)
        .to.match(/into the spool/)
        .and.match(/no archive was written/);
      expect((await leftIn(mount.dir)).filter((n) => n.startsWith('cupm-backup_'))).to.deep.equal([]);
      expect((await server.services.events()).filter((e) => e.startsWith('start'))).to.have.length(3);
      await allRunning();
    });
  });

  it('kill -9 while the archive follows the spool: the next run removes spool and partial, says so, and starts nothing twice', async () => {
    const bin = await paddedDumpallBin(server.dir, server.cluster.binDir, 300);
    const child = execa(BIN, ['backup'], {
      env: { PATH: process.env.PATH ?? '', ...server.env(), CUPM_PG_BIN: bin, CUPM_COMPRESSION_LEVEL: '9' },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
    });
    // The follow phase: every service up again, the archive not yet written.
    await waitFor(
      'the services started again by the backup',
      async () => (await server.services.timeline()).filter((e) => e.verb === 'start').length === 3 || undefined,
    );
    const names = await leftIn(server.backupDir);
    expect(
      names.filter((n) => n.endsWith('.zip')),
      'the archive was already finished',
    ).to.deep.equal([]);
    child.kill('SIGKILL');
    await child;
    const left = await leftIn(server.backupDir);
    expect(left.filter((n) => n.endsWith('.spool'))).to.have.length(1);
    expect(left.filter((n) => n.endsWith('.partial'))).to.have.length(1);
    await allRunning();

    await server.services.events({ clear: true });
    const next = await runCli(['backup'], { env: server.env() });
    expect(next.exitCode, next.stderr).to.equal(0);
    expect(next.stderr).to.match(/Removing cupm-backup_.*\.zip\.spool, the dump spool of an interrupted backup \(that backup was lost/);
    expect(next.stderr).to.match(/Removing cupm-backup_.*\.zip\.partial, left by an interrupted run/);
    expect(await server.services.events()).to.deep.equal(STOPPED_AND_STARTED_ONCE);
    const after = await leftIn(server.backupDir);
    expect(after.filter((n) => n.endsWith('.spool') || n.endsWith('.partial'))).to.deep.equal([]);
    expect(after.filter((n) => n.endsWith('.zip'))).to.have.length(1);
    await allRunning();
  });

  /**
   * A backup whose service status command says it is being asked (its pid in `asked`), then waits
   * at a gate (up to a minute) before it answers: the backup stands still while the services'
   * states are asked. Status commands run shielded, in a process group of their own: a signal to
   * the backup's group does not reach the one at the gate.
   */
  async function backupAskingAtGate() {
    const asked = path.join(server.dir, 'status-asked');
    const gate = path.join(server.dir, 'status-gate');
    const script = path.join(server.dir, 'status-at-gate.sh');
    await fs.rm(asked, { force: true });
    await fs.rm(gate, { force: true });
    await fs.writeFile(
      script,
      [
        `echo $$ > ${quote([asked])}`,
        `i=0; while [ ! -e ${quote([gate])} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done`,
        `exec ${quote([process.execPath, STANDIN_SCRIPT, 'status'])} "$1" ${quote([server.services.dir])}`,
      ].join('\n'),
    );
    // A process group of its own, as a terminal gives it.
    const child = execa(BIN, ['backup'], {
      env: { PATH: process.env.PATH ?? '', ...server.env(), CUPM_SERVICE_COMMAND_STATUS: quote(['sh', script]) + ' {service}' },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
      detached: true,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const statusPid = await waitFor('the services being asked their states', async () => {
      const pid = Number((await fs.readFile(asked, 'utf8').catch(() => '')).trim());
      return pid > 0 ? pid : undefined;
    });
    return { child, statusPid, stderr: () => stderr, open: () => fs.writeFile(gate, '') };
  }

  it('Ctrl-C to its process group while the services are asked their states: no service is stopped, nothing is written (exit 1)', async () => {
    // The SIGINT comes while the status command waits at the gate (it finishes), then the gate opens.
    const backup = await backupAskingAtGate();
    process.kill(-backup.child.pid!, 'SIGINT');
    await waitFor('the backup to take the Ctrl-C', async () => backup.stderr().includes('Received SIGINT') || undefined);
    await backup.open();
    const run = await backup.child;

    expect(run.exitCode, String(run.stderr)).to.equal(1);
    expect(String(run.stderr)).to.include('before any service was stopped');
    expect(await server.services.events()).to.deep.equal([]);
    expect((await leftIn(server.backupDir)).filter((n) => /\.(zip|spool|partial)$/.test(n))).to.deep.equal([]);
    await allRunning();
  });

  it('kill -9 to its process group while the services are asked their states: none stopped, status stays OK, the next backup runs clean and reports no interrupted run', async () => {
    // A verified nightly first: status then has nothing to say (OK, exit 0), before and after the kill.
    const nightly = await runCli(['nightly'], { env: server.env() });
    expect(nightly.exitCode, nightly.stderr).to.equal(0);
    const before = await runCli(['status', '--json'], { env: server.env() });
    expect(before.exitCode, before.stdout).to.equal(0);
    await server.services.events({ clear: true });
    await server.services.timeline({ clear: true });

    const backup = await backupAskingAtGate();
    process.kill(-backup.child.pid!, 'SIGKILL');
    const killed = await backup.child;
    expect(killed.signal, String(killed.stderr)).to.equal('SIGKILL');
    expect(killed.stderr).not.to.match(/Stopping /);
    // The status command at the gate outlived the backup (shielded): let it answer and end.
    await backup.open();
    await waitFor("the killed backup's status command to end", async () => !(await alive(backup.statusPid)) || undefined);
    await waitFor("the killed backup's server lock session to end", () =>
      withClient(configOf(server), 'postgres', async (client) =>
        (await client.query("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'cupm-backup backup %'")).rowCount === 0
          ? true
          : undefined,
      ),
    );

    // (a) No service was stopped: their own records say so.
    expect(await server.services.events()).to.deep.equal([]);
    expect(await server.services.timeline()).to.deep.equal([]);
    await allRunning();
    // Nothing of a run that stopped services: no crash record, no spool, no partial, no archive.
    const left = await leftIn(server.backupDir);
    expect(
      left.filter((n) => n.startsWith('cupm-backup.job') || /\.(spool|partial|tmp)$/.test(n)),
      left.join(', '),
    ).to.deep.equal([]);
    expect(
      left.filter((n) => n.endsWith('.zip')),
      left.join(', '),
    ).to.have.length(1); // the nightly's

    // (b) status: what it said before the kill, word for word: OK, exit 0, no interrupted job.
    const status = await runCli(['status'], { env: server.env() });
    expect(status.exitCode, status.stdout).to.equal(0);
    expect(status.stdout).not.to.match(/PROBLEM/);
    expect(status.stdout.trimEnd().split('\n').at(-1)).to.equal('OK');
    const after = await runCli(['status', '--json'], { env: server.env() });
    expect(after.exitCode, after.stdout).to.equal(0);
    type Status = {
      checkedAt: string;
      newestVerified: { ageHours: number } | null;
      interruptedJob: unknown;
      interruptedRestore: unknown;
      problems: string[];
      stale: boolean;
    };
    const body = after.json<Status>();
    expect(body).to.include({ interruptedJob: null, interruptedRestore: null, stale: false });
    expect(body.problems).to.deep.equal([]);
    // The same report but for the clock: when it was checked, and the nightly archive's age.
    const timeless = (s: Status) => ({ ...s, checkedAt: '', newestVerified: s.newestVerified && { ...s.newestVerified, ageHours: 0 } });
    expect(timeless(body)).to.deep.equal(timeless(before.json<Status>()));

    // (c) The next backup: exit 0, an archive, nothing healed (no earlier run reported, nothing removed).
    const next = await runCli(['backup', '--json'], { env: server.env() });
    expect(next.exitCode, next.stderr).to.equal(0);
    expect(next.stderr).not.to.match(/interrupted|Removing|already stopped|running already|stale/i);
    expect(await server.services.events()).to.deep.equal(STOPPED_AND_STARTED_ONCE);
    const archive = next.json<{ archive: string }>().archive;
    expect((await execa('unzip', ['-t', archive])).stdout).to.match(/No errors detected/);
    const final = await leftIn(server.backupDir);
    expect(final).to.include(path.basename(archive));
    expect(
      final.filter((n) => /\.(spool|partial|tmp)$/.test(n) || n.startsWith('cupm-backup.job') || n.startsWith('cupm-backup.lock')),
      final.join(', '),
    ).to.deep.equal([]);
    await allRunning();
  });

  it('Ctrl-C to its process group while the archive follows the spool: cancelled (exit 1), spool and partial removed, the services started once and left running', async () => {
    const bin = await paddedDumpallBin(server.dir, server.cluster.binDir, 300);
    // A process group of its own, as a terminal gives it: the SIGINT goes to the whole group.
    const child = execa(BIN, ['backup'], {
      env: { PATH: process.env.PATH ?? '', ...server.env(), CUPM_PG_BIN: bin, CUPM_COMPRESSION_LEVEL: '9' },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
      detached: true,
    });
    await waitFor(
      'the services started again by the backup',
      async () => (await server.services.timeline()).filter((e) => e.verb === 'start').length === 3 || undefined,
    );
    expect(
      (await leftIn(server.backupDir)).filter((n) => n.endsWith('.zip')),
      'the archive was already finished',
    ).to.deep.equal([]);
    process.kill(-child.pid!, 'SIGINT');
    const run = await child;

    expect(run.exitCode, String(run.stderr)).to.equal(1);
    expect(String(run.stderr)).to.match(/The backup was cancelled \(interrupted\)/);
    expect(
      (await leftIn(server.backupDir)).filter((n) => n.endsWith('.spool') || n.endsWith('.partial') || n.endsWith('.zip')),
    ).to.deep.equal([]);
    expect(await server.services.events()).to.deep.equal(STOPPED_AND_STARTED_ONCE);
    await allRunning();
  });
});
