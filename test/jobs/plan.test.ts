import { expect } from '../support/expect.js';
import { planFailure, runPlan, type Step } from '../../src/jobs/plan.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { RefusedError } from '../../src/errors.js';

describe('plans of steps', () => {
  const recorder = () => {
    const log: string[] = [];
    const step = (id: string, behaviour: { fail?: boolean; failUndo?: boolean; noUndo?: boolean } = {}): Step<void> => ({
      id,
      title: `Step ${id}`,
      async run() {
        log.push(`run ${id}`);
        if (behaviour.fail) throw new Error(`${id} broke`);
      },
      undo: behaviour.noUndo
        ? undefined
        : async () => {
            log.push(`undo ${id}`);
            if (behaviour.failUndo) throw new Error(`undo of ${id} broke`);
          },
    });
    return { log, step };
  };

  it('runs every step in order and reports each done', async () => {
    const { log, step } = recorder();
    const result = await runPlan([step('a'), step('b')], undefined, silentReporter);
    expect(result.ok).to.equal(true);
    expect(log).to.deep.equal(['run a', 'run b']);
    expect(result.steps.map((s) => s.status)).to.deep.equal(['done', 'done']);
  });

  it('a step done before (an interrupted run) is neither run nor announced, yet undone when a later one fails', async () => {
    const { log, step } = recorder();
    const announced: string[] = [];
    const reporter = { ...silentReporter, info: (line: string) => announced.push(line) };
    const result = await runPlan([{ ...step('a'), doneBefore: 'done earlier' }, step('b', { fail: true })], undefined, reporter);
    expect(log).to.deep.equal(['run b', 'undo b', 'undo a']);
    expect(announced).to.deep.equal(['Step b', 'Undoing: Step b', 'Undoing: Step a']);
    expect(result.steps.map((s) => [s.status, s.detail])).to.deep.equal([
      ['undone', 'done earlier'],
      ['failed', undefined],
    ]);
  });

  it('undoes the completed steps in reverse when one fails, and says which ran', async () => {
    const { log, step } = recorder();
    const result = await runPlan([step('a'), step('b'), step('c', { fail: true }), step('d')], undefined, silentReporter);
    expect(result.ok).to.equal(false);
    expect(log).to.deep.equal(['run a', 'run b', 'run c', 'undo c', 'undo b', 'undo a']);
    expect(result.steps.map((s) => s.status)).to.deep.equal(['undone', 'undone', 'failed', 'not-run']);
    const error = planFailure('Restore', result, 'see the manual');
    expect(error.exitCode).to.equal(1);
    expect(error.message).to.equal('Restore failed at "Step c": c broke');
    expect(error.state).to.equal('every change was undone');
  });

  it('ends with exit 5 and marks the step when an undo fails', async () => {
    const { step } = recorder();
    const result = await runPlan([step('a', { failUndo: true }), step('b', { fail: true })], undefined, silentReporter);
    expect(result.undoFailed).to.equal(true);
    expect(result.steps[0]).to.include({ status: 'undo-failed', undoError: 'undo of a broke' });
    const error = planFailure('Restore', result, 'rename cupm__previous back by hand');
    expect(error.exitCode).to.equal(5);
    expect(error.hint).to.equal('rename cupm__previous back by hand');
    expect(error.describe()).to.contain('[undo-failed] Step a');
  });

  it('keeps the exit code of a refusal raised inside a step', async () => {
    const refuse: Step<void> = {
      id: 'r',
      title: 'Check ports',
      run: async () => {
        throw new RefusedError('port 80 is taken');
      },
    };
    const result = await runPlan([refuse], undefined, silentReporter);
    expect(planFailure('Migrate', result, '').exitCode).to.equal(4);
  });

  it('tells an observer every change of state, for the journal', async () => {
    const { step } = recorder();
    const seen: string[] = [];
    await runPlan([step('a'), step('b', { fail: true })], undefined, silentReporter, (reports) => {
      seen.push(reports.map((r) => r.status).join(','));
    });
    expect(seen).to.deep.equal(['running,not-run', 'done,not-run', 'done,running', 'done,failed', 'done,failed', 'undone,failed']);
  });
});
