/**
 * Reading and editing the `<connection-url>` of JBoss's `dfc-ds.xml`
 * (`jdbc:postgresql://HOST[:PORT]/DB`). The editor splices only the host (and port) chars of the
 * one `<connection-url>` element that is real markup: the XML prolog, DOCTYPE, comments (where an
 * old, commented-out `<connection-url>` often sits), attributes and line ends are kept byte for
 * byte. Texts are byte-transparent (callers decode as `latin1`): only ASCII structure is touched.
 */
import { ConfigError } from '../errors.js';
import { hostProblem, stripBrackets, urlHost } from './host.js';

export interface ConnectionUrl {
  /** The URL as a JDBC driver reads it (entities decoded, surrounding whitespace trimmed). */
  url: string;
  /** The host, IPv6 addresses without their brackets. */
  host: string;
  port: number | undefined;
  database: string;
}

export interface DfcDsOptions {
  /** The file the text came from, for messages. */
  file?: string;
}

/** One char of the element's text and where it came from (-1: from an entity, not a plain byte). */
interface ElementText {
  text: string;
  raw: number[];
}

const ELEMENT = 'connection-url';
const PREFIX = 'jdbc:postgresql:';

/** The <connection-url> of dfc-ds.xml (jdbc:postgresql://HOST[:PORT]/DB), parsed. */
export function readConnectionUrl(xml: string, options: DfcDsOptions = {}): ConnectionUrl {
  return parseUrl(elementText(xml, options), options).url;
}

/** The text with only the host (and port when given) of <connection-url> changed; every other byte kept. */
export function setConnectionUrlHost(xml: string, host: string, port?: number, options: DfcDsOptions = {}): string {
  const problem = hostProblem(host);
  if (problem)
    throw new ConfigError(`Cannot write the host into ${fileName(options)}: ${problem}.`, {
      state: `${fileName(options)} was not changed`,
    });
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new ConfigError(`Cannot write port ${port} into ${fileName(options)}: a port is a whole number from 1 to 65535.`, {
      state: `${fileName(options)} was not changed`,
    });
  }
  const content = elementText(xml, options);
  const { hostSpan, portSpan } = parseUrl(content, options);
  // Without a new port, only the host chars change and the port text stays as written.
  const span: [number, number] = port === undefined ? hostSpan : [hostSpan[0], portSpan[1]];
  const replacement = escapeXmlText(urlHost(host) + (port === undefined ? '' : `:${port}`));
  const [from, to] = rawSpan(content, span, options);
  return xml.slice(0, from) + replacement + xml.slice(to);
}

/** Text escaped for XML content or attribute values. */
export function escapeXmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

interface ParsedUrl {
  url: ConnectionUrl;
  /** Spans in the element text (untrimmed): the host chars, and the ':PORT' chars (empty when absent). */
  hostSpan: [number, number];
  portSpan: [number, number];
}

