/**
 * Property-based tests of the editors (issue 7, item 4): generated files, edited, then read by
 * Java's own Properties.load and the JDK's XML parser. A JVM start costs about a second, so each
 * property samples its cases first and hands them all to one `java` run; on a failure the seed is
 * printed (FC_SEED=<seed> reproduces it).
 */
import fc from 'fast-check';
import { ConfigError } from '../../src/errors.js';
import { escapePropertyValue, findPropertyOccurrences, readProperties, setPropertyValues } from '../../src/artifacts/dfc-properties.js';
import { readConnectionUrl, setConnectionUrlHost } from '../../src/artifacts/dfc-ds-xml.js';
import { hostProblem, urlHost } from '../../src/artifacts/host.js';
import { checkHostOptions } from '../../src/restore/prepare.js';
import { rewriteDfcProperties } from '../../src/restore/rewrites.js';
import { expect } from '../support/expect.js';
import { javaReadProperties, javaReadXml } from '../support/java.js';

const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 200;
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);

/** Samples `RUNS` values; the seed is in the test title's failure message. */
function sample<T>(arbitrary: fc.Arbitrary<T>, runs = RUNS): T[] {
  return fc.sample(arbitrary, { numRuns: runs, seed: SEED });
}

function because(index: number, what: unknown): string {
  return `case ${index} (FC_SEED=${SEED}): ${JSON.stringify(what)}`;
}

// ---- .properties generators: every byte a latin1 char, as the file is read -----------------------

const eol = fc.constantFrom('\n', '\r\n', '\r');
const blanks = fc.string({ unit: fc.constantFrom(' ', '\t', '\f'), maxLength: 3 });
/** Any latin1 char but line ends: controls, ASCII, and high bytes (UTF-8 read as latin1, BOM parts). */
const anyChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((n) => String.fromCharCode(n)) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\u0007', '\u001b', '\t', '\f') },
);
const valueChar = anyChar.filter((c) => c !== '\\');
const keyChar = valueChar.filter((c) => !' \t\f=:'.includes(c));
const hex4 = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.boolean()).map(([n, upper]) => {
  const hex = n.toString(16).padStart(4, '0');
  return upper ? hex.toUpperCase() : hex;
});
const escape = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.constantFrom('\\:', '\\=', '\\\\', '\\ ', '\\t', '\\n', '\\r', '\\f', '\\#', '\\!', '\\a', '\\\u00e9', '\\"'),
  },
  { weight: 20, arbitrary: hex4.map((hex) => `\\u${hex}`) },
  // Malformed: Java refuses the whole file, and so must we.
  { weight: 1, arbitrary: fc.constantFrom('\\u12G4', '\\u') },
);
const continuation = fc.tuple(eol, blanks).map(([end, lead]) => `\\${end}${lead}`);
function rawText(plain: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const token = fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: plain, minLength: 1, maxLength: 6 }) },
    { weight: 2, arbitrary: escape },
    { weight: 1, arbitrary: continuation },
  );
  return fc.array(token, { maxLength: 5 }).map((tokens) => tokens.join(''));
}

/** A key spelled in one of the ways Java reads as the same key (plain, \uXXXX, backslash, split). */
function spell(key: string): fc.Arbitrary<string> {
  return fc.array(fc.nat(9), { minLength: key.length, maxLength: key.length }).map((choices) =>
    [...key]
      .map((c, i) => {
        const choice = choices[i]!;
        if (choice === 0) return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
        if (choice === 1 && !'tnrfu'.includes(c)) return `\\${c}`;
        if (choice === 2 && i > 0) return `\\\n  ${c}`;
        return ' \t\f=:\\#!'.includes(c) ? `\\${c}` : c;
      })
      .join(''),
  );
}

const knownKey = fc.constantFrom('dfc.postgres.host', 'dfc.postgres.hostlist', 'dfc.jboss.port', 'a', 'k:x', 'sp ace', '#h', '');
const rawKey = fc.oneof({ weight: 3, arbitrary: knownKey.chain(spell) }, { weight: 2, arbitrary: rawText(keyChar) });
const separator = fc.constantFrom('=', ':', ' ', '\t', ' = ', ' : ', '  ', '\t=\t', ' =', '= ', '');
const entryLine = fc.tuple(blanks, rawKey, separator, rawText(valueChar)).map((parts) => parts.join(''));
const commentLine = fc
  .tuple(blanks, fc.constantFrom('#', '!'), fc.string({ unit: anyChar, maxLength: 12 }), fc.constantFrom('', '\\'))
  .map((parts) => parts.join(''));
