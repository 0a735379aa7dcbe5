import { expect } from '../support/expect.js';
import { undoSteps, type Step, type StepReport, type StepStatus } from '../../src/jobs/plan.js';
import { silentReporter } from '../../src/jobs/reporter.js';

describe('the one undo loop (undoSteps)', () => {
  const setup = (statuses: StepStatus[], failUndo: string[] = []) => {
    const log: string[] = [];
    const ids = statuses.map((_, i) => String.fromCharCode(97 + i));
    const steps: Step<void>[] = ids.map((id) => ({
      id,
      title: `Step ${id}`,
      async run() {},
      async undo() {
        log.push(`undo ${id}`);
        if (failUndo.includes(id)) throw new Error(`undo of ${id} broke`);
      },
    }));
    const reports: StepReport[] = ids.map((id, i) => ({ id, title: `Step ${id}`, status: statuses[i]! }));
    return { log, steps, reports };
  };

  it('undoes, last first, every step that did something (running, done, failed, undo-failed), not the not-run nor the undone', async () => {
    const { log, steps, reports } = setup(['done', 'undone', 'undo-failed', 'failed', 'running', 'not-run']);
    const observed: StepStatus[][] = [];
    const failed = await undoSteps(steps, reports, undefined, silentReporter, (r) => {
      observed.push(r.map((x) => x.status));
    });
    expect(failed).to.equal(false);
    expect(log).to.deep.equal(['undo e', 'undo d', 'undo c', 'undo a']);
    // This run's failed step stays failed once undone (its error is the plan's).
    expect(reports.map((r) => r.status)).to.deep.equal(['undone', 'undone', 'undone', 'failed', 'undone', 'not-run']);
    expect(observed).to.have.length(4);
  });

  it("an earlier run's failed step is undone, and an undo error from before goes once its undo works", async () => {
    const { steps, reports } = setup(['done', 'failed']);
    reports[0]!.status = 'undo-failed';
    reports[0]!.undoError = 'PostgreSQL was down';
    const failed = await undoSteps(steps, reports, undefined, silentReporter, undefined, { earlierRun: true });
    expect(failed).to.equal(false);
    expect(reports.map((r) => [r.status, r.undoError])).to.deep.equal([
      ['undone', undefined],
      ['undone', undefined],
    ]);
  });

  it('goes on past an undo that fails, reports it undo-failed with its error, and says so', async () => {
    const { log, steps, reports } = setup(['done', 'done', 'done'], ['b']);
    const failed = await undoSteps(steps, reports, undefined, silentReporter);
    expect(failed).to.equal(true);
    expect(log).to.deep.equal(['undo c', 'undo b', 'undo a']);
    expect(reports.map((r) => r.status)).to.deep.equal(['undone', 'undo-failed', 'undone']);
    expect(reports[1]!.undoError).to.equal('undo of b broke');
  });
});