function parseUrl(content: ElementText, options: DfcDsOptions): ParsedUrl {
  const lead = content.text.length - content.text.trimStart().length;
  const url = content.text.trim();
  const unparsable = (why: string) =>
    new ConfigError(`The <connection-url> of ${fileName(options)} cannot be read: ${why}.`, {
      problems: [`it says: ${JSON.stringify(url)}`],
      state: `${fileName(options)} was not changed`,
      hint: `expected jdbc:postgresql://HOST[:PORT]/DATABASE; fix ${fileName(options)} by hand, then run again`,
    });
  if (!url.startsWith(PREFIX + '//')) throw unparsable(`it does not start with ${PREFIX}//`);
  const authorityStart = PREFIX.length + 2;
  const slash = url.indexOf('/', authorityStart);
  if (slash < 0) throw unparsable('it names no database (/DATABASE after the host)');
  const authority = url.slice(authorityStart, slash);
  if (authority.includes(',')) throw unparsable('it names more than one host, which this tool does not edit');
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/.exec(authority);
  if (!match) throw unparsable(`"${authority}" is not HOST or HOST:PORT`);
  const hostText = match[1]!;
  if (hostText === '') throw unparsable('the host is empty');
  const problem = hostProblem(hostText);
  if (problem) throw unparsable(problem);
  let port: number | undefined;
  if (match[2] !== undefined) {
    port = Number(match[2]);
    if (!/^\d{1,5}$/.test(match[2]) || port < 1 || port > 65535) throw unparsable(`the port "${match[2]}" is not 1-65535`);
  }
  const rest = url.slice(slash + 1);
  const database = decodeURIComponentSafe(rest.split(/[?#]/)[0]!);
  if (database === '') throw unparsable('the database name is empty');
  const hostFrom = lead + authorityStart;
  const hostTo = hostFrom + hostText.length;
  return {
    url: { url, host: stripBrackets(hostText), port, database },
    hostSpan: [hostFrom, hostTo],
    portSpan: [hostTo, lead + slash],
  };
}

/** The raw [from, to) of a span of the element text; refuses spans not written as plain chars. */
function rawSpan(content: ElementText, [from, to]: [number, number], options: DfcDsOptions): [number, number] {
  const raw = content.raw.slice(from, to);
  const plain = raw.every((index, i) => index >= 0 && (i === 0 || index === raw[i - 1]! + 1));
  if (!plain || raw.length === 0) {
    throw new ConfigError(
      `The host in the <connection-url> of ${fileName(options)} is written with entities or CDATA; it is not edited automatically.`,
      {
        state: `${fileName(options)} was not changed`,
        hint: `write the host of <connection-url> as plain text in ${fileName(options)}, then run again`,
      },
    );
  }
  return [raw[0]!, raw[raw.length - 1]! + 1];
}

/** The text of the one <connection-url> element outside comments, with each char's raw index. */
function elementText(xml: string, options: DfcDsOptions): ElementText {
  const found = findElements(xml, options);
  if (found.length === 0) {
    throw new ConfigError(`${fileName(options)} has no <${ELEMENT}> element (outside comments).`, {
      state: `${fileName(options)} was not changed`,
      hint: `check that ${fileName(options)} is the JBoss datasource of CUPM (server/cupm/deploy/dfc-ds.xml)`,
    });
  }
  if (found.length > 1) {
    throw new ConfigError(`${fileName(options)} has ${found.length} <${ELEMENT}> elements; the tool does not guess which one CUPM uses.`, {
      problems: found.map(([from]) => `line ${lineOf(xml, from)}`),
      state: `${fileName(options)} was not changed`,
      hint: `comment out or remove the stale ones in ${fileName(options)}, then run again`,
    });
  }
  const [from, to] = found[0]!;
  return decodeContent(xml, from, to, options);
}

/** [contentStart, contentEnd) of every <connection-url> that is markup (not in a comment, CDATA, PI or DOCTYPE). */
function findElements(xml: string, options: DfcDsOptions): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let open: number | undefined;
  let i = 0;
  const malformed = (what: string, at: number) =>
    new ConfigError(`${fileName(options)} is not well-formed XML: ${what} (line ${lineOf(xml, at)}).`, {
      state: `${fileName(options)} was not changed`,
      hint: `fix ${fileName(options)} by hand (or restore it from the archive), then run again`,
    });
  for (;;) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      i = skipPast(xml, '-->', lt + 4, () => malformed('a comment is not closed', lt));
    } else if (xml.startsWith('<![CDATA[', lt)) {
      i = skipPast(xml, ']]>', lt + 9, () => malformed('a CDATA section is not closed', lt));
    } else if (xml.startsWith('<?', lt)) {
      i = skipPast(xml, '?>', lt + 2, () => malformed('a processing instruction is not closed', lt));
    } else if (xml.startsWith('<!', lt)) {
      i = skipDeclaration(xml, lt, () => malformed('a declaration (<!DOCTYPE ...>) is not closed', lt));
    } else {
      const end = tagEnd(xml, lt + 1);
      if (end < 0) throw malformed('a tag is not closed', lt);
      const closing = xml[lt + 1] === '/';
      const name = /^[^\s/>]*/.exec(xml.slice(lt + (closing ? 2 : 1), end))![0];
      const selfClosing = xml[end - 1] === '/';
      if (open !== undefined) {
        if (closing && name === ELEMENT) {
          spans.push([open, lt]);
          open = undefined;
        } else {
          throw malformed(`<${ELEMENT}> holds markup (<${closing ? '/' : ''}${name}>)`, lt);
        }
      } else if (name === ELEMENT && !closing) {
        if (selfClosing) spans.push([end, end]);
        else open = end + 1;
      }
      i = end + 1;
    }
  }
  if (open !== undefined) throw malformed(`<${ELEMENT}> is not closed`, open);
  return spans;
}

