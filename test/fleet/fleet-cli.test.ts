import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN_PATH } from '../../src/schedule/install/index.js';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';

interface FleetJson {
  ok: boolean;
  exitCode: number;
  serversDir: string;
  servers: Array<{ server: string; exitCode: number; result: { dir: string; archives: unknown[] } | null }>;
}

/** The fleet's command line where no server is reached: folders, names, refusals, schedule --print. */
describe('fleet command line: --server, --all, --servers-dir (no PostgreSQL reached)', () => {
  let work: string;
  let serversDir: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cupm-fleet-cli-'));
    serversDir = path.join(work, 'servers');
    await mkdir(serversDir);
    for (const name of ['cupm01', 'cupm02']) {
      await mkdir(path.join(work, `backups-${name}`));
      await writeFile(
        path.join(serversDir, `${name}.env`),
        `CUPM_BACKUP_DIR=${work}/backups-${name}\nPGHOST=db-${name}\nPGPASSWORD=pw-${name}-secret\n`,
      );
    }
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('each server reads only its own file: list --all --json shows each server its own folder, whatever the shell exports', async () => {
    const result = await runCli(['list', '--all', '--json'], { cwd: work, env: { CUPM_BACKUP_DIR: '/srv/from-the-shell' } });

    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<FleetJson>();
    expect(json.serversDir).to.equal(serversDir);
    expect(json.servers.map((s) => [s.server, s.result!.dir])).to.deep.equal([
      ['cupm01', `${work}/backups-cupm01`],
      ['cupm02', `${work}/backups-cupm02`],
    ]);
    expect(result.stdout + result.stderr).not.to.include('secret');
  });

  it('list --all with a server not backed up yet: "No archives yet" for it (exit 0, as plain list), the others listed', async () => {
    await rm(path.join(work, 'backups-cupm02'), { recursive: true });

    const result = await runCli(['list', '--all'], { cwd: work });

    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`[cupm01] No archives in ${work}/backups-cupm01`);
    expect(result.stdout).to.include(
      `[cupm02] No archives yet: the backup folder ${work}/backups-cupm02 does not exist (no backup was written there).`,
    );
    expect(result.stderr).not.to.include('error');

    const json = (await runCli(['list', '--all', '--json'], { cwd: work })).json<FleetJson>();
    expect(json.exitCode).to.equal(0);
    expect(json.servers[1]).to.deep.include({
      server: 'cupm02',
      exitCode: 0,
      result: { dir: `${work}/backups-cupm02`, exists: false, archives: [] },
    });
  });

  it("list --all where a server's backup folder is a file: that server exits 2 saying so, the others are listed", async () => {
    await rm(path.join(work, 'backups-cupm02'), { recursive: true });
    await writeFile(path.join(work, 'backups-cupm02'), 'not a folder');

    const result = await runCli(['list', '--all'], { cwd: work });

    expect(result.exitCode).to.equal(2);
    expect(result.stdout).to.include(`[cupm01] No archives in ${work}/backups-cupm01`);
    expect(result.stderr).to.include(`[cupm02] error: ${work}/backups-cupm02 is not a folder.`);
    expect(result.stderr).not.to.include('internal error');
  });

  it('--servers-dir and CUPM_SERVERS_DIR choose the fleet folder', async () => {
    const elsewhere = path.join(work, 'other');
    await mkdir(elsewhere);
    await writeFile(path.join(elsewhere, 'solo.env'), `CUPM_BACKUP_DIR=${work}/solo\n`);
    await mkdir(path.join(work, 'solo'));
    const byFlag = await runCli(['list', '--all', '--json', '--servers-dir', elsewhere], { cwd: work });
    expect(byFlag.json<FleetJson>().servers.map((s) => s.server)).to.deep.equal(['solo']);
    const byVariable = await runCli(['list', '--all', '--json'], { cwd: '/tmp', env: { CUPM_SERVERS_DIR: elsewhere } });
    expect(byVariable.json<FleetJson>().servers.map((s) => s.server)).to.deep.equal(['solo']);
    await writeFile(path.join(work, 'cupm-backup.env'), `CUPM_SERVERS_DIR=${elsewhere}\n`);
    const byFile = await runCli(['list', '--all', '--json'], { cwd: work });
    expect(byFile.json<FleetJson>().servers.map((s) => s.server)).to.deep.equal(['solo']);
  });

  it('refuses a fleet where two servers share a backup folder (exit 2, naming both files), and runs nothing', async () => {
    await writeFile(path.join(serversDir, 'cupm03.env'), `CUPM_BACKUP_DIR=${work}/backups-cupm01/\nPGHOST=db-cupm03\n`);

    const result = await runCli(['backup', '--all'], { cwd: work });

    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include(
      `${serversDir}/cupm01.env and ${serversDir}/cupm03.env share the backup folder ${work}/backups-cupm01`,
    );
    expect(result.stderr).to.include('their archives would collide');
    expect(result.stderr).to.include('State: nothing was changed');
    // Refused for a single server too: the fleet folder itself is wrong.
    expect((await runCli(['status', '--server', 'cupm02'], { cwd: work })).exitCode).to.equal(2);
  });

  it('refuses a fleet where two servers name the same database (exit 2, naming both files)', async () => {
    await writeFile(path.join(serversDir, 'cupm03.env'), `CUPM_BACKUP_DIR=${work}/backups-cupm03\nPGHOST=db-cupm02\nPGPORT=5432\n`);

    const result = await runCli(['nightly', '--all', '--json'], { cwd: work });

    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include(
      `${serversDir}/cupm02.env and ${serversDir}/cupm03.env name the same PostgreSQL database db-cupm02:5432/cupm`,
    );
    const json = result.json<{ ok: boolean; exitCode: number; error: { problems: string[] } }>();
    expect(json.ok).to.equal(false);
    expect(json.error.problems).to.have.length(1);
  });

  it('--server with an unknown name: exit 2, listing the known servers', async () => {
    const result = await runCli(['status', '--server', 'cupm9'], { cwd: work });

    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include(`There is no server "cupm9" in the fleet folder ${serversDir}`);
    expect(result.stderr).to.include('known servers: cupm01, cupm02');
  });

  it('refuses what does not go together: --env-file or --output-dir with --all, --parallel without --all, prune --all without --yes', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['backup', '--all', '--env-file', path.join(serversDir, 'cupm01.env')], /--env-file does not go with --server or --all/],
      [['backup', '--all', '--output-dir', work], /--output-dir does not go with --all/],
      [['status', '--parallel', '2'], /--parallel and --servers-dir only apply with --server NAME or --all/],
      [['status', '--server', 'cupm01', '--parallel', '2'], /--parallel only applies with --all/],
      [['status', '--all', '--parallel', '0'], /--parallel must be a number of servers from 1 to 64/],
      [['status', '--all', '--server', 'cupm01'], /Give --server NAME or --all, not both/],
      [['prune', '--all', '--keep-last', '3'], /prune --all asks no questions/],
      [['list', work, '--all'], /A folder to list does not go with --server or --all/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { cwd: work });
      expect(result.exitCode, args.join(' ')).to.equal(2);
      expect(result.stderr, args.join(' ')).to.match(message);
    }
  });

  it('a missing fleet folder, or a file that is not a server name, is exit 2 saying what to fix', async () => {
    const missing = await runCli(['status', '--all'], { cwd: '/tmp', env: { CUPM_SERVERS_DIR: path.join(work, 'nope') } });
    expect(missing.exitCode).to.equal(2);
    expect(missing.stderr).to.include(`Cannot read the fleet folder ${work}/nope`);
    await writeFile(path.join(serversDir, 'bad name.env'), '');
    const bad = await runCli(['status', '--all'], { cwd: work });
    expect(bad.exitCode).to.equal(2);
    expect(bad.stderr).to.include('"bad name" is not a server name');
  });

  it('one server with a broken env file gets exit 2; the others still run and the fleet exits with the worst code', async () => {
    await writeFile(path.join(serversDir, 'cupm03.env'), `CUPM_BACKUP_DIR=${work}/backups-cupm03\nPGPORT=not-a-port\n`);
    await mkdir(path.join(work, 'backups-cupm03'));

    const result = await runCli(['list', '--all', '--json'], { cwd: work });

    expect(result.exitCode).to.equal(2);
    const json = result.json<FleetJson>();
    expect(json.servers.map((s) => [s.server, s.exitCode])).to.deep.equal([
      ['cupm01', 0],
      ['cupm02', 0],
      ['cupm03', 2],
    ]);
    expect(result.stderr).to.match(/^\[cupm03\] error: The configuration has problems:$/m);
    expect(result.stderr).to.match(/^\[cupm03\] {3}- PGPORT .* must be a port number/m);
  });

  it('doctor --all --json: each server checked with its own settings, in one object; unreachable databases make it exit 4', async () => {
    for (const name of ['cupm01', 'cupm02']) {
      await writeFile(
        path.join(serversDir, `${name}.env`),
        `CUPM_BACKUP_DIR=${work}/backups-${name}\nPGHOST=127.0.0.1\nPGPORT=${name === 'cupm01' ? 1 : 2}\nCUPM_SERVICE_MANAGER=none\n`,
      );
    }

    const result = await runCli(['doctor', '--all', '--json'], { cwd: work });

    expect(result.exitCode, result.stderr).to.equal(4);
    const json = result.json<{
      exitCode: number;
      servers: Array<{ server: string; exitCode: number; result: { checks: Array<{ id: string; status: string; detail: string }> } }>;
    }>();
    expect(json.exitCode).to.equal(4);
    for (const [i, entry] of json.servers.entries()) {
      expect(entry.exitCode).to.equal(4);
      const connect = entry.result.checks.find((c) => c.id === 'postgres.connect')!;
      expect(connect.status).to.equal('fail');
      expect(connect.detail).to.include(`127.0.0.1:${i + 1}`);
    }
    expect(result.stderr).to.match(/^\[cupm01\] Checking postgresql\.\.\.$/m);
  });

  it('daemon --all / --server: the fleet is checked when the daemon starts (exit 2), not first at the scheduled time', async () => {
    const withEnvFile = await runCli(['daemon', '--all', '--env-file', path.join(work, 'x.env')], { cwd: work });
    expect(withEnvFile.exitCode).to.equal(2);
    expect(withEnvFile.stderr).to.include('--env-file does not go with --server or --all');
    const unknown = await runCli(['daemon', '--server', 'cupm09'], { cwd: work });
    expect(unknown.exitCode).to.equal(2);
    expect(unknown.stderr).to.include('There is no server "cupm09"');
    expect(unknown.stderr).to.include('known servers: cupm01, cupm02');
    await writeFile(path.join(serversDir, 'cupm03.env'), `CUPM_BACKUP_DIR=${work}/backups-cupm02\nPGHOST=db-cupm03\n`);
    const conflict = await runCli(['daemon', '--all'], { cwd: work });
    expect(conflict.exitCode).to.equal(2);
    expect(conflict.stderr).to.include('share the backup folder');
    expect(conflict.stderr).not.to.include('Waiting for the next run');
  });

  it('schedule install --all --print: one job running `nightly --all` over the fleet folder', async () => {
    const result = await runCli(['schedule', 'install', '--all', '--parallel', '2', '--print', '--at', '03:15'], {
      cwd: work,
      env: { CUPM_SCHEDULER: 'cron' },
    });

    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.include(
      `15 3 * * * cd ${work} && ${process.execPath} -- ${BIN_PATH} nightly --all --servers-dir ${serversDir} --parallel 2 >${serversDir}/cupm-backup-nightly.console.txt 2>&1\n`,
    );
    expect(result.stdout).not.to.include('--env-file');
    expect(result.stdout).to.include(
      `these settings come from this shell's environment, which a scheduled run does not have: CUPM_SCHEDULER; put them in each server's env file in ${serversDir}`,
    );
    // The fleet is checked at install, not first at 2 a.m.
    await writeFile(path.join(serversDir, 'cupm03.env'), `CUPM_BACKUP_DIR=${work}/backups-cupm02\n`);
    const refused = await runCli(['schedule', 'install', '--all', '--print'], { cwd: work, env: { CUPM_SCHEDULER: 'cron' } });
    expect(refused.exitCode).to.equal(2);
    expect(refused.stderr).to.include('share the backup folder');
  });
});
