import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { withClient } from '../../src/pg/connection.js';
import { ConfigError, CupmError } from '../../src/errors.js';
import { startCluster, type Cluster } from '../../src/sandbox/cluster.js';

describe('PostgreSQL over the network: a pg_hba.conf without a line for this host', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  const password = 'hba-Test-pw1';

  before(async () => {
    cluster = await startCluster({ password });
    // Only local (socket) logins: what a CUPM server's pg_hba.conf allows before an admin host is added.
    await fs.writeFile(path.join(cluster.dataDir, 'pg_hba.conf'), 'local all all trust\n');
    await cluster.stop();
    await cluster.start();
  });
  after(async () => {
    await cluster?.destroy();
  });

  const config = () => ({ pg: { host: cluster.host, port: cluster.port, user: cluster.adminUser, password } });

  it('says which line to add to which pg_hba.conf and that PostgreSQL must be restarted; the line works', async () => {
    let error: unknown;
    try {
      await withClient(config(), 'postgres', async () => undefined);
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const e = error as CupmError;
    expect(e.exitCode).to.equal(2);
    expect(e.message).to.contain('pg_hba.conf').and.contain('127.0.0.1');
    const line = `host    all    ${cluster.adminUser}    127.0.0.1/32    md5`;
    expect(e.problems.join('\n')).to.contain(line);
    expect(e.hint)
      .to.match(/restart PostgreSQL/)
      .and.contain('pgsql8.2\\data\\pg_hba.conf');
    expect(e.state).to.equal('nothing was changed');
    expect(JSON.stringify({ m: e.message, p: e.problems, h: e.hint })).not.to.contain(password);

    // Doing what it says lets the login through.
    await fs.appendFile(path.join(cluster.dataDir, 'pg_hba.conf'), `${line}\n`);
    await cluster.stop();
    await cluster.start();
    expect(await withClient(config(), 'postgres', async (client) => (await client.query('SELECT 1 AS one')).rows[0].one)).to.equal(1);
  });
});
