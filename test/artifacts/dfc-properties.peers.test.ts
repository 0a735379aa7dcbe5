import { ConfigError } from '../../src/errors.js';
import {
  dbHostKey,
  editProperties,
  escapePropertyValue,
  findPropertyOccurrences,
  readProperties,
  setPropertyValues,
} from '../../src/artifacts/dfc-properties.js';
import { expect } from '../support/expect.js';
import { javaReadProperties } from '../support/java.js';

/** A dfc.properties the way a Windows CUPM 8.5 server has it: CRLF, comments, escapes, continuations. */
const DFC_PROPERTIES =
  [
    '#Cisco Unified Provisioning Manager',
    '#Tue Nov 25 02:00:00 JST 2008',
    '! written by the installer: do not edit by hand',
    'dfc.jboss.port=46008',
    'dfc.postgres.port = 5432',
    'dfc.nice.rmi.registry.internal.port:46001',
    'dfc.webport 80',
    'dfc.install.dir=C\\:\\\\CUPM',
    '# the database server',
    'dfc.postgres.host=192.0.2.10',
    '   dfc.postgres.db=cupm',
    'dfc.description=Provisioning \\',
    '    Manager \\u30d7\\u30ed\\u30d3',
    'dfc.banner=\u00e3\u0081\u0093 (UTF-8 bytes, as latin1)',
    '',
    'dfc.last=end',
  ].join('\r\n') + '\r\n';

/** Java's view of a text, as a sorted plain object (deep-equal friendly). */
async function javaSees(...texts: string[]): Promise<Array<Record<string, string>>> {
  const results = await javaReadProperties(texts);
  return results.map((result) => {
    if (!result.ok) throw new Error(`Java could not read the file: ${result.error}`);
    return Object.fromEntries(result.properties);
  });
}

