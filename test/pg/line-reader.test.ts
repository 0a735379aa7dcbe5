import { Readable } from 'node:stream';
import { expect } from '../support/expect.js';
import fc from 'fast-check';
import { readDumpLines, type DumpLine } from '../../src/pg/dump/line-reader.js';

async function read(chunks: (string | Buffer)[], maxLine = 64): Promise<DumpLine[]> {
  const lines: DumpLine[] = [];
  const stream = Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c)));
  for await (const line of readDumpLines(stream, { maxLine })) lines.push(line);
  return lines;
}

const brief = (lines: DumpLine[]) =>
  lines.map((l) => `${l.number} ${l.kind} ${JSON.stringify(l.text)}${l.cut ? ' cut' : ''} ${JSON.stringify(l.end)}`);

describe('pg/dump/line-reader', () => {
  it('types the lines of a script: sql, copy-start, copy-data, copy-end, with their numbers and ends', async () => {
    const script = 'SET x = 1;\n\\connect cupm\nCOPY public.t (id, host) FROM stdin;\r\n1\tCREATE ROLE x;\n\\.\nSELECT 1;';
    expect(brief(await read([script]))).to.deep.equal([
      '1 sql "SET x = 1;" "\\n"',
      '2 sql "\\\\connect cupm" "\\n"',
      '3 copy-start "COPY public.t (id, host) FROM stdin;" "\\r\\n"',
      '4 copy-data "1\\tCREATE ROLE x;" "\\n"',
      '5 copy-end "\\\\." "\\n"',
      '6 sql "SELECT 1;" ""',
    ]);
  });

  it('cuts lines longer than maxLine, and a cut COPY line still starts data', async () => {
    const long = 'x'.repeat(100);
    const lines = await read([`SELECT '${long}';\nCOPY t (${long}) FROM stdin;\n${long}\n\\.\n`], 16);
    expect(lines.map((l) => [l.kind, l.text.length, l.cut])).to.deep.equal([
      ['sql', 16, true],
      ['copy-start', 16, true],
      ['copy-data', 16, true],
      ['copy-end', 2, false],
    ]);
  });

  it('a line of exactly maxLine bytes before \\r\\n is whole, not cut', async () => {
    const lines = await read(['abcd\r', '\nef'], 4);
    expect(brief(lines)).to.deep.equal(['1 sql "abcd" "\\r\\n"', '2 sql "ef" ""']);
  });

  it('data that ends without its \\. line ends with the input', async () => {
    const lines = await read(['COPY t FROM stdin;\n1\n2']);
    expect(lines.map((l) => l.kind)).to.deep.equal(['copy-start', 'copy-data', 'copy-data']);
  });

  it('reads bytes as latin1, one char per byte, without re-encoding', async () => {
    const lines = await read([Buffer.from([0xc3, 0xa9, 0x0a, 0xff])]);
    expect(lines.map((l) => Buffer.from(l.text, 'latin1'))).to.deep.equal([Buffer.from([0xc3, 0xa9]), Buffer.from([0xff])]);
  });

  it('gives the same lines however the stream is cut into chunks', async () => {
    const piece = fc.constantFrom('SET a;', 'COPY t (a) FROM stdin;', '\\.', '1\t2', '', 'x'.repeat(20), '\r', '\n', '\r\n');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(200), { maxLength: 8 }), async (pieces, cuts) => {
        const bytes = Buffer.from(pieces.join(''), 'latin1');
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          chunks.push(bytes.subarray(from, p));
          from = p;
        }
        expect(
          brief(
            await read(
              chunks.filter((c) => c.length > 0),
              12,
            ),
          ),
        ).to.deep.equal(brief(await read([bytes], 12)));
      }),
      { numRuns: 300 },
    );
  });
});
