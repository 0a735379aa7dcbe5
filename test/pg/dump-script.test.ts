import { expect } from '../support/expect.js';
import { endsWithTrailer } from '../../src/pg/dump/script.js';
import { parsePgVersion } from '../../src/pg/connection.js';
import { dumpallArgs } from '../../src/pg/dumpall.js';

describe('pg_dumpall scripts', () => {
  it('recognises a complete dump by its trailer', () => {
    expect(endsWithTrailer('ALTER TABLE x;\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n')).to.equal(true);
  });

  it('accepts \\unrestrict lines of PostgreSQL 15.14+ after the trailer, and CRLF line ends', () => {
    expect(endsWithTrailer('--\r\n-- PostgreSQL database cluster dump complete\r\n--\r\n\r\n\\unrestrict abc123\r\n')).to.equal(true);
  });

  it('calls a dump cut short incomplete', () => {
    expect(endsWithTrailer('COPY public.phone (id) FROM stdin;\n1\n2\n')).to.equal(false);
    expect(endsWithTrailer('--\n-- PostgreSQL database dump complete\n--\n')).to.equal(false);
    expect(endsWithTrailer('')).to.equal(false);
  });

  it('reads versions of every era', () => {
    expect(parsePgVersion('pg_dumpall (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).to.include({ num: 150018, major: '15' });
    expect(parsePgVersion('pg_dumpall (PostgreSQL) 8.2.4')).to.include({ num: 80204, major: '8.2' });
    expect(parsePgVersion('11.22')).to.include({ num: 110022, major: '11' });
  });

  it('passes -o only to a pg_dumpall that still has it, and -w from 8.4', () => {
    const tool = (text: string) => ({ name: 'pg_dumpall' as const, path: 'pg_dumpall', version: parsePgVersion(text)! });
    expect(dumpallArgs(tool('8.2.4'))).to.deep.equal(['-o']);
    expect(dumpallArgs(tool('11.5'))).to.deep.equal(['-o', '-w']);
    expect(dumpallArgs(tool('15.18'))).to.deep.equal(['-w']);
  });

  it('leaves databases out with --exclude-database (exact, quoted names) from PostgreSQL 12; an older pg_dumpall cannot', () => {
    const tool = (text: string) => ({ name: 'pg_dumpall' as const, path: 'pg_dumpall', version: parsePgVersion(text)! });
    expect(dumpallArgs(tool('15.18'), ['cupm__previous_20261204101500', 'we"ird'])).to.deep.equal([
      '-w',
      '--exclude-database="cupm__previous_20261204101500"',
      '--exclude-database="we""ird"',
    ]);
    expect(dumpallArgs(tool('8.2.4'), ['other'])).to.deep.equal(['-o']);
  });
});
