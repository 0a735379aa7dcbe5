import net from 'node:net';
import { expect } from '../support/expect.js';
import { RefusedError } from '../../src/errors.js';
import { checkCupmPorts, remoteProbe } from '../../src/restore/ports.js';
import { sameHost } from '../../src/pg/locality.js';
import { checkDisk } from '../../src/restore/disk.js';

/** A listener on 127.0.0.1 (a program on the CUPM server holding a port). */
async function listen(): Promise<net.Server & { port: number }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

/** A port nothing listens on: bound once and closed again. */
async function closedPort(): Promise<number> {
  const server = await listen();
  await new Promise((resolve) => server.close(resolve));
  return server.port;
}

describe('the port check of a migration run from an admin host (CUPM_SERVER)', () => {
  const servers: net.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('a port is in use when the server accepts a TCP connection to it; the database port is excepted', async () => {
    const jboss = await listen();
    const database = await listen();
    servers.push(jboss, database);
    const web = await closedPort();
    const rmi = await closedPort();
    const properties = new Map([
      ['dfc.jboss.port', String(jboss.port)],
      ['dfc.postgres.port', String(database.port)],
      ['dfc.nice.rmi.registry.internal.port', String(rmi)],
      ['dfc.webport', String(web)],
    ]);
    const options = { databasePort: database.port, databaseIsLocal: true, autoPorts: false, probe: remoteProbe('127.0.0.1') };
    const check = checkCupmPorts(properties, options);
    await expect(check).to.be.rejectedWith(RefusedError);
    const error = (await check.catch((e: RefusedError) => e)) as RefusedError;
    expect(error.problems).to.deep.equal([`port ${jboss.port} (dfc.jboss.port) is used by another program (the OS does not say which)`]);

    // The database's own port, held by the CUPM database on the server, is no conflict; the rest is free.
    await new Promise((resolve) => jboss.close(resolve));
    servers.splice(servers.indexOf(jboss), 1);
    const { findings } = await checkCupmPorts(properties, options);
    expect(findings.map((f) => [f.key, f.state])).to.deep.equal([
      ['dfc.jboss.port', 'free'],
      ['dfc.postgres.port', 'cupm-database'],
      ['dfc.nice.rmi.registry.internal.port', 'free'],
      ['dfc.webport', 'free'],
    ]);
  });

  it('--auto-ports moves a taken port to one the server refuses connections on', async () => {
    const jboss = await listen();
    servers.push(jboss);
    const { findings, moves } = await checkCupmPorts(new Map([['dfc.jboss.port', String(jboss.port)]]), {
      databasePort: undefined,
      databaseIsLocal: false,
      autoPorts: true,
      probe: remoteProbe('127.0.0.1'),
    });
    const moved = Number(moves['dfc.jboss.port']);
    expect(findings[0]).to.include({ state: 'taken', movedTo: moved });
    expect(moved).to.be.greaterThan(jboss.port);
    expect(await remoteProbe('127.0.0.1').bind(moved)).to.equal('free');
  });

  it('knows when PGHOST and CUPM_SERVER name the same machine', async () => {
    expect(await sameHost('CUPM01', 'cupm01')).to.equal(true);
    expect(await sameHost('localhost', '127.0.0.1')).to.equal(true);
    expect(await sameHost('127.0.0.1', '[127.0.0.1]')).to.equal(true);
    expect(await sameHost('192.0.2.10', '192.0.2.11')).to.equal(false);
    expect(await sameHost('db.invalid', 'cupm.invalid')).to.equal(false);
  });
});

describe('the free-disk check of a restore onto a database on another host', () => {
  it('says the free disk is not measured, and how much is needed', async () => {
    const client = {
      query: async () => {
        throw new Error('not asked');
      },
    } as never;
    const disk = await checkDisk(client, 1000, false, '/tmp');
    expect(disk.free).to.equal(undefined);
    expect(disk.note).to.contain('not measured').and.contain('2000 bytes');
  });
});