/** Index of the '>' closing a tag that starts at `from`, skipping quoted attribute values; -1 if none. */
function tagEnd(xml: string, from: number): number {
  let quote: string | undefined;
  for (let k = from; k < xml.length; k++) {
    const c = xml[k];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return k;
  }
  return -1;
}

/** Skips <!DOCTYPE ...> and its internal subset ([...], with quoted strings and comments). */
function skipDeclaration(xml: string, lt: number, fail: () => Error): number {
  let depth = 0;
  let k = lt + 2;
  while (k < xml.length) {
    const c = xml[k];
    if (c === '"' || c === "'") {
      const close = xml.indexOf(c, k + 1);
      if (close < 0) throw fail();
      k = close + 1;
      continue;
    }
    if (xml.startsWith('<!--', k)) {
      k = skipPast(xml, '-->', k + 4, fail);
      continue;
    }
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '>' && depth <= 0) return k + 1;
    k++;
  }
  throw fail();
}

function skipPast(xml: string, marker: string, from: number, fail: () => Error): number {
  const at = xml.indexOf(marker, from);
  if (at < 0) throw fail();
  return at + marker.length;
}

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The character data of [from, to): comments dropped, CDATA unwrapped, entities decoded. */
function decodeContent(xml: string, from: number, to: number, options: DfcDsOptions): ElementText {
  let text = '';
  const raw: number[] = [];
  let k = from;
  while (k < to) {
    if (xml.startsWith('<!--', k)) {
      k = xml.indexOf('-->', k + 4) + 3;
    } else if (xml.startsWith('<![CDATA[', k)) {
      const end = xml.indexOf(']]>', k + 9);
      for (let m = k + 9; m < end; m++) {
        text += xml[m];
        raw.push(m);
      }
      k = end + 3;
    } else if (xml[k] === '&') {
      const semi = xml.indexOf(';', k);
      const name = semi > k && semi < to ? xml.slice(k + 1, semi) : '';
      const char = decodeEntity(name);
      if (char === undefined) {
        throw new ConfigError(
          `The <connection-url> of ${fileName(options)} uses an entity this tool does not know (line ${lineOf(xml, k)}).`,
          {
            state: `${fileName(options)} was not changed`,
            hint: `write the URL of <connection-url> as plain text in ${fileName(options)}, then run again`,
          },
        );
      }
      for (const unit of char) {
        text += unit;
        raw.push(-1);
      }
      k = semi + 1;
    } else {
      text += xml[k];
      raw.push(k);
      k++;
    }
  }
  return { text, raw };
}

function decodeEntity(name: string): string | undefined {
  if (Object.hasOwn(NAMED_ENTITIES, name)) return NAMED_ENTITIES[name];
  const numeric = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
  if (!numeric) return undefined;
  const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
  return code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text[i] === '\n') line++;
  return line;
}

function fileName(options: DfcDsOptions): string {
  return options.file ?? 'dfc-ds.xml';
}
