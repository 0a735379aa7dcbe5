import { expect } from '../support/expect.js';
import { DumpGuardScanner } from '../../src/pg/dump/guard/stream.js';
import { copyRowOf } from '../../src/pg/psql.js';

describe('placing an error in COPY data on its dump line', () => {
  const dump = [
    '--',
    '-- PostgreSQL database cluster dump',
    '--',
    '',
    'SET default_transaction_read_only = off;', // 1-5
    'COPY public.a (id) FROM stdin;', // 6
    '1',
    '2',
    '\\.', // 7-9
    'SELECT 1;', // 10
    'COPY public.b (id, payload) FROM stdin;', // 11
    '1\tx',
    '2\ty',
    '3\tz',
    '\\.', // 12-15
    '',
  ].join('\n');

  it('the guard knows the header line of the block a line belongs to, its \\. line included, however the dump is cut', () => {
    for (const size of [1, 3, 7, dump.length]) {
      const scanner = new DumpGuardScanner('dump');
      const bytes = Buffer.from(dump);
      for (let i = 0; i < bytes.length; i += size) scanner.feed(bytes.subarray(i, i + size));
      scanner.finish();
      expect(
        [7, 8, 9].map((l) => scanner.copyHeaderOf(l)),
        `chunks of ${size}`,
      ).to.deep.equal([6, 6, 6]);
      expect([12, 15].map((l) => scanner.copyHeaderOf(l))).to.deep.equal([11, 11]);
      expect([5, 6, 10, 11, 16].map((l) => scanner.copyHeaderOf(l))).to.deep.equal([undefined, undefined, undefined, undefined, undefined]);
    }
  });

  it("reads the row from the server's CONTEXT line", () => {
    const message =
      'ERROR:  invalid input syntax for type integer: "bad"\nCONTEXT:  COPY order_history, line 1699485, column payload: "bad"';
    expect(copyRowOf({ line: 2800516, message })).to.equal(1699485);
    expect(copyRowOf({ line: 12, message: 'ERROR:  syntax error at or near "x"' })).to.equal(undefined);
  });
});
