import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { quote } from 'shell-quote';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { alive, pausingPgBin, postgresAsService, waitFor } from '../support/faults.js';
import { normalizedDump, serverState, withoutNiceRows } from '../support/servers.js';
import { createRestoreStage, journalOf, JOURNAL, serviceCommandEnded, type RestoreStage } from '../support/restore-stage.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

interface Recovery {
  outcome: string;
  steps: Array<{ id: string; status: string }>;
}

describe('restore: finishing an interrupted restore does only what is left, and says so', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let target: SandboxServer;
  let archive: string;
  let corrupt: string;
  let sourceDump: string;
  let work: string;

  before(async () => {
    stage = await createRestoreStage('cupm-recovery');
    ({ target, archive, sourceDump, corrupt, work } = stage);
  });
  after(async () => {
    await stage?.destroy();
  });

  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...target.env(), ...extra });
  const startRestore = (extra: Record<string, string>, args: string[] = []) =>
    // The plain restore's steps and their kill outcomes (--no-live); a live one's: live.peers.test.ts.
    execa(BIN, ['restore', archive, '--yes', '--no-live', ...args], { env: env(extra), extendEnv: false, reject: false, cwd: os.tmpdir() });
  /** The next run, with an archive it refuses (exit 3) after the recovery: its --json carries the recovery. */
  async function recoverThenFail(extra: Record<string, string> = {}): Promise<{ recovery: Recovery; stderr: string }> {
    // --no-live: the corrupt archive is refused before anything else runs (a live restore would find it in its load).
    const next = await runCli(['restore', corrupt, '--yes', '--json', '--no-live'], { env: { ...target.env(), ...extra } });
    expect(next.exitCode, next.stderr).to.equal(3);
    const json = next.json<{ ok: boolean; recovery?: Recovery; error: { message: string } }>();
    expect(json.ok).to.equal(false);
    expect(json.error.message).to.match(/NOT valid|corrupt/);
    expect(json.recovery, next.stdout).to.not.equal(undefined);
    return { recovery: json.recovery!, stderr: next.stderr };
  }

  it('killed while starting the services after the load: the next run starts only the one still stopped, drops the previous database, and reports only that', async () => {
    // Apache (started last) hangs in its start until the restore is gone.
    const control = path.join(work, 'start-control');
    await fs.mkdir(control, { recursive: true });
    const script = [
      'svc=$1; shift',
      `if [ "$svc" = Apache ] && [ -e ${quote([control])}/pause ]; then`,
      `  rm ${quote([control])}/pause; echo $$ > ${quote([control])}/paused`,
      '  while kill -0 $PPID 2>/dev/null; do sleep 0.2; done; exit 1',
      'fi',
      'exec "$@"',
    ].join('\n');
    const start = `sh -c ${quote([script])} sh {service} ${target.services.env().CUPM_SERVICE_COMMAND_START}`;
    await fs.writeFile(path.join(control, 'pause'), '');
    const run = startRestore({ CUPM_SERVICE_COMMAND_START: start });
    const paused = await waitFor('the start of Apache to pause', async () => {
      const text = await fs.readFile(path.join(control, 'paused'), 'utf8').catch(() => undefined);
      return text ? Number(text) : undefined;
    });
    const journal = await journalOf(target);
    expect(
      journal.steps.every((s) => s.status === 'done'),
      JSON.stringify(journal.steps),
    ).to.equal(true);
    run.kill('SIGKILL');
    await run;
    await waitFor('the hung start to end', async () => ((await alive(paused)) ? undefined : true));
    expect(await target.services.status('Apache')).to.equal('stopped');
    await target.services.events({ clear: true });

    const { recovery, stderr } = await recoverThenFail();
    expect(recovery.outcome).to.equal('completed');
    expect(recovery.steps.map((s) => [s.id, s.status])).to.deep.equal([['drop-previous', 'done']]);
    expect(stderr).to.not.include('Load the dump');
    expect(stderr).to.match(/Starting Apache \(it ran before the interrupted restore\)/);
    expect(await target.services.events()).to.deep.equal(['start Apache']);
    const state = await serverState(target);
    expect(state.databases).to.deep.equal(['cupm', 'postgres', 'template0', 'template1']);
    expect(Object.values(state.services)).to.deep.equal(['running', 'running', 'running']);
    expect(state.backupDirLeftovers).to.deep.equal([]);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
  });

  it('killed in the PostgreSQL restart: the next run runs only that step and the drop, and still reports the recovery when it then fails', async () => {
    const postgres = await postgresAsService(target);
    await postgres.pauseNextStop();
    const run = startRestore(postgres.env, ['--old-nice-host', '192.0.2.10']);
    const stopping = await postgres.paused();
    run.kill('SIGKILL');
    await run;
    await serviceCommandEnded(stopping);
    await postgres.reset();

    const { recovery, stderr } = await recoverThenFail(postgres.env);
    expect(recovery.outcome).to.equal('completed');
    expect(recovery.steps.map((s) => [s.id, s.status])).to.deep.equal([
      ['postgres', 'done'],
      ['drop-previous', 'done'],
    ]);
    expect(stderr).to.not.match(/Load the dump|Write the CUPM files|Delete the rows/);
    expect(await normalizedDump(target.cluster, 'cupm')).to.equal(withoutNiceRows(sourceDump, '192.0.2.10'));
    expect(Object.values((await serverState(target)).services)).to.deep.equal(['running', 'running', 'running']);
  });

  it("killed while writing the CUPM files: the next run removes the temp files that run left (and no one else's)", async () => {
    const postgres = await postgresAsService(target);
    await postgres.pauseNextStop();
    const run = startRestore(postgres.env);
    const stopping = await postgres.paused();
    run.kill('SIGKILL');
    await run;
    await serviceCommandEnded(stopping);
    await postgres.reset();
    // What a kill -9 between the temp file's creation and its rename leaves (writeFileAtomic's names).
    const { pid } = await journalOf(target);
    const sep = path.join(target.installDir, 'sep');
    const left = [
      path.join(sep, `.dfc.properties.cupm-backup-${pid}-0a1b2c3d.tmp`),
      path.join(sep, `.dfc.keystore.cupm-backup-${pid}-4e5f6a7b.tmp.old`),
      path.join(target.installDir, `.install.log.cupm-backup-${pid}-8c9d0e1f.tmp`),
      path.join(target.backupDir, `.${JOURNAL}.cupm-backup-${pid}-12345678.tmp`),
    ];
    const notOurs = path.join(sep, `.dfc.properties.cupm-backup-${pid + 1}-0a1b2c3d.tmp`);
    for (const file of [...left, notOurs]) await fs.writeFile(file, 'half written');

    const { recovery, stderr } = await recoverThenFail(postgres.env);
    expect(recovery.outcome).to.equal('completed');
    for (const file of left) {
      expect(
        await fs.stat(file).then(
          () => true,
          () => false,
        ),
        file,
      ).to.equal(false);
      expect(stderr).to.include(`Removed ${file}, a temp file the interrupted restore left`);
    }
    expect(await fs.readFile(notOurs, 'utf8')).to.equal('half written');
    await fs.rm(notOurs);
    expect((await serverState(target)).backupDirLeftovers).to.deep.equal([]);
  });

  it('killed during the load: the next run reports the two steps it undid, and the failure after it carries the recovery', async () => {
    const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'kill-load'));
    await target.cluster.query("UPDATE subscriber SET display_name = 'before the kill' WHERE id = 1", [], 'cupm');
    const before = await serverState(target);
    await psql.arm('COPY public.order_history ');
    const run = startRestore({ CUPM_PG_BIN: psql.bin });
    const wrapper = await psql.paused();
    run.kill('SIGKILL');
    await run;
    await waitFor('psql to end', async () => ((await alive(wrapper)) ? undefined : true));

    const { recovery } = await recoverThenFail();
    expect(recovery.outcome).to.equal('undone');
    expect(recovery.steps.map((s) => [s.id, s.status])).to.deep.equal([
      ['move-aside', 'undone'],
      ['load', 'undone'],
    ]);
    expect(await serverState(target)).to.deep.equal(before);
  });
});
