import { livePhases } from '../../scripts/bench/results.js';
import { expect } from '../support/expect.js';

// The bench splits a live restore's time by when its progress lines came (runMeasured times each
// stderr line); these are the lines `restore --live` prints, as it prints them.
describe("the bench splits a live restore's time by its progress lines", () => {
  const line = (ms: number, text: string) => ({ ms, text });
  const run = [
    line(180, 'Verifying /backups/a.zip (all but the dump, which is hashed while it loads)'),
    line(330, 'Snapshot the roles and the files to be replaced (in /backups/cupm-restore-1)'),
    line(380, 'Load the dump into cupm__incoming_20261205010238 while CUPM runs (psql, ON_ERROR_STOP; the dump hashed as it loads)'),
    line(10_980, 'Stopping Apache'),
    line(11_040, 'Stopping cupm JBossService'),
    line(11_290, 'Starting cupm NiceService'),
    line(11_740, 'Drop the previous database (cupm__previous_20261205010238)'),
    line(12_200, '[done] Drop the previous database (cupm__previous_20261205010238) (dropped cupm__previous_20261205010238)'),
  ];

  it('to the load, the load, the outage up to the drop, the drop to the end', () => {
    expect(livePhases(run, 12_230)).to.deep.equal({ beforeLoadMs: 380, loadMs: 10_600, outageMs: 760, afterMs: 490 });
  });

  it('no service to stop: the outage starts with its first step; --keep-previous: it lasts to the end', () => {
    const noStop = run.filter((l) => !/^(Stopping|Starting|Drop)/.test(l.text));
    noStop.splice(3, 0, line(10_990, 'End the remaining sessions on cupm'));
    expect(livePhases(noStop, 11_300)).to.deep.equal({ beforeLoadMs: 380, loadMs: 10_610, outageMs: 310, afterMs: 0 });
  });

  it('a run without a load line (a plain restore, a failure before the load) has no phases', () => {
    expect(
      livePhases(
        run.filter((l) => !l.text.startsWith('Load')),
        12_230,
      ),
    ).to.equal(undefined);
    expect(livePhases([], 500)).to.equal(undefined);
  });
});