const line = fc.oneof({ weight: 6, arbitrary: entryLine }, { weight: 2, arbitrary: commentLine }, { weight: 1, arbitrary: blanks });

const propertiesFile = fc
  .tuple(fc.boolean(), fc.array(fc.tuple(line, eol), { maxLength: 12 }), fc.boolean())
  .map(([bom, lines, finalEol]) => {
    let text = (bom ? '\u00ef\u00bb\u00bf' : '') + lines.map(([l, end]) => l + end).join('');
    if (!finalEol && lines.length > 0) text = text.slice(0, text.endsWith('\r\n') ? -2 : -1);
    return text;
  });

/** New values: any Unicode at all, and strings made of the chars that matter to the format. */
const newValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({
    unit: fc.constantFrom(' ', ':', '=', '\\', '#', '!', '\n', '\r', '\t', '\f', 'u', 'a', '\u00e9', '\u30d7', '\u0000'),
    maxLength: 12,
  }),
);

interface PropertiesCase {
  text: string;
  picks: number[];
  values: string[];
}
const propertiesCase: fc.Arbitrary<PropertiesCase> = fc.record({
  text: propertiesFile,
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  values: fc.array(newValue, { minLength: 3, maxLength: 3 }),
});

function sorted(map: Map<string, string>): Array<[string, string]> {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---- dfc-ds.xml generators ---------------------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
const hostName = fc
  .array(label, { minLength: 1, maxLength: 3 })
  .map((labels) => labels.join('.'))
  .filter((h) => hostProblem(h) === undefined);
const validHost = fc.oneof(hostName, fc.ipV4(), fc.ipV6());
const port = fc.integer({ min: 1, max: 65535 });
const xmlEol = fc.constantFrom('\n', '\r\n');
// '--' may not appear inside an XML comment.
const fakeUrlComment = fc
  .tuple(
    validHost.filter((h) => !h.includes('--')),
    fc.constantFrom('', ' old ', '>', ' - '),
  )
  .map(([host, extra]) => `<!--${extra}<connection-url>jdbc:postgresql://${urlHost(host)}:5432/cupm</connection-url> -->`);

interface XmlCase {
  build: (hostAndPort: string) => string;
  host: string;
  portText: string;
  newHost: string;
  newPort: number | undefined;
}

const xmlCase: fc.Arbitrary<XmlCase> = fc
  .record({
    prolog: fc.constantFrom(
      '',
      '<?xml version="1.0"?>',
      '<?xml version="1.0" encoding="UTF-8"?>',
      '\u00ef\u00bb\u00bf<?xml version="1.0" encoding="UTF-8"?>',
    ),
    doctype: fc.constantFrom(
      '',
      '<!DOCTYPE datasources PUBLIC "-//JBoss//DTD JBOSS JCA Config 1.5//EN" "http://www.jboss.org/j2ee/dtd/jboss-ds_1_5.dtd">',
      '<!DOCTYPE datasources [ <!ENTITY dbuser "cupm"> <!-- <connection-url>jdbc:postgresql://x/y</connection-url> --> <!ATTLIST datasources note CDATA "a]>b"> ]>',
    ),
    comments: fc.array(fakeUrlComment, { maxLength: 2 }),
    cdata: fc.constantFrom('', '<![CDATA[<connection-url>jdbc:postgresql://cdata:1/x</connection-url>]]>'),
    attributes: fc.constantFrom('', ' note="a>b"', " id='x'"),
    lead: fc.constantFrom('', ' ', '\n    ', '\r\n\t'),
    trail: fc.constantFrom('', ' ', '\n  '),
    host: validHost,
    port: fc.option(port, { nil: undefined }),
    database: fc.constantFrom('cupm', 'cupm_85', 'db'),
    query: fc.constantFrom('', '?loglevel=0', '?loglevel=0&amp;ssl=false', '?a=%20&amp;b=&lt;'),
    user: fc.constantFrom('cupm', '&dbuser;', 'c&amp;u'),
    eol: xmlEol,
    newHost: validHost,
    newPort: fc.option(port, { nil: undefined }),
  })
  .filter((c) => c.user !== '&dbuser;' || c.doctype.includes('ENTITY'))
  .map((c) => {
    const e = c.eol;
    const build = (hostAndPort: string) =>
      [
        c.prolog,
        c.doctype,
        ...c.comments,
        '<datasources>',
        '  <local-tx-datasource>',
        `    <jndi-name>DfcDS</jndi-name>${c.cdata}`,
        `    <connection-url${c.attributes}>${c.lead}jdbc:postgresql://${hostAndPort}/${c.database}${c.query}${c.trail}</connection-url>`,
        `    <user-name>${c.user}</user-name>`,
        '  </local-tx-datasource>',
        '</datasources>',
        '',
      ]
        .filter((part, i) => part !== '' || i === 10)
        .join(e);
    return { build, host: c.host, portText: c.port === undefined ? '' : `:${c.port}`, newHost: c.newHost, newPort: c.newPort };
  });

/** Strings with at least one char that must never reach a file unescaped. */
const hostileHost = fc
  .tuple(
    fc.string({ maxLength: 6 }),
    fc.constantFrom('"', "'", '<', '>', '&', '\n', '\r', ' ', '\t', '\u0000'),
    fc.string({ maxLength: 6 }),
  )
  .map(([a, bad, b]) => a + bad + b);

describe('the editors survive any input (property-based, read back by Java)', () => {
  it(`Java reads every generated .properties file as we do, and sees exactly the targeted change after an edit (${RUNS} files)`, async () => {
    const cases = sample(propertiesCase);
    const edits = cases.map((c) => {
      let ours: Map<string, string>;
      try {
        ours = readProperties(c.text);
      } catch (error) {
        expect(error, because(cases.indexOf(c), c.text)).to.be.instanceOf(ConfigError);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- it types what the callback returns on both paths
        return { ours: undefined, values: {} as Record<string, string>, edited: c.text };
      }
      const keys = [...ours.keys()];
      const values: Record<string, string> = {};
      if (keys.length > 0) c.picks.forEach((pick, i) => (values[keys[pick % keys.length]!] = c.values[i]!));
      return { ours, values, edited: setPropertyValues(c.text, values) };
    });
    const java = await javaReadProperties([...cases.map((c) => c.text), ...edits.map((e) => e.edited)]);

    let edited = 0;
    cases.forEach((c, i) => {
      const { ours, values } = edits[i]!;
      const original = java[i]!;
      const after = java[cases.length + i]!;
      if (!original.ok) {
        expect(ours, because(i, { text: c.text, java: original.error })).to.equal(undefined);
        return;
      }
      expect(ours, because(i, c.text)).to.not.equal(undefined);
      expect(sorted(ours!), because(i, c.text)).to.deep.equal(sorted(original.properties));
      if (!after.ok) throw new Error(`Java cannot read the edited file: ${because(i, { text: c.text, values, error: after.error })}`);
      const expected = new Map(original.properties);
      for (const [key, value] of Object.entries(values)) expected.set(key, value);
      expect(sorted(after.properties), because(i, { text: c.text, values, edited: edits[i]!.edited })).to.deep.equal(sorted(expected));
      if (Object.keys(values).length > 0) edited++;

      // Byte for byte: the edit is the original with each occurrence's raw value replaced, nothing else.
      const occurrences = Object.keys(values)
        .flatMap((key) => findPropertyOccurrences(c.text, key))
        .sort((a, b) => a.valueStart - b.valueStart);
      let rebuilt = '';
      let from = 0;
      for (const o of occurrences) {
        rebuilt += c.text.slice(from, o.valueStart) + (o.hasSeparator ? '' : '=') + escapePropertyValue(values[o.key]!);
        from = o.lineEnd;
      }
      expect(edits[i]!.edited, because(i, { text: c.text, values })).to.equal(rebuilt + c.text.slice(from));
    });
    expect(edited, 'cases that edited something').to.be.greaterThan(RUNS / 2);
  });

  it(`a value escaped by escapePropertyValue reads back through Java unchanged, whatever the string (${RUNS} strings)`, async () => {
    const values = sample(newValue);
    const texts = values.map((value) => `key=${escapePropertyValue(value)}\nnext=1\n`);
    const java = await javaReadProperties(texts);
    values.forEach((value, i) => {
      const result = java[i]!;
      if (!result.ok) throw new Error(`Java cannot read ${because(i, texts[i])}: ${result.error}`);
      expect(sorted(result.properties), because(i, value)).to.deep.equal([
        ['key', value],
        ['next', '1'],
      ]);
    });
  });

  it(`dfc-ds.xml: only the host (and port) of the real <connection-url> changes, as the JDK parser sees it (${RUNS} files)`, async () => {
    const cases = sample(xmlCase);
    const originals = cases.map((c) => c.build(urlHost(c.host) + c.portText));
    const edited = cases.map((c, i) => setConnectionUrlHost(originals[i]!, c.newHost, c.newPort));
    cases.forEach((c, i) => {
      const newPortText = c.newPort === undefined ? c.portText : `:${c.newPort}`;
      expect(edited[i], because(i, originals[i])).to.equal(c.build(urlHost(c.newHost) + newPortText));
      expect(readConnectionUrl(edited[i]!).host, because(i, originals[i])).to.equal(c.newHost);
    });
    const java = await javaReadXml([...originals, ...edited]);
    cases.forEach((c, i) => {
      const before = java[i]!;
      const after = java[cases.length + i]!;
      if (!before.ok || !after.ok)
        throw new Error(
          `the JDK cannot parse ${because(i, originals[i])}: ${before.ok ? '' : before.error} ${after.ok ? '' : after.error}`,
        );
      const ours = readConnectionUrl(originals[i]!);
      expect(
        before.connectionUrls.map((u) => u.trim()),
        because(i, originals[i]),
      ).to.deep.equal([ours.url]);
      const newPortText = c.newPort === undefined ? c.portText : `:${c.newPort}`;
      const expectedUrl = ours.url.replace(`//${urlHost(c.host)}${c.portText}/`, `//${urlHost(c.newHost)}${newPortText}/`);
      expect(
        after.connectionUrls.map((u) => u.trim()),
        because(i, edited[i]),
      ).to.deep.equal([expectedUrl]);
      const others = (nodes: string[]) =>
        nodes.filter((node) => !node.startsWith('element /datasources/local-tx-datasource/connection-url'));
      expect(others(after.nodes), because(i, edited[i])).to.deep.equal(others(before.nodes));
    });
  });

  it(`--db-host and --old-nice-host values with quotes, <, &, spaces or line breaks are refused before restore reads a file (${RUNS} values)`, () => {
    const word = fc.stringMatching(/^[a-z0-9.]{1,4}$/);
    const interior = fc
      .tuple(word, fc.constantFrom('"', "'", '<', '>', '&', '\n', '\r', ' ', '\t', '\u0000', ';', '/', '\\'), word)
      .map(([a, bad, b]) => a + bad + b);
    for (const [i, host] of sample(interior).entries()) {
      expect(() => checkHostOptions({ dbHost: host }), because(i, host)).to.throw(ConfigError);
      expect(() => checkHostOptions({ dbHost: `db1.example,${host}` }), because(i, host)).to.throw(ConfigError);
      expect(() => checkHostOptions({ oldNiceHost: host }), because(i, host)).to.throw(ConfigError);
    }
  });

  it(`even a hostile host that got past the check is escaped in dfc.properties: Java reads that one value, and no new key (${RUNS} values)`, async () => {
    const original = 'dfc.postgres.host=db.example\ndfc.postgres.port=5432\ndfc.jboss.port=46008\n';
    const hosts = sample(
      fc.oneof(
        hostileHost,
        fc.string({ unit: fc.constantFrom('\n', '\r', '=', ':', '#', '!', '\\', ' ', 'u', 'x', 'dfc.jboss.port'), maxLength: 12 }),
      ),
    );
    const edited = hosts.map((host) => rewriteDfcProperties(original, { dbHosts: [host] }, 'dfc.properties').text);
    const java = await javaReadProperties(edited);
    hosts.forEach((host, i) => {
      const result = java[i]!;
      if (!result.ok) throw new Error(`Java cannot read ${because(i, edited[i])}: ${result.error}`);
      expect(sorted(result.properties), because(i, { host, edited: edited[i] })).to.deep.equal(
        sorted(
          new Map([
            ['dfc.postgres.host', host],
            ['dfc.postgres.port', '5432'],
            ['dfc.jboss.port', '46008'],
          ]),
        ),
      );
    });
  });

  it('host values with quotes, <, &, spaces or line breaks are refused, and never reach dfc-ds.xml', () => {
    const xml = '<datasources><connection-url>jdbc:postgresql://db:5432/cupm</connection-url></datasources>';
    for (const [i, host] of sample(hostileHost).entries()) {
      expect(hostProblem(host), because(i, host)).to.be.a('string');
      expect(() => setConnectionUrlHost(xml, host), because(i, host)).to.throw(ConfigError);
    }
  });
});
