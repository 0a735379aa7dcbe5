import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../support/cli.js';
import { freshTempIsKept, killMidWrite, staleTempIsRemoved, type UnlockedWriter } from '../support/killed-write.js';
import { localHost } from '../../src/schedule/install/host.js';

/**
 * `schedule install` writes its files (systemd units, the Windows wrapper) under no lock: a later
 * write of a file removes the temp files killed writes of it left, once they are stale, and only those.
 */
describe('schedule files: the temp file of a killed write is removed by a later write once stale', function () {
  // A child process under tsx starts slowly on a loaded machine: nothing here is timed, only waited for.
  this.timeout(300_000);
  let dir: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-schedule-temp-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** The timer unit, written by the real host's writeFile as `schedule install` writes it. */
  const writer = (): UnlockedWriter => {
    const file = path.join(dir, 'cupm-backup-nightly.timer');
    const content = '[Timer]\nOnCalendar=*-*-* 02:00:00\n';
    return {
      file,
      killedWrite: () =>
        killMidWrite(`
          const { localHost } = await import(${JSON.stringify(path.join(REPO, 'src/schedule/install/host.ts'))});
          await localHost().writeFile(${JSON.stringify(file)}, ${JSON.stringify(content)}, 0o644);
        `),
      write: () => localHost().writeFile(file, content, 0o644),
    };
  };

  it('a killed write leaves its temp file; the next write of the unit removes it once it is stale', () => staleTempIsRemoved(writer()));

  it('a fresh temp file (a write that may still be running) is kept', () => freshTempIsKept(writer()));
});
