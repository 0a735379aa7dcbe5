import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../support/cli.js';
import { freshTempIsKept, killMidWrite, staleTempIsRemoved, type UnlockedWriter } from '../support/killed-write.js';
import { cleanupTarget } from '../../src/upgrade/cleanup-plan.js';
import { writeCleanupScript } from '../../src/upgrade/cleanup-script.js';

/**
 * `upgrade cleanup --script FILE` writes the batch file under no lock (perhaps onto the server's
 * share): a later write of it removes the temp files killed writes of it left, once stale, and only those.
 */
describe('upgrade cleanup --script: the temp file of a killed write is removed by a later write once stale', function () {
  // A child process under tsx starts slowly on a loaded machine: nothing here is timed, only waited for.
  this.timeout(300_000);
  let dir: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-cleanup-script-temp-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const writer = (): UnlockedWriter => {
    const file = path.join(dir, 'cleanup.cmd');
    return {
      file,
      killedWrite: () =>
        killMidWrite(`
          const { cleanupTarget } = await import(${JSON.stringify(path.join(REPO, 'src/upgrade/cleanup-plan.ts'))});
          const { writeCleanupScript } = await import(${JSON.stringify(path.join(REPO, 'src/upgrade/cleanup-script.ts'))});
          await writeCleanupScript(${JSON.stringify(file)}, cleanupTarget(undefined, { SystemDrive: 'C:' }), { serviceTimeoutSeconds: 60 });
        `),
      write: async () => {
        await writeCleanupScript(file, cleanupTarget(undefined, { SystemDrive: 'C:' }), { serviceTimeoutSeconds: 60 });
      },
    };
  };

  it('a killed write leaves its temp file; the next write of the script removes it once it is stale', () => staleTempIsRemoved(writer()));

  it('a fresh temp file (a write that may still be running) is kept', () => freshTempIsKept(writer()));
});
