import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { normalizedDump } from '../support/servers.js';
import { createRestoreStage, JOURNAL, type RestoreStage } from '../support/restore-stage.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

describe('restore: a service that does not start again after a completed restore', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let target: SandboxServer;
  let archive: string;
  let sourceDump: string;
  let failing: string;

  before(async () => {
    stage = await createRestoreStage('cupm-services-down');
    ({ target, archive, sourceDump } = stage);
    failing = target.services.services[1]!;
  });
  after(async () => {
    await stage?.destroy();
  });
  afterEach(async () => {
    await target.services.setFault(failing, 'fail-start', false);
    if ((await target.services.status(failing)) === 'stopped') await target.services.start(failing);
  });

  const databases = async () =>
    (await target.cluster.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'cupm%' ORDER BY 1")).map(
      (r) => r.datname,
    );

  for (const live of [false, true]) {
    it(`${live ? '' : '--no-live: '}exits 5: the restore completed, the service is stopped, the previous database is kept and named`, async () => {
      const before = await databases();
      await target.services.setFault(failing, 'fail-start');
      const run = await runCli(['restore', archive, '--yes', '--json', ...(live ? [] : ['--no-live'])], { env: target.env() });
      expect(run.exitCode, run.stderr).to.equal(5);
      const json = run.json<{
        ok: boolean;
        exitCode: number;
        error: { type: string; message: string; problems: string[]; state: string };
      }>();
      expect(json).to.include({ ok: false, exitCode: 5 });
      expect(json.error.type).to.equal('DirtyStateError');
      expect(json.error.message).to.equal('Services could not be started again after the job:');
      expect(json.error.problems.join('\n')).to.include(failing);
      const kept = (await databases()).filter((d) => !before.includes(d));
      expect(kept).to.have.length(1);
      expect(json.error.state).to.equal(
        `the restore itself completed; services named above are stopped; the previous database is kept as ${kept[0]} (drop it once CUPM runs)`,
      );
      expect(run.stderr).to.include(`State: ${json.error.state}`);
      expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
      expect(await target.services.status(failing)).to.equal('stopped');
      await expect(fs.access(path.join(target.backupDir, JOURNAL))).to.be.rejected;
    });
  }
});