/** What `before` becomes when only `changes` are applied. */
function withChanges(before: Record<string, string>, changes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries({ ...before, ...changes }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

describe('the dfc.properties editor', () => {
  it('reads a file exactly as Java Properties.load does (escapes, \\uXXXX, continuations, separators)', async () => {
    const [java] = await javaSees(DFC_PROPERTIES);
    expect(Object.fromEntries(readProperties(DFC_PROPERTIES))).to.deep.equal(java);
    expect(java!['dfc.install.dir']).to.equal('C:\\CUPM');
    expect(java!['dfc.description']).to.equal('Provisioning Manager \u30d7\u30ed\u30d3');
  });

  it('moving the database changes dfc.postgres.host and not one other byte', async () => {
    const after = setPropertyValues(DFC_PROPERTIES, { 'dfc.postgres.host': '198.51.100.7' });
    expect(after).to.equal(DFC_PROPERTIES.replace('dfc.postgres.host=192.0.2.10\r\n', 'dfc.postgres.host=198.51.100.7\r\n'));
    const [before, edited] = await javaSees(DFC_PROPERTIES, after);
    expect(edited).to.deep.equal(withChanges(before!, { 'dfc.postgres.host': '198.51.100.7' }));
  });

  it('keeps the separator the line uses (=, :, or whitespace) and a value spread over continuation lines', async () => {
    const text = 'a = 1\nb:2\nc  3\nd=first \\\n   second\\\r\n  third\ne\n';
    const after = setPropertyValues(text, { a: 'x', b: 'y', c: 'z', d: 'one line', e: 'bare' });
    expect(after).to.equal('a = x\nb:y\nc  z\nd=one line\ne=bare\n');
    const [before, edited] = await javaSees(text, after);
    expect(edited).to.deep.equal(withChanges(before!, { a: 'x', b: 'y', c: 'z', d: 'one line', e: 'bare' }));
  });

  it('a value that starts on a continuation line is replaced with its continuation, so the next line stays its own', async () => {
    // Old-Mac '\r' after the backslash, '\n' after the value: a '\r' left behind would pair with the '\n'.
    const text = 'dfc.postgres.host \\\r10.0.0.1\nnext.key=1\n';
    const after = setPropertyValues(text, { 'dfc.postgres.host': '' });
    expect(after).to.equal('dfc.postgres.host \nnext.key=1\n');
    const [edited] = await javaSees(after);
    expect(edited).to.deep.equal({ 'dfc.postgres.host': '', 'next.key': '1' });
  });

  it('does not touch a commented-out host line', () => {
    const text = '#dfc.postgres.host=10.0.0.1\n!dfc.postgres.host=10.0.0.2\ndfc.postgres.host=10.0.0.3\n';
    expect(setPropertyValues(text, { 'dfc.postgres.host': '10.9.9.9' })).to.equal(
      '#dfc.postgres.host=10.0.0.1\n!dfc.postgres.host=10.0.0.2\ndfc.postgres.host=10.9.9.9\n',
    );
  });

  it('a key set twice has every occurrence changed, and the caller is told (Java keeps the last one)', async () => {
    const text = 'dfc.postgres.host=10.0.0.1\nother=1\ndfc.postgres.host = 10.0.0.2\n';
    const occurrences = findPropertyOccurrences(text, 'dfc.postgres.host');
    expect(occurrences.map((o) => [o.line, o.value])).to.deep.equal([
      [1, '10.0.0.1'],
      [3, '10.0.0.2'],
    ]);
    const result = editProperties(text, { 'dfc.postgres.host': 'db2' });
    expect(result.duplicates).to.deep.equal(['dfc.postgres.host']);
    expect(result.changes.map((c) => [c.line, c.before, c.after])).to.deep.equal([
      [1, 'dfc.postgres.host=10.0.0.1', 'dfc.postgres.host=db2'],
      [3, 'dfc.postgres.host = 10.0.0.2', 'dfc.postgres.host = db2'],
    ]);
    expect(result.text).to.equal('dfc.postgres.host=db2\nother=1\ndfc.postgres.host = db2\n');
    const [edited] = await javaSees(result.text);
    expect(edited).to.deep.equal({ 'dfc.postgres.host': 'db2', other: '1' });
  });

  it('a file without the host key is a clear error naming the key and the file, not a silent no-op', () => {
    const text = 'dfc.jboss.port=46008\n';
    expect(() => setPropertyValues(text, { 'dfc.postgres.host': 'db2' }, { file: 'C:\\CUPM\\sep\\dfc.properties' }))
      .to.throw(ConfigError)
      .that.satisfies((error: ConfigError) => {
        expect(error.exitCode).to.equal(2);
        expect(error.describe()).to.contain('dfc.postgres.host').and.to.contain('C:\\CUPM\\sep\\dfc.properties');
        expect(error.state).to.contain('not changed');
        return true;
      });
  });

  it('a UTF-8 BOM is kept as Java reads it, and a host key hidden behind it is explained', async () => {
    const bom = '\u00ef\u00bb\u00bf';
    const hidden = `${bom}dfc.postgres.host=10.0.0.1\r\nx=1\r\n`;
    const error = (() => {
      try {
        setPropertyValues(hidden, { 'dfc.postgres.host': 'db2' }, { file: 'dfc.properties' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected an error');
    })();
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.describe()).to.match(/byte order mark/);

    const visible = `${bom}#comment\r\ndfc.postgres.host=10.0.0.1\r\n`;
    const after = setPropertyValues(visible, { 'dfc.postgres.host': 'db2' });
    expect(after).to.equal(`${bom}#comment\r\ndfc.postgres.host=db2\r\n`);
    const [before, edited] = await javaSees(visible, after);
    expect(edited).to.deep.equal(withChanges(before!, { 'dfc.postgres.host': 'db2' }));
  });

  it('escapes new values the way Java writes them, so nothing can be injected', async () => {
    const nasty = ' leading space, C:\\path, a=b, c:d, #hash !bang\nnew.key=injected\r\ttab \u00e9 \u30d7 \ud83d\ude00 \u0000';
    const text = 'dfc.postgres.host=old\nnext=1\n';
    const after = setPropertyValues(text, { 'dfc.postgres.host': nasty });
    expect(after).to.match(/^[\x20-\x7e\n]*$/);
    expect(escapePropertyValue('a:b')).to.equal('a\\:b');
    expect(escapePropertyValue('::1')).to.equal('\\:\\:1');
    const [edited] = await javaSees(after);
    expect(edited).to.deep.equal({ 'dfc.postgres.host': nasty, next: '1' });
  });

  it('a malformed \\u escape is reported like Java refuses the file', async () => {
    const text = 'a=\\u12G4\n';
    expect(() => readProperties(text, { file: 'dfc.properties' })).to.throw(
      ConfigError,
      /Malformed \\uxxxx escape in dfc.properties, line 1/,
    );
    const [java] = await javaReadProperties([text]);
    expect(java!.ok).to.equal(false);
  });

  it('tells which key holds the database host', () => {
    expect(dbHostKey('dfc.postgres.host=a\n')).to.equal('dfc.postgres.host');
    expect(dbHostKey('dfc.postgres.hostlist=a,b:5433\n')).to.equal('dfc.postgres.hostlist');
    expect(dbHostKey('dfc.postgres.host=a\ndfc.postgres.hostlist=a,b\n')).to.equal('dfc.postgres.hostlist');
    expect(dbHostKey('dfc.postgres.host=a\ndfc.postgres.hostlist=\n')).to.equal('dfc.postgres.host');
    expect(dbHostKey('dfc.postgres.hostlist=\n')).to.equal('dfc.postgres.hostlist');
    expect(dbHostKey('#dfc.postgres.host=a\nother=1\n')).to.equal(undefined);
  });
});
