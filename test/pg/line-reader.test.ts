import { Readable } from 'node:stream';
import { expect } from '../support/expect.js';
import fc from 'fast-check';
import { DumpLineEditor, readDumpLines, type DumpLine, type LineJudge, type LineVerdict } from '../../src/pg/dump/line-reader.js';

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

/** Runs `chunks` through a DumpLineEditor whose judge gives `verdicts(head)` and writes down what it was asked. */
function edit(chunks: Buffer[], verdicts: (head: string, inCopy: boolean) => LineVerdict, options = { headLength: 6, maxLine: 40 }) {
  const asked: string[] = [];
  const judge: LineJudge = {
    head(source, start, stop, inCopy) {
      const head = source.toString('latin1', start, stop);
      asked.push(`head ${inCopy ? 'data' : 'sql'} ${JSON.stringify(head)}`);
      return verdicts(head, inCopy);
    },
    whole(bytes, kind, text, end) {
      asked.push(`whole ${kind} ${JSON.stringify(text)} ${JSON.stringify(end)}`);
      expect(bytes.toString('latin1')).to.equal(text + end);
      return Buffer.from(`<${text}>${end}`, 'latin1');
    },
  };
  const editor = new DumpLineEditor(judge, options);
  const out: Buffer[] = [];
  for (const chunk of chunks) out.push(...editor.feed(chunk));
  out.push(...editor.finish());
  return { out, text: Buffer.concat(out).toString('latin1'), asked, lines: editor.number };
}

/** `bytes` cut at `cuts` (any numbers; taken modulo its length). */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

/** SJIS: ソ is 0x83 0x5c (a backslash as its second byte), 表 is 0x95 0x5c; GB18030 has 4-byte characters with digits in them. */
const SJIS_SO = '\x83\x5c';
const SJIS_HYO = '\x95\x5c';
const GB18030_4 = '\x81\x30\x81\x30';

