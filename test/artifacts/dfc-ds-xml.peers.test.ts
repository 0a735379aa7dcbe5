import { ConfigError } from '../../src/errors.js';
import { readConnectionUrl, setConnectionUrlHost } from '../../src/artifacts/dfc-ds-xml.js';
import { expect } from '../support/expect.js';
import { javaReadXml, type JavaXml } from '../support/java.js';

/** dfc-ds.xml as CUPM 8.5 ships it on Windows, with an old URL left in a comment. */
const DFC_DS =
  [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE datasources PUBLIC "-//JBoss//DTD JBOSS JCA Config 1.5//EN" "http://www.jboss.org/j2ee/dtd/jboss-ds_1_5.dtd">',
    '<!-- CUPM datasource. Before the move it was:',
    '     <connection-url>jdbc:postgresql://10.0.0.1:5432/cupm</connection-url> -->',
    '<datasources>',
    '  <local-tx-datasource>',
    '    <jndi-name>DfcDS</jndi-name>',
    '    <connection-url>jdbc:postgresql://192.0.2.10:5432/cupm?loglevel=0&amp;ssl=false</connection-url>',
    '    <driver-class>org.postgresql.Driver</driver-class>',
    '    <user-name>cupm</user-name>',
    '    <password>s3cr&lt;t</password>',
    '  </local-tx-datasource>',
    '</datasources>',
  ].join('\r\n') + '\r\n';

async function javaParses(...texts: string[]): Promise<Array<Extract<JavaXml, { ok: true }>>> {
  return (await javaReadXml(texts)).map((result) => {
    if (!result.ok) throw new Error(`Java could not parse the XML: ${result.error}`);
    return result;
  });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the dfc-ds.xml editor', () => {
  it('reads the one <connection-url> that is markup, not the one in a comment', () => {
    expect(readConnectionUrl(DFC_DS)).to.deep.equal({
      url: 'jdbc:postgresql://192.0.2.10:5432/cupm?loglevel=0&ssl=false',
      host: '192.0.2.10',
      port: 5432,
      database: 'cupm',
    });
  });

  it('moving the database changes only the host: prolog, DOCTYPE, comments, CRLF and entities stay', async () => {
    const after = setConnectionUrlHost(DFC_DS, 'db-new.example.com');
    expect(after).to.equal(DFC_DS.replace('//192.0.2.10:5432/cupm?', '//db-new.example.com:5432/cupm?'));
    const [before, edited] = await javaParses(DFC_DS, after);
    expect(edited!.connectionUrls).to.deep.equal(['jdbc:postgresql://db-new.example.com:5432/cupm?loglevel=0&ssl=false']);
    const changed = (nodes: string[]) => nodes.filter((node) => node.includes('/connection-url text='));
    expect(edited!.nodes.filter((n) => !changed([n]).length)).to.deep.equal(before!.nodes.filter((n) => !changed([n]).length));
    expect(edited!.nodes).to.have.length(before!.nodes.length);
  });

  it('changes the port when asked, and writes an IPv6 address in brackets', async () => {
    const after = setConnectionUrlHost(DFC_DS, '2001:db8::5', 5433);
    expect(readConnectionUrl(after)).to.include({ host: '2001:db8::5', port: 5433, database: 'cupm' });
    const [edited] = await javaParses(after);
    expect(edited!.connectionUrls).to.deep.equal(['jdbc:postgresql://[2001:db8::5]:5433/cupm?loglevel=0&ssl=false']);
  });

  it('adds a port to a URL that had none only when one is given', () => {
    const xml = '<datasources><connection-url>jdbc:postgresql://old/cupm</connection-url></datasources>';
    expect(setConnectionUrlHost(xml, 'new')).to.equal(xml.replace('//old/', '//new/'));
    expect(setConnectionUrlHost(xml, 'new', 6543)).to.equal(xml.replace('//old/', '//new:6543/'));
    expect(readConnectionUrl(xml).port).to.equal(undefined);
  });

  it('refuses a host with quotes, <, & or a line break before touching the file (no XML injection)', () => {
    for (const host of ['db"x', "db'x", 'db<x', 'db&x', 'db\nx', 'db x', '', 'db></connection-url><x>']) {
      const error = configError(() => setConnectionUrlHost(DFC_DS, host));
      expect(error.state).to.contain('not changed');
    }
  });

  it('a file without <connection-url> (or with it only in a comment) is a clear error', () => {
    const onlyComment = '<datasources><!-- <connection-url>jdbc:postgresql://a:5432/cupm</connection-url> --></datasources>';
    for (const xml of ['<datasources/>', onlyComment]) {
      expect(configError(() => readConnectionUrl(xml, { file: 'dfc-ds.xml' })).message).to.contain('has no <connection-url>');
    }
  });

  it('two <connection-url> elements are ambiguous and refused with their lines', () => {
    const xml =
      '<d>\n<connection-url>jdbc:postgresql://a/cupm</connection-url>\n<connection-url>jdbc:postgresql://b/cupm</connection-url>\n</d>';
    const error = configError(() => setConnectionUrlHost(xml, 'c'));
    expect(error.message).to.contain('2 <connection-url>');
    expect(error.problems).to.deep.equal(['line 2', 'line 3']);
  });

  it('an unparsable URL is a clear error that quotes it', () => {
    for (const [url, why] of [
      ['jdbc:mysql://a/cupm', 'does not start with'],
      ['jdbc:postgresql://a:5432', 'no database'],
      ['jdbc:postgresql://a:99999/cupm', 'port'],
      ['jdbc:postgresql://a,b/cupm', 'more than one host'],
      ['jdbc:postgresql://:5432/cupm', 'host is empty'],
      ['', 'does not start with'],
    ] as const) {
      const error = configError(() => readConnectionUrl(`<d><connection-url>${url}</connection-url></d>`));
      expect(error.message).to.contain(why);
      expect(error.problems[0]).to.contain(JSON.stringify(url));
    }
  });

  it('a host written with entities is not guessed at', () => {
    const xml = '<d><connection-url>jdbc:postgresql://&#100;b/cupm</connection-url></d>';
    expect(readConnectionUrl(xml).host).to.equal('db');
    expect(configError(() => setConnectionUrlHost(xml, 'x')).message).to.contain('entities or CDATA');
  });

  it('whitespace and attributes around the URL are kept', async () => {
    const xml = '<?xml version="1.0"?>\n<d>\n  <connection-url a="x>y">\n    jdbc:postgresql://old:5432/cupm\n  </connection-url>\n</d>\n';
    const after = setConnectionUrlHost(xml, '10.1.2.3');
    expect(after).to.equal(xml.replace('//old:', '//10.1.2.3:'));
    const [edited] = await javaParses(after);
    expect(edited!.connectionUrls[0]!.trim()).to.equal('jdbc:postgresql://10.1.2.3:5432/cupm');
  });
});
