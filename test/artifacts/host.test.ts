import { formatHostList, hostProblem, parseHostList, urlHost } from '../../src/artifacts/host.js';
import { expect } from '../support/expect.js';

describe('host names and addresses', () => {
  it('accepts host names, IPv4 and IPv6 addresses', () => {
    for (const host of [
      'db',
      'db-02.example.com',
      'DB_SERVER',
      'cupm.example.com.',
      '192.0.2.10',
      '::1',
      '2001:db8::5',
      '[2001:db8::5]',
      '::ffff:192.0.2.1',
    ]) {
      expect(hostProblem(host), host).to.equal(undefined);
    }
  });

  it('refuses what could break a file or a URL: quotes, <, &, spaces, line breaks, empty', () => {
    for (const host of [
      '',
      'db"x',
      "db'x",
      'db<x',
      'db>x',
      'db&x',
      'db x',
      'db\nx',
      'db\r',
      'db\tx',
      'd\u00e9',
      'db;x',
      'db/x',
      'db:x:y',
      'a..b',
      '-db',
      'db-',
      '256.1.1.1',
      '1.2.3',
      'fe80::1%eth0',
      '[db]',
      'x'.repeat(64),
    ]) {
      expect(hostProblem(host), JSON.stringify(host)).to.be.a('string');
    }
    expect(hostProblem('db x')).to.contain('a space');
    // A port glued to the host is pointed at --db-port, not called a bad IPv6 address.
    expect(hostProblem('10.0.0.7:5432'))
      .to.contain('has a port in it')
      .and.contain('--db-host 10.0.0.7 --db-port 5432')
      .and.not.contain('IPv6');
    expect(hostProblem('db01:5433')).to.contain('--db-port 5433');
    expect(hostProblem('[2001:db8::1]')).to.equal(undefined);
    expect(hostProblem('db\nx')).to.contain('a line break');
    expect(hostProblem('')).to.contain('empty');
  });

  it('writes IPv6 addresses in brackets inside URLs', () => {
    expect(urlHost('::1')).to.equal('[::1]');
    expect(urlHost('[::1]')).to.equal('[::1]');
    expect(urlHost('db')).to.equal('db');
  });

  it('reads and writes dfc.postgres.hostlist as comma-separated hosts with optional ports', () => {
    const { entries, problems } = parseHostList('db1, db2:5433,[2001:db8::5]:5434 ,2001:db8::6');
    expect(problems).to.deep.equal([]);
    expect(entries).to.deep.equal([
      { host: 'db1', port: undefined },
      { host: 'db2', port: 5433 },
      { host: '2001:db8::5', port: 5434 },
      { host: '2001:db8::6', port: undefined },
    ]);
    expect(formatHostList(entries)).to.equal('db1,db2:5433,[2001:db8::5]:5434,2001:db8::6');
    expect(parseHostList('a,,b"c:0').problems).to.have.length(3);
    expect(parseHostList('').problems).to.deep.equal(['the host list is empty']);
  });
});