describe('pg/dump/line-reader: the line editor (the restore filter reads through it)', () => {
  const byHead = (head: string, inCopy: boolean): LineVerdict =>
    inCopy
      ? head.startsWith('b')
        ? 'blank'
        : 'pass'
      : head.startsWith('\\') || head.startsWith('W')
        ? 'whole'
        : head.startsWith('b')
          ? 'blank'
          : 'pass';

  it('passes, blanks or replaces each line as judged from its start, and reads COPY blocks as psql does', () => {
    const script =
      'SET;\nbye there\n\\connect cupm\nWhole line\nCOPY public.t (a) FROM stdin;\n\\connect x\nbdata\n\\.x\n\\.\nW after\nlast';
    const { text, asked, lines } = edit([Buffer.from(script, 'latin1')], byHead);
    expect(text).to.equal(
      'SET;\n\n<\\connect cupm>\n<Whole line>\n<COPY public.t (a) FROM stdin;>\n\\connect x\n\n<\\.x>\n<\\.>\n<W after>\nlast',
    );
    expect(asked).to.deep.equal([
      'head sql "SET;\\n"',
      'head sql "bye th"',
      'head sql "\\\\conne"',
      'whole sql "\\\\connect cupm" "\\n"',
      'head sql "Whole "',
      'whole sql "Whole line" "\\n"',
      'whole copy-start "COPY public.t (a) FROM stdin;" "\\n"',
      'head data "\\\\conne"',
      'head data "bdata\\n"',
      'whole copy-data "\\\\.x" "\\n"',
      'whole copy-end "\\\\." "\\n"',
      'head sql "W afte"',
      'whole sql "W after" "\\n"',
      'head sql "last"',
    ]);
    expect(lines).to.equal(11);
  });

  it('keeps CRLF line ends (also on blanked lines, and when \\r and \\n come in different chunks)', () => {
    const script = 'bye\r\nCOPY t FROM stdin;\r\nbdata\r\n\\.\r\nSET a;\r\n';
    const cr = script.indexOf('\r');
    const { text, asked } = edit([Buffer.from(script.slice(0, cr + 1), 'latin1'), Buffer.from(script.slice(cr + 1), 'latin1')], byHead);
    expect(text).to.equal('\r\n<COPY t FROM stdin;>\r\n\r\n<\\.>\r\nSET a;\r\n');
    expect(asked).to.include('whole copy-end "\\\\." "\\r\\n"');
  });

  it('passes a line longer than a chunk on as slices of the chunks, never copied', () => {
    const row = Buffer.from(`1\t${'ab'.repeat(3000)}\n`, 'latin1');
    const chunks = [Buffer.from('COPY t (id, data) FROM stdin;\n'), ...cut(row, [100, 2000, 4000]), Buffer.from('\\.\n')];
    const { out, text } = edit(chunks, byHead);
    expect(text).to.equal(`<COPY t (id, data) FROM stdin;>\n${row.toString('latin1')}<\\.>\n`);
    for (const piece of out.slice(1, -1))
      expect(chunks.some((c) => c.buffer === piece.buffer && c.byteOffset <= piece.byteOffset)).to.equal(true);
  });

  it('passes unread a line it was asked to read whole that is longer than maxLine; a COPY line that long starts data', () => {
    const long = `W${'x'.repeat(100)}`;
    const copy = `COPY t (${'c, '.repeat(30)}d) FROM stdin;`;
    const script = `${long}\n${copy}\nbdata\n\\.\nWshort\n`;
    for (const chunks of [[Buffer.from(script, 'latin1')], cut(Buffer.from(script, 'latin1'), [3, 50, 120, 140])]) {
      const { text, asked } = edit(chunks, byHead);
      expect(text).to.equal(`${long}\n${copy}\n\n<\\.>\n<Wshort>\n`);
      expect(asked.filter((a) => a.startsWith('whole'))).to.deep.equal(['whole copy-end "\\\\." "\\n"', 'whole sql "Wshort" "\\n"']);
    }
  });

  it('ends COPY data at a \\. without a line end at the end of the input, and at nothing else', () => {
    expect(edit([Buffer.from('COPY t FROM stdin;\n\\.x\n\\\\.\n\\.', 'latin1')], byHead).asked.slice(-1)).to.deep.equal([
      'whole copy-end "\\\\." ""',
    ]);
    expect(
      edit([Buffer.from('COPY t FROM stdin;\n1\n', 'latin1'), Buffer.from('\\', 'latin1'), Buffer.from('.', 'latin1')], byHead).asked.slice(
        -1,
      ),
    ).to.deep.equal(['whole copy-end "\\\\." ""']);
  });

  it('reads scripts in the client encodings psql masks (SJIS, BIG5, GBK, GB18030...) line for line as psql does', () => {
    // A backslash as a character's second byte is never a line's first byte, and no character holds a \n or \r.
    const script = `SET client_encoding = 'SJIS';\nCOMMENT ON TABLE t IS '${SJIS_SO}';\nCOPY t (a) FROM stdin;\n${SJIS_SO}.\n${SJIS_HYO}\n${GB18030_4}\\.\n\\.\nbye${SJIS_SO}\r\n`;
    const bytes = Buffer.from(script, 'latin1');
    const { text, asked } = edit([bytes], byHead);
    expect(text).to.equal(
      script
        .replace('COPY t (a) FROM stdin;', '<COPY t (a) FROM stdin;>')
        .replace('\\.\n\\.\n', '\\.\n<\\.>\n')
        .replace(`bye${SJIS_SO}\r\n`, '\r\n'),
    );
    expect(asked.filter((a) => a.startsWith('head data'))).to.have.length(3);
  });

  it('gives the same output and asks the same questions however the stream is cut, and types lines as DumpLineReader does', async () => {
    const piece = fc.constantFrom(
      'SET a;',
      'bye',
      'Whole',
      '\\connect cupm',
      'COPY t (a) FROM stdin;',
      'COPY',
      '\\.',
      '\\.x',
      'bdata',
      '1\t2',
      '',
      'x'.repeat(50),
      SJIS_SO,
      SJIS_HYO + '.',
      GB18030_4,
      '\r',
      '\n',
      '\r\n',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(1000), { maxLength: 10 }), async (pieces, cuts) => {
        const bytes = Buffer.from(pieces.join(''), 'latin1');
        const whole = edit([bytes], byHead);
        const cutUp = edit(cut(bytes, cuts), byHead);
        expect(cutUp.text).to.equal(whole.text);
        expect(cutUp.asked).to.deep.equal(whole.asked);
        expect(cutUp.lines).to.equal(whole.lines);
        // Every line goes on as one line: blanked, replaced or as it was.
        expect(whole.text.split('\n').length).to.equal(bytes.toString('latin1').split('\n').length);
        // Asked to read every line whole, it sees the lines DumpLineReader types (none too long to read here).
        const all = edit(cut(bytes, cuts), () => 'whole', { headLength: 4, maxLine: 100_000 });
        const typed = (await read([bytes], 100_000)).map((l) => `whole ${l.kind} ${JSON.stringify(l.text)} ${JSON.stringify(l.end)}`);
        expect(all.asked.filter((a) => a.startsWith('whole'))).to.deep.equal(typed);
      }),
      { numRuns: 500 },
    );
  });
});
