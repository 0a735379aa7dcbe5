import { expect } from '../support/expect.js';
import { databasesToDump, isPreviousDatabase } from '../../src/pg/catalog.js';

describe('which databases a backup dumps', () => {
  it("CUPM's database, the extra ones named, and the built-in ones; a kept previous database and another application's are left out", () => {
    const all = ['cupm', 'cupm__previous_20261204101500', 'other_app', 'postgres', 'reports', 'template1'];
    expect(databasesToDump(all, 'cupm', ['reports'])).to.deep.equal({
      keep: ['cupm', 'postgres', 'reports', 'template1'],
      excluded: ['cupm__previous_20261204101500', 'other_app'],
    });
  });

  it('knows the databases restore --keep-previous leaves', () => {
    expect(isPreviousDatabase('cupm__previous_20261204101500')).to.equal(true);
    expect(isPreviousDatabase('cupm')).to.equal(false);
    expect(isPreviousDatabase('cupm__previous_x')).to.equal(false);
  });
});
