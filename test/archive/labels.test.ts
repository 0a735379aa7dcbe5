import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { archiveFileName, canonicalLabel } from '../../src/archive/format.js';
import { ConfigError } from '../../src/errors.js';
import { planRetention } from '../../src/schedule/retention.js';
import { runCli } from '../support/cli.js';
import { writeArchiveAt } from '../support/dated-archives.js';

describe('archive labels: one canonical form', () => {
  it('normalises spaces, underscores and case to one form, the same in the name', () => {
    expect(canonicalLabel('pre upgrade')).to.equal('pre-upgrade');
    expect(canonicalLabel('  Pre_Upgrade ')).to.equal('pre-upgrade');
    expect(archiveFileName('CUPM01', new Date('2026-11-25T02:00:00Z'), canonicalLabel('Pre Upgrade'))).to.equal(
      'cupm-backup_CUPM01_20261125T020000Z_pre-upgrade.zip',
    );
  });

  it('refuses a label with other characters (a usage error, exit 2)', () => {
    for (const bad of ['pre/upgrade', 'vor-Übergang', 'a.b', '', '   ', 'x;rm']) {
      expect(() => canonicalLabel(bad), bad)
        .to.throw(ConfigError)
        .with.property('exitCode', 2);
    }
  });

  it('retention protects an older archive whose manifest says "pre upgrade" (any spelling)', () => {
    const at = (day: number) => `2026-11-${String(day).padStart(2, '0')}T02:00:00.000Z`;
    const candidates = [
      { name: 'a', createdAt: at(1), label: 'pre upgrade', host: 'H', verified: true },
      { name: 'b', createdAt: at(2), label: 'Pre_Upgrade', host: 'H', verified: true },
      { name: 'c', createdAt: at(3), label: null, host: 'H', verified: true },
      { name: 'd', createdAt: at(4), label: null, host: 'H', verified: true },
    ];
    const decisions = planRetention(candidates, { last: 1 }, { host: 'H' });
    const keep = (name: string) => decisions.find((d) => d.name === name)!;
    expect(keep('a').keep).to.equal(true);
    expect(keep('a').reasons[0]).to.match(/labelled pre-upgrade/);
    expect(keep('b').keep).to.equal(true);
    expect(keep('c').keep).to.equal(false);
  });

  describe('prune over a folder with an old "pre upgrade" archive', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-labels-'));
    });
    afterEach(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('prune --keep-last 1 --dry-run keeps it', async () => {
      const old = await writeArchiveAt(dir, { createdAt: '2026-10-01T10:00:00.000Z', label: 'pre upgrade' });
      await writeArchiveAt(dir, { createdAt: '2026-11-01T02:00:00.000Z' });
      await writeArchiveAt(dir, { createdAt: '2026-11-02T02:00:00.000Z' });
      const result = await runCli(['prune', '--keep-last', '1', '--dry-run'], { env: { CUPM_BACKUP_DIR: dir } });
      expect(result.exitCode, result.stderr).to.equal(0);
      const line = result.stdout.split('\n').find((l) => l.includes(old)) ?? '';
      expect(line).to.match(/keep .*labelled pre-upgrade/);
    });
  });
});
