import { Readable } from 'node:stream';
import fc from 'fast-check';
import { expect } from '../support/expect.js';
import { DumpFilter, type DumpFilterOptions } from '../../src/restore/dump-filter.js';
import { countRowsInDump } from '../../src/pg/dump/row-count.js';
import { connectTarget } from '../../src/pg/dump/syntax.js';

/** A pg_dumpall 15 script in the shape it really has (roles, template1, cupm, postgres, reports). */
const DUMP = [
  '--',
  '-- PostgreSQL database cluster dump',
  '--',
  '',
  '\\restrict KEYGLOBALS',
  '',
  'SET default_transaction_read_only = off;',
  '',
  '--',
  '-- Roles',
  '--',
  '',
  'CREATE ROLE "Odd ""Role""";',
  'ALTER ROLE "Odd ""Role""" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;',
  'CREATE ROLE cupm;',
  "ALTER ROLE cupm WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:app';",
  'CREATE ROLE postgres;',
  "ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:old''admin';",
  '',
  '\\unrestrict KEYGLOBALS',
  '',
  '--',
  '-- Database "template1" dump',
  '--',
  '',
  '\\connect template1',
  '',
  '\\restrict KEYT1',
  'SET statement_timeout = 0;',
  'CREATE PROCEDURAL LANGUAGE plpgsql;',
  '',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
  '\\unrestrict KEYT1',
  '',
  '--',
  '-- Database "cupm" dump',
  '--',
  '',
  '\\restrict KEYCUPM',
  "CREATE DATABASE cupm WITH TEMPLATE = template0 ENCODING = 'UTF8';",
  'ALTER DATABASE cupm OWNER TO cupm;',
  '\\unrestrict KEYCUPM',
  '\\connect cupm',
  '\\restrict KEYCUPM',
  'CREATE TABLE public.nicesyseng (id integer, host text);',
  'COPY public.nicesyseng (id, host) FROM stdin;',
  '1\t192.0.2.10',
  '2\t192.0.2.10',
  '3\t192.0.2.11',
  '\\.',
  'COPY public.notes (id, body) FROM stdin;',
  '1\tCREATE ROLE postgres;',
  '2\t\\\\connect postgres',
  '\\N\tnothing',
  '\\.',
  '',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
  '\\unrestrict KEYCUPM',
  '',
  '\\connect postgres',
  '',
  '\\restrict KEYPG',
  'SET statement_timeout = 0;',
  'CREATE TABLE public.t (x integer);',
  'COPY public.t (x) FROM stdin;',
  '42',
  '\\.',
  '',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
  '\\unrestrict KEYPG',
  '',
  '--',
  '-- PostgreSQL database cluster dump complete',
  '--',
  '',
].join('\n');

const OPTIONS: DumpFilterOptions = { existingRoles: new Set(['postgres', 'cupm']), adminRole: 'postgres' };

async function filter(input: string | Buffer[], options: DumpFilterOptions = OPTIONS) {
  const chunks = typeof input === 'string' ? [Buffer.from(input, 'latin1')] : input;
  const f = new DumpFilter(options);
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(chunks).pipe(f)) out.push(chunk as Buffer);
  return { text: Buffer.concat(out).toString('latin1'), filter: f };
}

