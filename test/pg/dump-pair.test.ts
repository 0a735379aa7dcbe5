import { expect } from 'chai';
import { parsePgVersion } from '../../src/pg/connection.js';
import { dumpPair, dumpPairHint } from '../../src/pg/tools.js';

const v = (text: string) => parsePgVersion(text)!;

describe('which pg_dumpall can dump which server (preflight and doctor decide with it)', () => {
  it('refuses pg_dumpall 15 and newer against a server before 9.2 (CUPM 8.2), naming the clients that can', () => {
    for (const client of ['15.4', '16.1', '17.0', '18.1']) {
      const pair = dumpPair(v(client), v('8.2.4'));
      expect(pair.ok, client).to.equal(false);
      if (pair.ok) continue;
      expect(pair.reason)
        .to.contain(`version ${v(client).text}`)
        .and.contain('older than 9.2')
        .and.contain('8.2.4');
      expect(pair.clients).to.equal('8.2 to 14');
    }
    expect(dumpPair(v('15.1'), v('9.1.3'))).to.deep.include({ ok: false, clients: '9.1 to 14' });
  });

  it('accepts 8.2 to 14 for CUPM 8.2, and 15 and newer from 9.2 on', () => {
    for (const client of ['8.2.4', '8.4.22', '9.2.24', '9.6.1', '12.3', '14.9'])
      expect(dumpPair(v(client), v('8.2.4')).ok, client).to.equal(true);
    for (const server of ['9.2.1', '9.6.24', '14.9', '15.2']) expect(dumpPair(v('15.4'), v(server)).ok, server).to.equal(true);
  });

  it('refuses a client older than the server, whatever the versions', () => {
    const pair = dumpPair(v('8.1.23'), v('8.2.4'));
    expect(pair).to.deep.include({ ok: false, clients: '8.2 to 14' });
    expect(dumpPair(v('14.9'), v('15.2'))).to.deep.include({ ok: false, clients: '15 or newer' });
    expect(dumpPair(v('9.6.1'), v('7.4.1'))).to.deep.equal({ ok: true });
  });

  it("the hint names the versions, and CUPM's own pgsql8.2\\bin for an 8.2 server", () => {
    expect(dumpPairHint('8.2 to 14')).to.contain('8.2 to 14').and.contain('pgsql8.2\\bin');
    expect(dumpPairHint('15 or newer')).to.contain('15 or newer').and.not.contain('pgsql8.2');
  });
});
