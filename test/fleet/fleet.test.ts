import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { fleetConflicts, loadFleet, readFleet, runPool, selectServers, serversDirOf, worstExitCode } from '../../src/fleet/fleet.js';
import { expect } from '../support/expect.js';

describe('fleet: the servers folder, conflicts, worst exit code, the pool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cupm-fleet-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const load = (server: { envFile: string }) =>
    loadConfig({ envFile: server.envFile, cwd: dir, env: {}, fileBeatsEnvironment: true, platform: 'linux' });

  it('the fleet folder: --servers-dir, else CUPM_SERVERS_DIR, else ./servers', () => {
    expect(serversDirOf('/srv/a', { CUPM_SERVERS_DIR: '/srv/b' }, '/work')).to.equal('/srv/a');
    expect(serversDirOf(undefined, { CUPM_SERVERS_DIR: 'fleet' }, '/work')).to.equal('/work/fleet');
    expect(serversDirOf(undefined, {}, '/work')).to.equal('/work/servers');
  });

  it('reads one server per .env file, sorted by name, and ignores other files', async () => {
    for (const name of ['cupm02.env', 'cupm01.env', 'notes.txt', 'cupm-backup-nightly.console.txt'])
      await writeFile(path.join(dir, name), '');
    expect(readFleet(dir).map((s) => s.name)).to.deep.equal(['cupm01', 'cupm02']);
    expect(readFleet(dir)[0]!.envFile).to.equal(path.join(dir, 'cupm01.env'));
  });

  it('refuses file names that are not server names, naming each (exit 2)', async () => {
    for (const name of ['ok.env', 'cupm 01.env', '.hidden.env', 'a$b.env']) await writeFile(path.join(dir, name), '');
    const error = (() => {
      try {
        readFleet(dir);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('not refused');
    })();
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.exitCode).to.equal(2);
    expect(error.problems.join('\n')).to.include('"cupm 01"').and.include('".hidden"').and.include('"a$b"').and.not.include('"ok"');
  });

  it('an empty or missing fleet folder is a configuration error that says what to put there', async () => {
    expect(() => readFleet(dir)).to.throw(ConfigError, /holds no server env files/);
    expect(() => readFleet(path.join(dir, 'nope'))).to.throw(ConfigError, /Cannot read the fleet folder .*ENOENT/);
  });

  it('an unknown --server name is refused, listing the known ones', async () => {
    for (const name of ['cupm01.env', 'cupm02.env']) await writeFile(path.join(dir, name), '');
    const fleet = readFleet(dir);
    expect(selectServers(fleet, { server: 'cupm02' }, dir).map((s) => s.name)).to.deep.equal(['cupm02']);
    expect(selectServers(fleet, { all: true }, dir)).to.have.length(2);
    try {
      selectServers(fleet, { server: 'cupm09' }, dir);
      expect.fail('not refused');
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).problems).to.deep.equal(['known servers: cupm01, cupm02']);
    }
  });

  it('two servers with one backup folder, or one database, are conflicts naming both files; a broken file does not hide the others', async () => {
    await mkdir(path.join(dir, 'shared'));
    await writeFile(path.join(dir, 'a.env'), `CUPM_BACKUP_DIR=${dir}/shared\nPGHOST=db1\n`);
    await writeFile(path.join(dir, 'b.env'), `CUPM_BACKUP_DIR=${dir}/shared/\nPGHOST=db2\n`);
    await writeFile(path.join(dir, 'c.env'), `CUPM_BACKUP_DIR=${dir}/c\nPGHOST=DB1\nPGPORT=5432\n`);
    await writeFile(path.join(dir, 'd.env'), `CUPM_BACKUP_DIR=${dir}/d\nPGHOST=db1\nCUPM_DATABASE=other\n`);
    await writeFile(path.join(dir, 'e.env'), 'PGPORT=not-a-port\n');
    const loaded = loadFleet(readFleet(dir), load);
    expect(loaded.find((s) => s.name === 'e')!.error).to.be.instanceOf(ConfigError);
    const problems = fleetConflicts(loaded);
    expect(problems).to.have.length(2);
    expect(problems[0]).to.include(path.join(dir, 'a.env')).and.include(path.join(dir, 'b.env')).and.include('share the backup folder');
    expect(problems[1]).to.include(path.join(dir, 'a.env')).and.include(path.join(dir, 'c.env')).and.include('db1:5432/cupm');
  });

  it('a server file beats the environment; the environment fills in what the file leaves unset', async () => {
    await writeFile(path.join(dir, 'a.env'), 'CUPM_BACKUP_DIR=/srv/a\n');
    const config = loadConfig({
      envFile: path.join(dir, 'a.env'),
      cwd: dir,
      env: { CUPM_BACKUP_DIR: '/srv/shell', PGHOST: 'db9' },
      fileBeatsEnvironment: true,
      platform: 'linux',
    });
    expect(config.backupDir).to.equal('/srv/a');
    expect(config.pg.host).to.equal('db9');
    // Without the fleet flag, the contract's order holds: the environment beats --env-file.
    expect(
      loadConfig({ envFile: path.join(dir, 'a.env'), cwd: dir, env: { CUPM_BACKUP_DIR: '/srv/shell' }, platform: 'linux' }).backupDir,
    ).to.equal('/srv/shell');
  });

  it('the worst exit code: 5 > 3 > 1 > 4 > 2 > 6 > 0', () => {
    expect(worstExitCode([])).to.equal(0);
    expect(worstExitCode([0, 6, 0])).to.equal(6);
    expect(worstExitCode([6, 2])).to.equal(2);
    expect(worstExitCode([2, 4, 6])).to.equal(4);
    expect(worstExitCode([4, 1])).to.equal(1);
    expect(worstExitCode([1, 3, 0])).to.equal(3);
    expect(worstExitCode([3, 5, 1])).to.equal(5);
    expect(worstExitCode([0, 77])).to.equal(1);
  });

  it('the pool runs at most N jobs at once, every item exactly once, results in list order', async () => {
    let active = 0;
    let most = 0;
    const seen: number[] = [];
    const results = await runPool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      active++;
      most = Math.max(most, active);
      seen.push(n);
      for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
      active--;
      return n * 10;
    });
    expect(results).to.deep.equal([10, 20, 30, 40, 50, 60, 70]);
    expect(seen.sort()).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
    expect(most).to.equal(3);
    const one = await runPool([1, 2, 3], 1, async (n) => {
      active++;
      most = active;
      await new Promise((resolve) => setImmediate(resolve));
      active--;
      return n;
    });
    expect(one).to.deep.equal([1, 2, 3]);
    expect(most).to.equal(1);
  });

  it('the pool starts nothing more once told to stop; what did not run is undefined', async () => {
    let stop = false;
    const results = await runPool(
      [1, 2, 3],
      1,
      async (n) => {
        if (n === 2) stop = true;
        return n;
      },
      () => stop,
    );
    expect(results).to.deep.equal([1, 2, undefined]);
  });
});
