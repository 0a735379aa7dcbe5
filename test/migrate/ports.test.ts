import os from 'node:os';
import type pg from 'pg';
import { expect } from '../support/expect.js';
import { ConfigError, RefusedError } from '../../src/errors.js';
import { checkCupmPorts, parseNetstat, parseSs, type PortHolder, type PortProbe } from '../../src/restore/ports.js';
import { isLocalHost } from '../../src/pg/locality.js';
import { checkDisk } from '../../src/restore/disk.js';

/** A probe that answers from a table instead of the OS: which ports are held, and by whom. */
function fakeProbe(held: Record<number, PortHolder | 'no-permission'>): PortProbe {
  return {
    async listeners() {
      const map = new Map<number, PortHolder>();
      for (const [port, holder] of Object.entries(held)) if (holder !== 'no-permission') map.set(Number(port), holder);
      return map;
    },
    async bind(port) {
      const holder = held[port];
      return holder === undefined ? 'free' : holder === 'no-permission' ? 'unknown' : 'in-use';
    },
  };
}

const CUPM_PORTS = new Map([
  ['dfc.jboss.port', '46008'],
  ['dfc.postgres.port', '5432'],
  ['dfc.nice.rmi.registry.internal.port', '46001'],
  ['dfc.webport', '80'],
]);

describe('the port check of a migration', () => {
  it('finds the four CUPM ports free, the database port held by the CUPM database itself', async () => {
    const { findings, moves } = await checkCupmPorts(CUPM_PORTS, {
      databasePort: 5432,
      databaseIsLocal: true,
      autoPorts: false,
      probe: fakeProbe({ 5432: { pid: 812, program: 'postgres' } }),
    });
    expect(findings.map((f) => [f.key, f.port, f.state])).to.deep.equal([
      ['dfc.jboss.port', 46008, 'free'],
      ['dfc.postgres.port', 5432, 'cupm-database'],
      ['dfc.nice.rmi.registry.internal.port', 46001, 'free'],
      ['dfc.webport', 80, 'free'],
    ]);
    expect(moves).to.deep.equal({});
  });

  it('refuses a port another program holds, naming port, key and program', async () => {
    const check = checkCupmPorts(CUPM_PORTS, {
      databasePort: 5432,
      databaseIsLocal: true,
      autoPorts: false,
      probe: fakeProbe({ 80: { pid: 4, program: 'System' }, 46001: { pid: undefined, program: undefined } }),
    });
    await expect(check).to.be.rejectedWith(RefusedError);
    const error = await check.catch((e: RefusedError) => e);
    expect((error as RefusedError).problems).to.deep.equal([
      'port 46001 (dfc.nice.rmi.registry.internal.port) is used by another program (the OS does not say which)',
      'port 80 (dfc.webport) is used by System (pid 4)',
    ]);
  });

  it('--auto-ports moves taken ports upward to free ones, never onto CUPM ports or each other', async () => {
    const { findings, moves } = await checkCupmPorts(CUPM_PORTS, {
      databasePort: 5432,
      databaseIsLocal: true,
      autoPorts: true,
      probe: fakeProbe({ 46008: { pid: 1, program: 'java' }, 46009: { pid: 2, program: 'x' }, 80: { pid: 4, program: 'httpd' } }),
    });
    // 46009 is taken, 46083 is CUPM's own: 46008 goes to 46010.
    expect(moves).to.deep.equal({ 'dfc.jboss.port': '46010', 'dfc.webport': '81' });
    expect(findings.find((f) => f.key === 'dfc.jboss.port')?.movedTo).to.equal(46010);
  });

  it('never moves the database port: the database does not follow, --db-port points CUPM at it', async () => {
    const check = checkCupmPorts(CUPM_PORTS, {
      databasePort: 5433,
      databaseIsLocal: true,
      autoPorts: true,
      probe: fakeProbe({ 5432: { pid: 99, program: 'postgres' } }),
    });
    const error = (await check.catch((e: RefusedError) => e)) as RefusedError;
    expect(error).to.be.instanceOf(RefusedError);
    expect(error.problems).to.deep.equal(['port 5432 (dfc.postgres.port) is used by postgres (pid 99)']);
    expect(error.hint).to.match(/--db-port/);
  });

  it('does not check the database port here when the database runs on another host (distributed layout)', async () => {
    const { findings } = await checkCupmPorts(CUPM_PORTS, {
      databasePort: 5432,
      databaseIsLocal: false,
      autoPorts: false,
      probe: fakeProbe({ 5432: { pid: 7, program: 'something-else' } }),
    });
    expect(findings.find((f) => f.key === 'dfc.postgres.port')).to.deep.include({
      state: 'not-checked',
      note: 'the database runs on another host',
    });
  });

  it('says when a port could not be probed (no permission) and nothing was seen on it', async () => {
    const { findings } = await checkCupmPorts(CUPM_PORTS, {
      databasePort: 5432,
      databaseIsLocal: true,
      autoPorts: false,
      probe: fakeProbe({ 80: 'no-permission' }),
    });
    expect(findings.find((f) => f.key === 'dfc.webport')).to.deep.include({ state: 'free' });
    expect(findings.find((f) => f.key === 'dfc.webport')?.note).to.match(/could not be probed/);
  });

  it('calls a port that is not a number a configuration problem (exit 2)', async () => {
    const error = await checkCupmPorts(new Map([['dfc.webport', 'eighty']]), {
      databasePort: 5432,
      databaseIsLocal: true,
      autoPorts: false,
      probe: fakeProbe({}),
    }).catch((e: ConfigError) => e);
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.deep.equal(['dfc.webport=eighty is not a port number (1-65535)']);
  });

  it('reads who listens from ss (Linux) and netstat -ano (Windows, in any language)', () => {
    const ss = [
      'LISTEN 0      244        127.0.0.1:55432      0.0.0.0:*    users:(("postgres",pid=2805,fd=5))',
      'LISTEN 0      511             [::]:80            [::]:*    users:(("apache2",pid=900,fd=4),("apache2",pid=901,fd=4))',
      'LISTEN 0      128          0.0.0.0:2024       0.0.0.0:*',
    ].join('\n');
    expect([...parseSs(ss)]).to.deep.equal([
      [55432, { program: 'postgres', pid: 2805 }],
      [80, { program: 'apache2', pid: 900 }],
      [2024, { program: undefined, pid: undefined }],
    ]);
    const netstat = [
      '',
      'アクティブな接続',
      '',
      '  プロトコル  ローカル アドレス      外部アドレス           状態            PID',
      '  TCP         0.0.0.0:80             0.0.0.0:0              LISTENING       4',
      '  TCP         0.0.0.0:46008          0.0.0.0:0              待ち受け        2412',
      '  TCP         10.0.0.5:49711         10.0.0.9:443           ESTABLISHED     3100',
      '  TCP         [::]:5432              [::]:0                 LISTENING       1880',
    ].join('\r\n');
    expect([...parseNetstat(netstat)]).to.deep.equal([
      [80, 4],
      [46008, 2412],
      [5432, 1880],
    ]);
  });

  it('knows which database hosts are this machine', async () => {
    expect(await isLocalHost('localhost')).to.equal(true);
    expect(await isLocalHost('127.0.0.1')).to.equal(true);
    expect(await isLocalHost('127.0.0.2')).to.equal(true);
    expect(await isLocalHost('::1')).to.equal(true);
    expect(await isLocalHost('/var/run/postgresql')).to.equal(true);
    expect(await isLocalHost(os.hostname())).to.equal(true);
    expect(await isLocalHost('192.0.2.55')).to.equal(false);
    expect(await isLocalHost('db.invalid')).to.equal(false);
  });
});

