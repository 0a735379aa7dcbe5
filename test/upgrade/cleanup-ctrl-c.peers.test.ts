import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '../support/expect.js';
import type { CleanupSpec, CleanupUnderCtrlC } from '../support/cleanup-under-ctrl-c.js';
import { ctrlCAtGate } from '../support/ctrl-c-during-command.js';
import { createWinePrefix, shellQuote, type WinePrefix } from '../support/wine.js';

const TOOL = fileURLToPath(new URL('../support/cleanup-under-ctrl-c.ts', import.meta.url));
const NET_FIXTURES = fileURLToPath(new URL('../fixtures/system/net/', import.meta.url));

/**
 * `net.exe user NAME [/delete]` for the Wine prefix, whose own net.exe knows only start, stop and
 * use: the users are lines of `<dir>/users`, and each answer is Windows' recorded output
 * (test/fixtures/system/net/, CRLF kept): "The command completed successfully." (exit 0), or
 * NERR_UserNotFound on stderr (exit 2). Returns the stand-in's path.
 */
async function netExeWithUsers(dir: string, users: string[]): Promise<string> {
  const file = path.join(dir, 'net.exe');
  const list = path.join(dir, 'users');
  await writeFile(list, users.map((u) => `${u}\n`).join(''));
  await writeFile(
    file,
    `#!/usr/bin/env bash
set -u
fixtures=${shellQuote(NET_FIXTURES)}
list=${shellQuote(list)}
[ "$1" = user ] || { echo "not recorded: net $*" >&2; exit 1; }
if ! grep -qixF -- "$2" "$list"; then cat "$fixtures/user-not-found.stderr.txt" >&2; exit 2; fi
if [ "\${3:-}" = /delete ]; then
  grep -vixF -- "$2" "$list" > "$list.new"; mv "$list.new" "$list"
  cat "$fixtures/command-completed.txt"
else
  sed "s/cupmuser/$2/g" "$fixtures/user-cupmuser.txt"
fi
`,
  );
  await chmod(file, 0o755);
  return file;
}

