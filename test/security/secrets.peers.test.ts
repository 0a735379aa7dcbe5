import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { BIN, runCli, type CliResult } from '../support/cli.js';
import { alive, pausingPgBin, waitFor } from '../support/faults.js';
import { slowDumpallBin } from '../support/pg-wrappers.js';
import { recordingPgBin, watchProcesses } from '../support/proc-watch.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';

/** A password with the characters that break naive quoting, and that no other text contains. */
const ADMIN_PASSWORD = 'S3cr3t:p@ss/w%rd "q" $HOME';
const JOURNAL = 'cupm-backup.restore-journal.json';

/** Every form a password could be printed in: as is, URL-encoded, base64. */
function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
}

describe('secrets never leak: not in output, logs, JSON or argument lists; files are private; temp files go', function () {
  this.timeout(600_000);
  let server: SandboxServer;
  let keystoreMarkers: string[];
  const outputs: Array<{ what: string; text: string }> = [];

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-secrets', adminPassword: ADMIN_PASSWORD, subscribers: 20 });
    // A run of the keystore's bytes, in each form it could be printed in.
    const keystore = await fs.readFile(path.join(server.installDir, 'sep', 'dfc.keystore'));
    const run = keystore.subarray(Math.floor(keystore.length / 2), Math.floor(keystore.length / 2) + 24);
    keystoreMarkers = [run.toString('hex'), run.toString('base64'), run.toString('latin1')];
  });
  after(async () => {
    await server?.destroy();
  });

  const cli = async (what: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const result = await runCli(args, { env: { ...server.env(), ...env }, cwd: server.dir });
    outputs.push({ what: `${what} stdout`, text: result.stdout }, { what: `${what} stderr`, text: result.stderr });
    return result;
  };

  it('backup, verify, nightly and restore: no child process is given the password on its command line', async () => {
    const recording = await recordingPgBin(server.cluster.binDir, server.dir);
    const env = { CUPM_PG_BIN: recording.bin };
    // A canary on a command line of our own proves the watcher catches what it looks for.
    const canary = `canary-${process.pid}-on-a-command-line`;
    const watch = watchProcesses([...forms(ADMIN_PASSWORD), canary]);
    // (two commands, so bash stays bash and does not exec sleep in its place)
    await execa('bash', ['-c', 'sleep 0.5; exit 0', canary]);

    const backup = await cli('backup', ['backup', '--json'], env);
    expect(backup.exitCode, backup.stderr).to.equal(0);
    const archive = backup.json<{ archive: string }>().archive;
    const verify = await cli('verify', ['verify', archive, '--json'], env);
    expect(verify.exitCode, verify.stderr).to.equal(0);
    const nightly = await cli('nightly', ['nightly', '--json'], env);
    expect(nightly.exitCode, nightly.stderr).to.equal(0);
    const restore = await cli('restore', ['restore', archive, '--yes', '--json'], env);
    expect(restore.exitCode, restore.stderr).to.equal(0);

    const { leaks, commandLines } = await watch.stop();
    expect(leaks.filter((l) => l.includes(canary)).length, 'the canary was seen').to.be.greaterThan(0);
    expect(
      leaks.filter((l) => !l.includes(canary)),
      'command lines holding the password',
    ).to.deep.equal([]);
    // The watcher was looking while the tools ran: it saw them (and the service commands).
    for (const tool of ['pg_dumpall', 'psql', 'standin']) {
      expect(
        commandLines.some((c) => c.includes(tool)),
        `saw a ${tool} process`,
      ).to.equal(true);
    }

    // Each tool recorded its own argv (no password there) and found the password in its environment.
    const calls = await recording.calls();
    const argvs = calls.filter((c) => c.startsWith('argv:'));
    expect(
      argvs.some((c) => /pg_dumpall -w/.test(c)),
      calls.join('\n'),
    ).to.equal(true);
    expect(
      argvs.some((c) => /psql -X -q -v ON_ERROR_STOP=1 -d postgres -f -/.test(c)),
      calls.join('\n'),
    ).to.equal(true);
    for (const argv of argvs) {
      for (const form of forms(ADMIN_PASSWORD)) expect(argv).to.not.include(form);
      expect(argv).to.not.match(/password/i);
    }
    expect(calls.filter((c) => c === 'environ:PGPASSWORD set').length).to.be.greaterThan(2);
  });

  it('a refused login does not echo the password that was tried', async () => {
    const wrong = 'Wr0ng-pa55word-tried';
    const result = await cli('wrong password', ['backup', '--json'], { PGPASSWORD: wrong });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.match(/the password was refused/);
    for (const form of forms(wrong)) expect(result.stderr + result.stdout).to.not.include(form);
  });

  it('nothing printed, logged or recorded holds the password, PGPASSWORD=, or keystore bytes', async () => {
    const files = ['cupm-backup.log', 'cupm-backup-history.jsonl'].map((name) => path.join(server.backupDir, name));
    for (const file of files) {
      const text = await fs.readFile(file, 'latin1').catch(() => undefined);
      if (text !== undefined) outputs.push({ what: path.basename(file), text });
    }
    expect(outputs.length).to.be.greaterThan(8);
    for (const { what, text } of outputs) {
      for (const form of forms(ADMIN_PASSWORD)) expect(text, what).to.not.include(form);
      expect(text, what).to.not.include('PGPASSWORD=');
      for (const marker of keystoreMarkers) expect(text, what).to.not.include(marker);
    }
  });

  it('archives, the log, the history and the backup dir itself are private to their owner', async () => {
    const names = await fs.readdir(server.backupDir);
    expect((await fs.stat(server.backupDir)).mode & 0o777, 'backup dir').to.equal(0o700);
    for (const name of names) {
      const mode = (await fs.stat(path.join(server.backupDir, name))).mode & 0o777;
      expect(mode, name).to.equal(0o600);
    }
    expect(names.filter((n) => n.endsWith('.zip')).length).to.be.greaterThan(1);
    // Nothing temporary stayed behind: only archives, the log and the history.
    expect(names.filter((n) => !n.endsWith('.zip') && !/^cupm-backup(\.log|-history\.jsonl)$/.test(n))).to.deep.equal([]);
    const installTemp = (await fs.readdir(server.installDir, { recursive: true })).filter((n) => /cupm-backup-.*\.tmp$/.test(String(n)));
    expect(installTemp).to.deep.equal([]);
  });

  it('a restore stopped by SIGTERM: its journal and snapshot were private while it ran, and are gone after', async () => {
    const archive = path.join(
      server.backupDir,
      (await fs.readdir(server.backupDir)).find((n) => n.endsWith('.zip'))!,
    );
    const psql = await pausingPgBin(server.cluster.binDir, path.join(server.dir, 'pausing'));
    await psql.arm('COPY public.subscriber');
    const run = execa(BIN, ['restore', archive, '--yes'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...server.env(), CUPM_PG_BIN: psql.bin },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
      forceKillAfterDelay: false,
    });
    await psql.paused();
    const journal = path.join(server.backupDir, JOURNAL);
    expect((await fs.stat(journal)).mode & 0o777, 'journal').to.equal(0o600);
    const snapshot = (await fs.readdir(server.backupDir)).find((n) => n.startsWith('cupm-restore-'))!;
    expect((await fs.stat(path.join(server.backupDir, snapshot))).mode & 0o777, 'snapshot dir').to.equal(0o700);
    for (const file of await fs.readdir(path.join(server.backupDir, snapshot), { recursive: true })) {
      const stat = await fs.stat(path.join(server.backupDir, snapshot, String(file)));
      if (stat.isFile()) expect(stat.mode & 0o777, String(file)).to.equal(0o600);
    }
    run.kill('SIGTERM');
    const result = await run;
    expect(result.exitCode, result.stderr).to.equal(1);
    await psql.reset();
    const left = (await fs.readdir(server.backupDir)).filter((n) => !n.endsWith('.zip') && !/^cupm-backup(\.log|-history\.jsonl)$/.test(n));
    expect(left).to.deep.equal([]);
    for (const form of forms(ADMIN_PASSWORD)) expect(result.stderr + result.stdout).to.not.include(form);
  });

  it('a backup stopped by SIGTERM leaves no partial archive (and it was private while written)', async () => {
    const bin = await slowDumpallBin(server.dir, server.cluster.binDir, 60);
    const run = execa(BIN, ['backup'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...server.env(), CUPM_PG_BIN: bin },
      extendEnv: false,
      reject: false,
      cwd: server.dir,
      forceKillAfterDelay: false,
    });
    const partial = await waitFor('the partial archive', async () =>
      (await fs.readdir(server.backupDir)).find((n) => n.endsWith('.partial')),
    );
    expect((await fs.stat(path.join(server.backupDir, partial))).mode & 0o777).to.equal(0o600);
    await waitFor('the dump to start', async () => ((await fs.stat(path.join(bin, 'started')).catch(() => undefined)) ? true : undefined));
    run.kill('SIGTERM');
    const result = await run;
    expect(result.exitCode, result.stderr).to.equal(1);
    expect((await fs.readdir(server.backupDir)).filter((n) => n.endsWith('.partial') || n.endsWith('.lock'))).to.deep.equal([]);
    // The dump it had started was ended with it.
    const dumps = (await execa('pgrep', ['-f', path.join(bin, 'pg_dumpall')], { reject: false })).stdout.split('\n').filter(Boolean);
    for (const pid of dumps) expect(await alive(Number(pid)), `pg_dumpall ${pid}`).to.equal(false);
  });
});
