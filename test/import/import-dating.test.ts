import { expect } from '../support/expect.js';
import { dumpDate } from '../../src/pg/dump/date.js';
import { planRetention } from '../../src/schedule/retention.js';

describe('an imported dump is dated by the dump, and never displaces a real backup', () => {
  const fileTime = new Date('2026-12-04T09:00:00Z');

  it('reads "-- Started on" with a known zone, a numeric offset, and "-- Completed on" at the end', () => {
    expect(dumpDate('-- PostgreSQL database cluster dump\n\n-- Started on 2011-03-15 02:00:05 JST\n', '', fileTime)).to.deep.equal({
      at: new Date('2011-03-14T17:00:05Z'),
      source: 'dump',
    });
    expect(dumpDate('-- Started on 2011-03-15 02:00:05 +0100\n', '', fileTime).at.toISOString()).to.equal('2011-03-15T01:00:05.000Z');
    expect(dumpDate('', '-- Completed on 2011-03-15 02:10:00 UTC\n', fileTime).at.toISOString()).to.equal('2011-03-15T02:10:00.000Z');
  });

  it('takes the file time when the dump has no stamp', () => {
    expect(dumpDate('-- PostgreSQL database cluster dump\n', '', fileTime)).to.deep.equal({ at: fileTime, source: 'file-time' });
  });

  it('a stamp in an unknown zone far from the file time is still the date (a copy made years later)', () => {
    expect(dumpDate('-- Started on 2011-03-15 02:00:05 Mitteleuropäische Zeit\n', '', fileTime).at.toISOString()).to.equal(
      '2011-03-15T02:00:05.000Z',
    );
  });

  it('prune keeps the newest real backup as "the newest verified archive", not a newer import', () => {
    const decisions = planRetention(
      [
        { name: 'nightly-1', createdAt: '2026-12-02T02:00:00.000Z', host: 'H', verified: true, label: null },
        { name: 'nightly-2', createdAt: '2026-12-03T02:00:00.000Z', host: 'H', verified: true, label: null },
        { name: 'imported', createdAt: '2026-12-04T08:00:00.000Z', host: 'H', verified: true, label: 'imported', imported: true },
      ],
      { last: 1 },
      { host: 'H' },
    );
    const of = (name: string) => decisions.find((d) => d.name === name)!;
    expect(of('nightly-2').reasons).to.include('the newest verified archive');
    expect(of('imported').reasons).not.to.include('the newest verified archive');
  });
});
