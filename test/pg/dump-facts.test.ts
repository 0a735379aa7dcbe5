import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DumpScanner, type DumpFacts } from '../../src/pg/dump/facts.js';
import { expect } from '../support/expect.js';

/** Streams `text` through a scanner in chunks of `size` bytes. */
async function scan(text: string | Buffer, size = 7): Promise<DumpFacts> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const scanner = new DumpScanner();
  const received: Buffer[] = [];
  await pipeline(Readable.from(chunks), scanner, new Writable({ write: (chunk: Buffer, _e, cb) => (received.push(chunk), cb()) }));
  expect(Buffer.concat(received).equals(bytes), 'the bytes pass through unchanged').to.equal(true);
  return scanner.facts;
}

const DUMP = [
  '--',
  '-- PostgreSQL database cluster dump',
  '--',
  '',
  "SET client_encoding = 'SJIS';",
  'CREATE ROLE cupm;',
  "ALTER ROLE cupm WITH LOGIN PASSWORD 'md5abc';",
  'CREATE ROLE "Odd ""Role""";',
  'CREATE ROLE postgres;',
  '\\connect template1',
  '--',
  '-- Dumped from database version 8.2.4',
  '-- Dumped by pg_dump version 8.2.4',
  "CREATE DATABASE cupm WITH TEMPLATE = template0 OWNER = cupm ENCODING = 'UTF8';",
  '\\connect cupm',
  'COPY public.note (id, body) FROM stdin;',
  '1\tCREATE ROLE intruder;',
  '2\tCREATE DATABASE fake;',
  '\\.',
  "\\connect -reuse-previous=on \"dbname='it\\'s db'\"",
  '-- Dumped from database version 9.9',
  '--',
  '-- PostgreSQL database cluster dump complete',
  '--',
  '',
].join('\n');

describe('reading the facts of a pg_dumpall script while it streams', () => {
  it('finds roles, databases, versions and encoding, whatever the chunk boundaries', async () => {
    for (const size of [1, 7, 64, 1 << 16]) {
      expect(await scan(DUMP, size)).to.deep.equal({
        serverVersion: '8.2.4',
        dumpToolVersion: '8.2.4',
        databases: ['cupm', "it's db", 'template1'],
        roles: ['Odd "Role"', 'cupm', 'postgres'],
        clientEncoding: 'SJIS',
        hasClusterHeader: true,
        lineEnds: 'lf',
      });
    }
  });

  it('does not take COPY data rows for statements', async () => {
    const facts = await scan(DUMP);
    expect(facts.roles).to.not.include('intruder');
    expect(facts.databases).to.not.include('fake');
  });

  it('tells CRLF and mixed line ends apart', async () => {
    expect((await scan(DUMP.replace(/\n/g, '\r\n'), 3)).lineEnds).to.equal('crlf');
    expect((await scan(DUMP.replace('\n', '\r\n'))).lineEnds).to.equal('mixed');
    expect((await scan(DUMP.replace(/\n/g, '\r\n'))).roles).to.deep.equal(['Odd "Role"', 'cupm', 'postgres']);
  });

  it('keeps memory flat on huge lines and still reads the lines after them', async () => {
    const huge = `COPY public.blob (id, data) FROM stdin;\n1\t${'x'.repeat(200_000)}\n\\.\nCREATE ROLE after_huge;\n`;
    const longComment = `-- ${'y'.repeat(10_000)}\nCREATE ROLE after_long;\n`;
    const facts = await scan(`-- PostgreSQL database cluster dump\n${huge}${longComment}`, 4096);
    expect(facts.roles).to.deep.equal(['after_huge', 'after_long']);
  });

  it('reads names as UTF-8, as restore does', async () => {
    const facts = await scan('CREATE ROLE "\u5c71\u7530";\n\\connect "\u30c7\u30fc\u30bf"\n', 1);
    expect(facts.roles).to.deep.equal(['\u5c71\u7530']);
    expect(facts.databases).to.deep.equal(['\u30c7\u30fc\u30bf']);
  });
});