describe("upgrade cleanup under a terminal's Ctrl-C (Wine's sc.exe and reg.exe)", function () {
  this.timeout(300_000);
  let wine: WinePrefix;
  let backupDir: string;

  before(async function () {
    this.timeout(600_000); // wineboot of a fresh prefix: 20-60 s, more on a busy machine
    wine = await createWinePrefix();
    backupDir = await mkdtemp(path.join(tmpdir(), 'cupm-cleanup-ctrl-c-'));
  });

  /** The clean-up's machine: Wine's tools, `sc.exe` and `net.exe` for the driver given. */
  const tool = (tools: { scExe: string; netExe: string }) => {
    const spec: CleanupSpec = {
      ...tools,
      regExe: wine.regExe,
      serviceScExe: wine.scExe,
      driveC: path.join(wine.prefix, 'drive_c'),
      backupDir,
    };
    return { script: TOOL, env: { CUPM_TEST_CLEANUP: JSON.stringify(spec) } };
  };

  const outcomeOf = (run: { stdout: string; stderr: string; exitCode: number | undefined; signal: string | undefined }) => {
    expect(run.stderr).to.contain('Received SIGINT: stopping and letting the step under way finish');
    const outcome = JSON.parse(run.stdout.trim() || 'null') as CleanupUnderCtrlC | null;
    expect(outcome, `exit ${run.exitCode} ${run.signal ?? ''}: ${run.stderr}`).not.to.equal(null);
    return outcome!;
  };
  after(async function () {
    this.timeout(120_000);
    await wine?.destroy();
    if (backupDir) await rm(backupDir, { recursive: true, force: true });
  });

  it('lets the sc.exe delete the Ctrl-C landed in finish, then stops and reports what is done and what is left (exit 5)', async () => {
    // Two of the services the clean-up deletes, both running, as after a failed upgrade.
    await wine.createService('Apache2');
    await wine.createService('pgsql-8.2');
    await wine.ensure('Apache2', 'RUNNING');
    await wine.ensure('pgsql-8.2', 'RUNNING');
    await wine.clearCalls();

    // The Ctrl-C comes while `sc.exe delete Apache2` runs (the first service step, step 3 of 10).
    const run = await ctrlCAtGate('delete', wine.scExe, (scExe) => tool({ scExe, netExe: 'net.exe' }));
    const outcome = outcomeOf(run);

    // The delete ran to its end, once: Apache2 is gone; nothing after it was touched.
    expect(run.finished, 'the sc.exe delete ran to its end').to.deep.equal(['0']);
    expect(await wine.state('Apache2')).to.equal(null);
    expect(await wine.state('pgsql-8.2')).to.equal('RUNNING');
    const changes = (await wine.calls()).filter((c) => ['stop', 'delete'].includes(c.args[0]!)).map((c) => c.args.join(' '));
    expect(changes).to.deep.equal(['stop Apache2', 'delete Apache2']);

    // The report: the step in flight finished, the rest were not run, and the run says so.
    expect(outcome.steps.map((s) => [s.id, s.status])).to.deep.equal([
      ['uninstall-cupm', 'absent'],
      ['uninstall-postgresql-8.2', 'absent'],
      ['service:Apache2', 'done'],
      ['service:cupm JbossService', 'not-run'],
      ['service:cupm NICEService', 'not-run'],
      ['service:pgsql-8.2', 'not-run'],
      ['delete-user', 'not-run'],
      ['delete-user-home', 'not-run'],
      ['delete-install-dir', 'not-run'],
      ['delete-zero-g-registry', 'not-run'],
    ]);
    expect(outcome.steps[2]!.detail).to.equal('stopped, then deleted');
    expect(outcome).to.include({ cancelled: true, ok: false });
    expect(outcome.lines).to.include('cancelled (Ctrl-C or SIGTERM) after step 3 of 10: no further step is run');
    expect(outcome.error?.exitCode).to.equal(5);
    expect(outcome.error?.text)
      .to.contain(
        'The upgrade clean-up was cancelled (Ctrl-C or SIGTERM) after step 3 of 10 (a step running then was let finish); steps 4-10 were not run.',
      )
      .and.contain('[done] Stop, then delete the service Apache2: stopped, then deleted')
      .and.contain('[not run] Stop, then delete the service pgsql-8.2')
      .and.contain('[not run] Delete the Windows user cupmuser')
      .and.contain('those marked not run left their part in place')
      .and.contain('run cupm-backup upgrade cleanup again');
  });

  it('lets the net user /delete the Ctrl-C landed in finish: the user is deleted, the clean-up stops after that step', async () => {
    // The services are gone already (an earlier run): the clean-up reaches the user at step 7.
    for (const name of ['Apache2', 'pgsql-8.2']) {
      if ((await wine.state(name)) === null) continue;
      await wine.ensure(name, 'STOPPED');
      await wine.sc('delete', name);
      expect(await wine.state(name), name).to.equal(null);
    }
    const dir = await mkdtemp(path.join(tmpdir(), 'cupm-cleanup-net-'));
    try {
      const netExe = await netExeWithUsers(dir, ['Administrator', 'cupmuser']);
      const run = await ctrlCAtGate('/delete', netExe, (gated) => tool({ scExe: wine.scExe, netExe: gated }));
      const outcome = outcomeOf(run);

      expect(run.finished, 'net user /delete ran to its end').to.deep.equal(['0']);
      expect((await readFile(path.join(dir, 'users'), 'utf8')).split('\n').filter(Boolean)).to.deep.equal(['Administrator']);
      expect(outcome.steps.map((s) => s.status)).to.deep.equal([
        'absent',
        'absent',
        'absent',
        'absent',
        'absent',
        'absent',
        'done',
        'not-run',
        'not-run',
        'not-run',
      ]);
      expect(outcome.steps[6]).to.include({ id: 'delete-user', detail: 'user cupmuser deleted' });
      expect(outcome).to.include({ cancelled: true, ok: false });
      expect(outcome.error?.exitCode).to.equal(5);
      expect(outcome.error?.text)
        .to.contain('cancelled (Ctrl-C or SIGTERM) after step 7 of 10 (a step running then was let finish); steps 8-10 were not run.')
        .and.contain('[done] Delete the Windows user cupmuser: user cupmuser deleted')
        .and.contain('[not run] Delete the install dir C:\\CUPM');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
