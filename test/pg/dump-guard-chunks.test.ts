import fc from 'fast-check';
import { DumpGuardScanner, DumpRefusedError } from '../../src/pg/dump/guard/stream.js';
import { LineSplitter } from '../../src/pg/dump/line-reader.js';
import { expect } from '../support/expect.js';

const HEAD = '--\n-- PostgreSQL database cluster dump\n--\n\n';

/** Pieces of scripts: statements, literals, comments, meta-commands, COPY blocks, line ends, NUL. */
const piece = fc.constantFrom(
  'SELECT 1;',
  'COPY t (a) FROM stdin;',
  "COPY t TO '/x';",
  '\\.',
  '1\t2',
  '\\! id',
  '\\connect cupm',
  '\\connect "a b"',
  "'",
  '"',
  '$$',
  '$f$',
  '/*',
  '*/',
  '--',
  "E'",
  '\\',
  ';',
  ':FOO',
  '(',
  ')',
  'BEGIN',
  'CREATE FUNCTION',
  'END',
  'CASE',
  "SET client_encoding = 'SJIS';",
  '\x95\\',
  '\r',
  '\n',
  '\n',
  '\r\n',
  ' ',
  '\0',
  '\xef\xbb\xbf',
  'x'.repeat(40),
);

/** Cuts `bytes` at `cuts` (offsets, any order), feeds the pieces to a guard: what it passed on, or its refusal. */
function judge(bytes: Buffer, cuts: number[]): string {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const scanner = new DumpGuardScanner('dump.sql');
  const out: Buffer[] = [];
  try {
    let from = 0;
    for (const p of [...points, bytes.length]) {
      out.push(...scanner.feed(bytes.subarray(from, p)));
      from = p;
    }
    out.push(...scanner.finish());
    return `passed ${Buffer.concat(out).toString('latin1')}`;
  } catch (error) {
    if (!(error instanceof DumpRefusedError)) throw error;
    // What psql had received before the refusal is a prefix of the script, and only whole lines.
    const passed = Buffer.concat(out);
    expect(bytes.subarray(0, passed.length).equals(passed)).to.equal(true);
    return `refused ${error.message}`;
  }
}

describe('pg/dump: the guard and the line splitter, however the script is cut into chunks', () => {
  it('the guard passes the same bytes or gives the same refusal for any chunking', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(400), { maxLength: 8 }), (header, pieces, cuts) => {
        const bytes = Buffer.from((header ? HEAD : '') + pieces.join(''), 'latin1');
        const whole = judge(bytes, []);
        expect(judge(bytes, cuts)).to.equal(whole);
        if (whole.startsWith('passed')) expect(whole).to.equal(`passed ${bytes.toString('latin1')}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('the splitter gives back every byte, line by line, with its line end', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(400), { maxLength: 8 }), (pieces, cuts) => {
        const bytes = Buffer.from(pieces.join(''), 'latin1');
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const splitter = new LineSplitter(1024);
        const lines: Buffer[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          const chunk = bytes.subarray(from, p);
          for (let pos = 0; pos < chunk.length;) {
            pos = splitter.take(chunk, pos);
            if (pos === -1) break;
            lines.push(Buffer.from(splitter.bytes));
            expect(splitter.bytes.toString('latin1').endsWith(splitter.end)).to.equal(true);
          }
          from = p;
        }
        if (splitter.finish()) lines.push(Buffer.from(splitter.bytes));
        expect(Buffer.concat(lines).equals(bytes)).to.equal(true);
        expect(lines.slice(0, -1).every((l) => l[l.length - 1] === 0x0a)).to.equal(true);
      }),
      { numRuns: 2000 },
    );
  });
});