describe('the dump filter between the archive and psql', () => {
  it('blanks CREATE ROLE of roles the target has, keeps new ones, and never changes the line count', async () => {
    const { text, filter: f } = await filter(DUMP);
    const lines = text.split('\n');
    expect(lines.length).to.equal(DUMP.split('\n').length);
    expect(lines[12]).to.equal('CREATE ROLE "Odd ""Role""";');
    expect(lines[14]).to.equal('');
    expect(lines[16]).to.equal('');
    expect(f.rolesKept).to.deep.equal(['cupm', 'postgres']);
  });

  it("takes the PASSWORD clause out of the admin's ALTER ROLE only, and keeps the hash it held", async () => {
    const { text, filter: f } = await filter(DUMP);
    const lines = text.split('\n');
    expect(lines[17]).to.equal('ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;');
    expect(lines[15]).to.equal("ALTER ROLE cupm WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:app';");
    expect(f.adminPassword).to.equal("SCRAM-SHA-256$4096:old'admin");
  });

  it('leaves out the contents of template1 and postgres, keeping \\connect and \\restrict, and reports them', async () => {
    const { text, filter: f } = await filter(DUMP);
    expect(text).to.not.include('plpgsql');
    expect(text).to.not.include('public.t');
    expect(text).to.not.include('42\n');
    expect(text).to.include('\\connect template1\n');
    expect(text).to.include('\\connect postgres\n');
    expect(text).to.include('\\restrict KEYPG\n');
    expect(text).to.include('\\unrestrict KEYPG\n');
    expect(text).to.include("CREATE DATABASE cupm WITH TEMPLATE = template0 ENCODING = 'UTF8';");
    expect(f.skipped.map((s) => [s.database, s.statements, s.example])).to.deep.equal([
      ['template1', 1, 'CREATE PROCEDURAL LANGUAGE plpgsql;'],
      ['postgres', 2, 'CREATE TABLE public.t (x integer);'],
    ]);
    const postgres = f.skipped[1]!;
    expect(DUMP.split('\n')[postgres.firstLine - 1]).to.equal('\\connect postgres');
    expect(DUMP.split('\n')[postgres.lastLine - 1]).to.equal('-- PostgreSQL database dump complete');
  });

  it('passes the application database byte for byte, COPY data that looks like SQL included', async () => {
    const { text } = await filter(DUMP);
    const part = (s: string) => s.slice(s.indexOf('\\connect cupm'), s.indexOf('\\connect postgres'));
    expect(part(text)).to.equal(part(DUMP));
    expect(part(text)).to.include('1\tCREATE ROLE postgres;');
  });

  it('keeps CRLF line ends on blanked lines', async () => {
    const crlf = DUMP.replaceAll('\n', '\r\n');
    const { text } = await filter(crlf);
    expect(text.split('\r\n').length).to.equal(crlf.split('\r\n').length);
    expect(text).to.not.match(/[^\r]\n/);
  });

  it('blanks \\restrict lines for a psql that predates them', async () => {
    const { text } = await filter(DUMP, { ...OPTIONS, dropRestrict: true });
    expect(text).to.not.match(/^\\(?:un)?restrict/m);
  });

  it('gives the same output however the stream is cut into chunks', async () => {
    const whole = (await filter(DUMP)).text;
    const bytes = Buffer.from(DUMP + 'x'.repeat(70) + '\nCREATE ROLE late;\n', 'latin1');
    const wholeWithTail = (await filter([bytes])).text;
    expect(wholeWithTail.startsWith(whole)).to.equal(true);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), async (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
        expect((await filter(chunks)).text).to.equal(wholeWithTail);
      }),
      { numRuns: 150 },
    );
  });

  it('passes a very long line (a big bytea row) without holding it', async () => {
    const row = `1\t\\\\x${'ab'.repeat(3 * 1024 * 1024)}`;
    const dump = `\\connect cupm\nCOPY public.blob (id, data) FROM stdin;\n${row}\n\\.\n`;
    const chunks = Buffer.from(dump, 'latin1');
    const parts = [];
    for (let i = 0; i < chunks.length; i += 65536) parts.push(chunks.subarray(i, i + 65536));
    expect((await filter(parts)).text).to.equal(dump);
  });

  describe('for a live restore (--live)', () => {
    const LIVE: DumpFilterOptions = {
      ...OPTIONS,
      renameDatabases: new Map([['cupm', 'cupm__incoming_20261204143000']]),
      holdRoleAlters: new Set(['postgres', 'cupm']),
    };
    const withGrants = DUMP.replace(
      'ALTER DATABASE cupm OWNER TO cupm;',
      'ALTER DATABASE cupm OWNER TO cupm;\nREVOKE CONNECT,TEMPORARY ON DATABASE cupm FROM PUBLIC;\nGRANT CONNECT ON DATABASE cupm TO "Odd ""Role""";\nCOMMENT ON DATABASE cupm IS \'CUPM\';\nALTER ROLE cupm IN DATABASE cupm SET search_path TO cupm, public;',
    ).replace('\\connect cupm', '\\connect -reuse-previous=on "dbname=\'cupm\'"');

    it('creates and fills the application database under the incoming name, every other line as it was', async () => {
      const { text } = await filter(withGrants, LIVE);
      const lines = text.split('\n');
      const original = withGrants.split('\n');
      expect(lines.length).to.equal(original.length);
      const changed = lines.flatMap((line, i) => (line === original[i] ? [] : [[original[i], line]]));
      expect(changed.filter(([from]) => /DATABASE|connect/.test(from!))).to.deep.equal([
        [
          "CREATE DATABASE cupm WITH TEMPLATE = template0 ENCODING = 'UTF8';",
          `CREATE DATABASE "cupm__incoming_20261204143000" WITH TEMPLATE = template0 ENCODING = 'UTF8';`,
        ],
        ['ALTER DATABASE cupm OWNER TO cupm;', 'ALTER DATABASE "cupm__incoming_20261204143000" OWNER TO cupm;'],
        [
          'REVOKE CONNECT,TEMPORARY ON DATABASE cupm FROM PUBLIC;',
          'REVOKE CONNECT,TEMPORARY ON DATABASE "cupm__incoming_20261204143000" FROM PUBLIC;',
        ],
        [
          'GRANT CONNECT ON DATABASE cupm TO "Odd ""Role""";',
          'GRANT CONNECT ON DATABASE "cupm__incoming_20261204143000" TO "Odd ""Role""";',
        ],
        ["COMMENT ON DATABASE cupm IS 'CUPM';", `COMMENT ON DATABASE "cupm__incoming_20261204143000" IS 'CUPM';`],
        [
          'ALTER ROLE cupm IN DATABASE cupm SET search_path TO cupm, public;',
          'ALTER ROLE cupm IN DATABASE "cupm__incoming_20261204143000" SET search_path TO cupm, public;',
        ],
        [`\\connect -reuse-previous=on "dbname='cupm'"`, '\\connect "cupm__incoming_20261204143000"'],
      ]);
      // COPY data that looks like a \connect, and the other databases, pass as they were.
      expect(text).to.include('2\t\\\\connect postgres\n');
      expect(text).to.include('\\connect postgres\n');
    });

    it('holds back the ALTER ROLE of existing roles (passwords that would lock out running sessions), keeps new roles whole', async () => {
      const { text, filter: f } = await filter(DUMP, LIVE);
      const lines = text.split('\n');
      expect(lines[12]).to.equal('CREATE ROLE "Odd ""Role""";');
      expect(lines[13]).to.match(/^ALTER ROLE "Odd ""Role""" WITH/);
      expect(lines[15]).to.equal('');
      expect(lines[17]).to.equal('');
      expect(f.heldRoles).to.deep.equal([
        "ALTER ROLE cupm WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:app';",
        'ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;',
      ]);
      expect(f.adminPassword).to.equal("SCRAM-SHA-256$4096:old'admin");
    });

    it('gives the same output however the stream is cut into chunks', async () => {
      const bytes = Buffer.from(withGrants, 'latin1');
      const whole = (await filter([bytes], LIVE)).text;
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
          expect((await filter(chunks, LIVE)).text).to.equal(whole);
        }),
        { numRuns: 100 },
      );
    });
  });

  it('reads every form of \\connect pg_dumpall writes', () => {
    expect(connectTarget('\\connect cupm')).to.equal('cupm');
    expect(connectTarget('\\connect "odd name"')).to.equal('odd name');
    expect(connectTarget("\\connect -reuse-previous=on \"dbname='it\\'s'\"")).to.equal("it's");
    expect(connectTarget('\\c template1')).to.equal('template1');
    expect(connectTarget('\\copyright')).to.equal(undefined);
  });

  it('counts the nicesyseng rows of a host in the dump (for --dry-run)', async () => {
    const count = (value: string, database = 'cupm') =>
      countRowsInDump(Readable.from([Buffer.from(DUMP, 'latin1')]), { database, table: 'nicesyseng', column: 'host', value });
    expect(await count('192.0.2.10')).to.equal(2);
    expect(await count('192.0.2.11')).to.equal(1);
    expect(await count('203.0.113.1')).to.equal(0);
    expect(await count('192.0.2.10', 'other')).to.equal(undefined);
  });
});
