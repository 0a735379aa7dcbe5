import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';

describe('restore refuses a pg_dumpall that cannot dump the server, before any service stops', function () {
  this.timeout(180_000);
  let server: SandboxServer;
  let archive: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-dump-pair' });
    const backup = await runCli(['backup', '--json'], { env: server.env() });
    expect(backup.exitCode, backup.stderr).to.equal(0);
    archive = backup.json<{ archive: string }>().archive;
  });
  after(async () => {
    await server?.destroy();
  });

  it('exit 2, naming the versions that can; nothing stopped or changed', async () => {
    // A client folder with a pg_dumpall older than the server (CUPM's own 8.2 against PostgreSQL 15 here).
    const bin = path.join(server.dir, 'old-client');
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'pg_dumpall'), '#!/bin/sh\necho "pg_dumpall (PostgreSQL) 8.2.4"\n', { mode: 0o755 });
    await fs.symlink(path.join(server.cluster.binDir, 'psql'), path.join(bin, 'psql'));
    await server.services.events({ clear: true });

    const restore = await runCli(['restore', archive, '--yes'], { env: { ...server.env(), CUPM_PG_BIN: bin } });
    expect(restore.exitCode, restore.stderr).to.equal(2);
    expect(restore.stderr)
      .to.contain('8.2.4, older than the server')
      .and.match(/PostgreSQL client of version \d+ or newer/);
    expect(await server.services.events(), 'no service was stopped').to.deep.equal([]);
    for (const service of server.services.services) expect(await server.services.status(service), service).to.equal('running');
  });
});