describe('the free-disk check of a restore', () => {
  const client = (dataDirectory: string | Error) =>
    ({
      query: async () => {
        if (dataDirectory instanceof Error) throw dataDirectory;
        return { rows: [{ data_directory: dataDirectory }] };
      },
    }) as unknown as pg.Client;
  const statfs = (free: Record<string, number>) => async (dir: string) => {
    if (!(dir in free)) throw Object.assign(new Error('no'), { code: 'EACCES' });
    return { bavail: free[dir]!, bsize: 1 };
  };

  it('wants twice the dump free on the disk of the data directory, or refuses (exit 4)', async () => {
    expect((await checkDisk(client('/pg/data'), 100, true, '/backups', statfs({ '/pg/data': 200 }))).where).to.equal('/pg/data');
    await expect(checkDisk(client('/pg/data'), 100, true, '/backups', statfs({ '/pg/data': 199 }))).to.be.rejectedWith(
      RefusedError,
      /199 bytes free on the disk of \/pg\/data, 200 needed/,
    );
  });

  it('measures the backup folder instead when the data directory cannot be read, and says so', async () => {
    const check = await checkDisk(client('/pg/data'), 10, true, '/backups', statfs({ '/backups': 500 }));
    expect(check.where).to.equal('/backups');
    expect(check.note).to.match(/the data directory \/pg\/data cannot be read here \(EACCES\); measured the disk of \/backups instead/);
  });

  it('does not check a database on another host, and says so', async () => {
    const check = await checkDisk(client('/pg/data'), 10, false, '/backups', statfs({}));
    expect(check.free).to.equal(undefined);
    expect(check.note).to.match(/runs on another host/);
  });
});
