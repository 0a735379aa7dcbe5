import { expect } from 'chai';
import { parsePgVersion } from '../../src/pg/connection.js';
import type { PgTool } from '../../src/pg/tools.js';
import { loadSessionsFor } from '../../src/restore/prepare.js';
import { runCli } from '../support/cli.js';

describe('restore --jobs: the sessions the load uses', () => {
  const psql = (version: string): PgTool => ({ name: 'psql', path: '/opt/pg/bin/psql', version: parsePgVersion(version)! });

  it('as asked with psql 15 or newer, without a warning', () => {
    for (const version of ['15.10', '16.4', '17.6']) {
      const warnings: string[] = [];
      expect(loadSessionsFor(3, psql(version), warnings), version).to.equal(3);
      expect(warnings, version).to.deep.equal([]);
    }
  });

  it('one with an older psql, and the plan says why and what to do', () => {
    const warnings: string[] = [];
    expect(loadSessionsFor(2, psql('9.6.24'), warnings)).to.equal(1);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.contain('--jobs 2').and.contain('/opt/pg/bin/psql').and.contain('9.6.24').and.contain('CUPM_PG_BIN');
  });

  it('one, as asked, says nothing whatever the psql', () => {
    const warnings: string[] = [];
    expect(loadSessionsFor(1, psql('8.2.4'), warnings)).to.equal(1);
    expect(warnings).to.deep.equal([]);
  });

  it('--jobs takes 1 to 8, for restore and migrate; anything else is a usage error (exit 2) before anything is read', async () => {
    for (const command of ['restore', 'migrate'])
      for (const bad of ['0', '9', 'two', '1.5']) {
        const result = await runCli([command, '/nonexistent/archive.zip', '--db-host', '10.0.0.7', '--jobs', bad]);
        expect(result.exitCode, `${command} --jobs ${bad}`).to.equal(2);
        expect(result.stderr).to.contain('must be a number of sessions (1-8)');
      }
  });
});
