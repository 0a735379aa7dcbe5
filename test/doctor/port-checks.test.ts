import { expect } from '../support/expect.js';
import { loadConfig } from '../../src/config/config.js';
import { portChecks } from '../../src/doctor/port-checks.js';
import type { PortHolder, PortProbe } from '../../src/restore/ports.js';

/** The listening sockets of a running CUPM server on Windows, as netstat -ano + tasklist name them. */
function probe(listeners: Record<number, PortHolder>): PortProbe {
  return {
    listeners: async () => new Map(Object.entries(listeners).map(([port, holder]) => [Number(port), holder])),
    bind: async (port) => (port in listeners ? 'in-use' : port === 80 ? 'unknown' : 'free'),
  };
}

const properties = new Map([
  ['dfc.jboss.port', '46008'],
  ['dfc.postgres.port', '5432'],
  ['dfc.nice.rmi.registry.internal.port', '46001'],
  ['dfc.webport', '80'],
]);

describe("doctor: who holds the ports of dfc.properties and the install guide's tables", () => {
  const config = loadConfig({ env: { PGHOST: '127.0.0.1', PGPORT: '5432' }, cwd: '/tmp', platform: 'linux' });

  it("passes ports held by CUPM's own programs on a running server", async () => {
    const results = await portChecks(
      config,
      properties,
      probe({
        80: { program: 'httpd.exe', pid: 1880 },
        46443: { program: 'httpd.exe', pid: 1880 },
        46008: { program: 'java.exe', pid: 2868 },
        46009: { program: 'java.exe', pid: 2868 },
        46001: { program: 'java.exe', pid: 3012 },
        5432: { program: 'postgres.exe', pid: 1404 },
      }),
    );
    const line = (id: string) => results.find((r) => r.id === id)!;
    expect(line('ports.dfc.webport')).to.include({ status: 'pass', detail: "in use by CUPM's Apache (httpd.exe (pid 1880))" });
    expect(line('ports.dfc.jboss.port')).to.include({ status: 'pass', detail: "in use by CUPM's JBoss (java.exe (pid 2868))" });
    expect(line('ports.dfc.nice.rmi.registry.internal.port')).to.include({
      status: 'pass',
      detail: "in use by CUPM's NICE engine (java.exe (pid 3012))",
    });
    expect(line('ports.dfc.postgres.port')).to.include({ status: 'pass', detail: 'in use by the CUPM database (postgres.exe (pid 1404))' });
    expect(line('ports.46457')).to.include({ status: 'pass', detail: 'free' });
    expect(results.filter((r) => r.status !== 'pass')).to.deep.equal([]);
  });

  it('fails a port another program holds, and says which can be moved', async () => {
    const results = await portChecks(
      config,
      properties,
      probe({
        46008: { program: 'tomcat9.exe', pid: 4242 },
        46443: { program: 'nginx.exe', pid: 77 },
        46099: { program: undefined, pid: 4 },
      }),
    );
    const line = (id: string) => results.find((r) => r.id === id)!;
    expect(line('ports.dfc.jboss.port')).to.include({ status: 'fail', detail: "used by tomcat9.exe (pid 4242), not by CUPM's JBoss" });
    expect(line('ports.dfc.jboss.port').hint).to.contain('change dfc.jboss.port');
    expect(line('ports.46443')).to.include({ status: 'fail', title: 'Port 46443 (HTTPS (Apache))' });
    expect(line('ports.46443').hint).to.contain('cannot be changed in dfc.properties');
    expect(line('ports.46099')).to.include({ status: 'warn', detail: 'in use by pid 4' });
    expect(line('ports.dfc.webport')).to.include({ status: 'pass' });
  });

  it('does not look at the database port here when the database runs on another host', async () => {
    const remote = loadConfig({ env: { PGHOST: '192.0.2.44' }, cwd: '/tmp', platform: 'linux' });
    const results = await portChecks(remote, properties, probe({ 5432: { program: 'sqlservr.exe', pid: 9 } }));
    expect(results.find((r) => r.id === 'ports.dfc.postgres.port')).to.include({
      status: 'pass',
      detail: 'the database runs on 192.0.2.44; the port is not used on this host',
    });
  });
});
