import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { BIN, runCli } from '../support/cli.js';
import { execa } from 'execa';
import { pausingPgBin } from '../support/faults.js';
import { bindReadOnly } from '../support/mounts.js';
import { dumpText, editArchive, setDump } from '../support/archive-edit.js';
import { serverState } from '../support/servers.js';
import { createRestoreStage, type RestoreStage } from '../support/restore-stage.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

describe('restore: what a failure or an interrupted run reports, and what it leaves', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let target: SandboxServer;
  let archive: string;
  let work: string;

  before(async () => {
    stage = await createRestoreStage('cupm-safety');
    ({ target, archive, work } = stage);
  });
  after(async () => {
    await stage?.destroy();
  });

  const restoreCli = (args: string[], env: Record<string, string> = {}) =>
    runCli(['restore', ...args], { env: { ...target.env(), ...env } });

  it('a read-only install folder is found before any service stops: exit 4 names the files, nothing changed', async () => {
    const before = await serverState(target);
    await target.services.events({ clear: true });
    const sep = path.join(target.installDir, 'sep');
    const readOnly = await bindReadOnly(sep);
    try {
      const result = await restoreCli([archive, '--yes']);
      expect(result.exitCode, result.stderr).to.equal(4);
      expect(result.stderr).to.match(/The restore cannot write 2 of the CUPM files it would put back:/);
      expect(result.stderr).to.include(`${path.join(sep, 'dfc.properties')}: cannot create a file in ${sep} (EROFS)`);
      expect(result.stderr).to.include(`${path.join(sep, 'dfc.keystore')}: cannot create a file in ${sep} (EROFS)`);
      expect(result.stderr).to.match(/State: nothing was changed; no service was stopped/);
      expect(await target.services.events()).to.deep.equal([]);
    } finally {
      await readOnly.unmount();
    }
    expect(await serverState(target)).to.deep.equal(before);
  });

  it('a folder that turns read-only during the load: the files step fails, its undo has nothing to put back and says all is undone (exit 1)', async () => {
    const psql = await pausingPgBin(target.cluster.binDir, path.join(work, 'ro-during-load'));
    const before = await serverState(target);
    await psql.arm('COPY public.order_history ');
    const run = execa(BIN, ['restore', archive, '--yes'], {
      env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...target.env(), CUPM_PG_BIN: psql.bin },
      extendEnv: false,
      reject: false,
      cwd: os.tmpdir(),
    });
    await psql.paused();
    const readOnly = await bindReadOnly(path.join(target.installDir, 'sep'));
    let result;
    try {
      await psql.release();
      result = await run;
    } finally {
      await readOnly.unmount();
    }
    expect(result.exitCode, result.stderr).to.equal(1);
    expect(result.stderr).to.match(/\[failed, undone\] Write the CUPM files/);
    expect(result.stderr).to.match(/State: every change was undone/);
    expect(result.stderr).to.not.match(/could NOT undo|is PostgreSQL running/);
    expect(await serverState(target)).to.deep.equal(before);
  });

  it("a bad row deep in a COPY block is reported at its own dump line, with the server's context (exit 1)", async () => {
    let badLine = 0;
    let row = 0;
    const bad = await editArchive(archive, path.join(work, 'bad-row.zip'), (c) => {
      const lines = dumpText(c).split('\n');
      const header = lines.findIndex((l) => l.startsWith('COPY public.order_history '));
      const end = lines.indexOf('\\.', header);
      expect(end - header, 'rows in the block').to.be.greaterThan(20);
      row = Math.floor(((end - header) * 2) / 3);
      badLine = header + 1 + row;
      const fields = lines[badLine - 1]!.split('\t');
      fields[0] = 'not-a-number';
      lines[badLine - 1] = fields.join('\t');
      setDump(c, lines.join('\n'));
    });
    const before = await serverState(target);
    const result = await restoreCli([bad, '--yes']);
    expect(result.exitCode, result.stderr).to.equal(1);
    expect(result.stderr).to.include(`The dump failed at line ${badLine} of database/pg_dumpall.sql:`);
    expect(result.stderr).to.include(`CONTEXT:  COPY order_history, line ${row}, column id: "not-a-number"`);
    expect(result.stderr).to.include(`sed -n '${badLine}p'`);
    expect(await serverState(target)).to.deep.equal(before);
  });
});
