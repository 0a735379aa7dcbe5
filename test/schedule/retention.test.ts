import { expect } from '../support/expect.js';
import { bucketOf, planRetention, type RetentionCandidate } from '../../src/schedule/retention.js';

const HOST = 'CUPM01';

/** One archive a night at 02:00 UTC from `from` for `nights` nights, like a year of nightly runs. */
function nightlies(from: string, nights: number): RetentionCandidate[] {
  const start = Date.parse(`${from}T02:00:00.000Z`);
  return Array.from({ length: nights }, (_, i) => {
    const at = new Date(start + i * 86_400_000).toISOString();
    return {
      name: `cupm-backup_${HOST}_${at.slice(0, 10).replace(/-/g, '')}T020000Z.zip`,
      createdAt: at,
      label: null,
      host: HOST,
      verified: true,
    };
  });
}

const kept = (decisions: ReturnType<typeof planRetention>) => decisions.filter((d) => d.keep).map((d) => d.createdAt!.slice(0, 10));

describe('retention policy (restic semantics, UTC periods)', () => {
  it('keep-daily 7 keeps the last seven nights and nothing older', () => {
    const decisions = planRetention(nightlies('2026-09-01', 90), { daily: 7 }, { host: HOST });
    expect(kept(decisions)).to.deep.equal([
      '2026-11-29',
      '2026-11-28',
      '2026-11-27',
      '2026-11-26',
      '2026-11-25',
      '2026-11-24',
      '2026-11-23',
    ]);
  });

  it('daily, weekly and monthly together over three months keep the newest of each period, with every reason', () => {
    const decisions = planRetention(nightlies('2026-09-01', 90), { daily: 3, weekly: 3, monthly: 3 }, { host: HOST });
    expect(kept(decisions)).to.deep.equal([
      '2026-11-29', // daily, weekly W48, monthly 2026-11
      '2026-11-28',
      '2026-11-27',
      '2026-11-22', // Sunday: newest of ISO week 47
      '2026-11-15', // Sunday: newest of ISO week 46
      '2026-10-31', // newest of October
      '2026-09-30', // newest of September
    ]);
    const newest = decisions[0]!;
    expect(newest.reasons).to.deep.equal(['daily 2026-11-29', 'weekly 2026-W48', 'monthly 2026-11', 'the newest verified archive']);
    expect(decisions.find((d) => d.createdAt?.startsWith('2026-10-31'))?.reasons).to.deep.equal(['monthly 2026-10']);
  });

  it('days without an archive do not use up the daily count (the last N days that have one)', () => {
    const sparse = nightlies('2026-11-01', 30).filter((_, i) => i % 3 === 0); // every third night
    expect(kept(planRetention(sparse, { daily: 3 }, { host: HOST }))).to.deep.equal(['2026-11-28', '2026-11-25', '2026-11-22']);
  });

  it('keep-last keeps the N newest even within one day', () => {
    const day = ['01', '07', '13', '19'].map((h) => ({
      name: `a${h}.zip`,
      createdAt: `2026-11-25T${h}:00:00.000Z`,
      host: HOST,
      verified: true,
    }));
    expect(
      planRetention(day, { last: 2 }, { host: HOST })
        .filter((d) => d.keep)
        .map((d) => d.name),
    ).to.deep.equal(['a19.zip', 'a13.zip']);
    expect(
      planRetention(day, { daily: 5 }, { host: HOST })
        .filter((d) => d.keep)
        .map((d) => d.name),
    ).to.deep.equal(['a19.zip']);
  });

  it('never deletes the newest verified archive, even when no rule keeps it', () => {
    const archives = nightlies('2026-11-20', 5).map((a, i) => ({ ...a, verified: i === 1 }));
    const decisions = planRetention(archives, { last: 1 }, { host: HOST });
    expect(decisions.filter((d) => d.keep).map((d) => [d.createdAt!.slice(0, 10), d.reasons])).to.deep.equal([
      ['2026-11-24', ['last 1']],
      ['2026-11-21', ['the newest verified archive']],
    ]);
  });

  it("keeps archives it cannot judge, pre-upgrade ones, held ones and other hosts' ones, and does not count them", () => {
    const archives: RetentionCandidate[] = [
      ...nightlies('2026-11-20', 3),
      { name: 'broken.zip', problem: 'not a readable ZIP archive' },
      { name: 'pre.zip', createdAt: '2026-11-25T10:00:00.000Z', label: 'pre-upgrade', host: HOST, verified: true },
      { name: 'other.zip', createdAt: '2026-11-26T02:00:00.000Z', host: 'CUPM02', verified: true },
      { name: 'owed.zip', createdAt: '2026-10-01T02:00:00.000Z', host: HOST, hold: ['not yet copied to /mnt/share'] },
    ];
    const decisions = planRetention(archives, { last: 1 }, { host: HOST.toLowerCase() });
    const reasons = Object.fromEntries(decisions.map((d) => [d.name, d.keep ? d.reasons.join('; ') : 'DELETE']));
    expect(reasons).to.deep.equal({
      'other.zip': "an archive of another host (CUPM02); only cupm01's archives are pruned",
      'pre.zip': 'labelled pre-upgrade (kept until removed by name)',
      [archives[2]!.name]: 'last 1; the newest verified archive',
      [archives[1]!.name]: 'DELETE',
      [archives[0]!.name]: 'DELETE',
      'owed.zip': 'not yet copied to /mnt/share',
      'broken.zip': 'cannot be judged: not a readable ZIP archive (kept; remove it by name)',
    });
  });

  it('periods are UTC calendar periods, ISO weeks starting on Monday', () => {
    expect(bucketOf('daily', new Date('2026-11-25T23:59:59Z'))).to.equal('2026-11-25');
    expect(bucketOf('daily', new Date('2026-11-26T00:00:00Z'))).to.equal('2026-11-26');
    expect(bucketOf('weekly', new Date('2026-11-22T23:00:00Z'))).to.equal('2026-W47'); // Sunday
    expect(bucketOf('weekly', new Date('2026-11-23T00:00:00Z'))).to.equal('2026-W48'); // Monday
    expect(bucketOf('weekly', new Date('2027-01-01T00:00:00Z'))).to.equal('2026-W53'); // a Friday in 2026's last week
    expect(bucketOf('monthly', new Date('2026-12-31T23:59:59Z'))).to.equal('2026-12');
  });
});
