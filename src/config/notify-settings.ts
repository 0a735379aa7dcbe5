import os from 'node:os';
import { redactUrl, redactUrlText } from '../security/redact.js';

/** When mail is sent: only for runs that need attention (default), or after every run. */
export const NOTIFY_ON = ['failure', 'always'] as const;
export type NotifyOn = (typeof NOTIFY_ON)[number];

/** The SMTP server, from CUPM_SMTP_URL. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** smtps:// (TLS from the first byte, port 465); smtp:// upgrades with STARTTLS where offered. */
  secure: boolean;
  user: string | undefined;
  /** Only ever handed to nodemailer; never printed (see `display`). */
  password: string | undefined;
  /** `?tls.rejectUnauthorized=false`: accept a self-signed or otherwise untrusted certificate. */
  allowUntrustedCertificate: boolean;
  /** `?requireTLS=true`: refuse to log in or send over a connection that STARTTLS did not secure. */
  requireTls: boolean;
  /** The URL with the password replaced by `***`, for messages and logs. */
  display: string;
}

/** Email notification (CUPM_SMTP_URL, CUPM_NOTIFY_TO, CUPM_NOTIFY_FROM, CUPM_NOTIFY_ON). */
export interface NotifySettings {
  smtp: SmtpSettings;
  to: string[];
  from: string;
  on: NotifyOn;
}

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

const SMTP_QUERY_PARAMETERS = ['tls.rejectUnauthorized', 'requireTLS'];

/** Reads the notification settings; undefined when no SMTP server is configured. Problems are pushed. */
export function parseNotifySettings(get: Get, where: Where, problems: string[]): NotifySettings | undefined {
  const urlText = get('CUPM_SMTP_URL');
  const toText = get('CUPM_NOTIFY_TO');
  const onText = get('CUPM_NOTIFY_ON');
  let on: NotifyOn = 'failure';
  if (onText !== undefined) {
    if ((NOTIFY_ON as readonly string[]).includes(onText.toLowerCase())) on = onText.toLowerCase() as NotifyOn;
    else problems.push(`${where('CUPM_NOTIFY_ON')} must be one of ${NOTIFY_ON.join(', ')}, got "${onText}".`);
  }
  if (urlText === undefined) {
    if (toText !== undefined)
      problems.push(
        `${where('CUPM_NOTIFY_TO')} is set but CUPM_SMTP_URL is not: set the SMTP server to send through (smtp://user:password@host:587).`,
      );
    return undefined;
  }
  const smtp = parseSmtpUrl(urlText);
  if (typeof smtp === 'string') problems.push(`${where('CUPM_SMTP_URL')}: ${smtp}`);

  const to: string[] = [];
  if (toText === undefined) {
    problems.push('CUPM_NOTIFY_TO is required when CUPM_SMTP_URL is set: the address(es) to notify, comma-separated.');
  } else {
    for (const address of toText.split(',').map((a) => a.trim())) {
      if (isMailbox(address)) to.push(address);
      else problems.push(`${where('CUPM_NOTIFY_TO')} holds "${address}", which is not an email address.`);
    }
  }
  const fromText = get('CUPM_NOTIFY_FROM');
  // Many relays refuse a sender without a domain; the host name is the best default we have.
  const from = fromText ?? `cupm-backup@${os.hostname()}`;
  if (fromText !== undefined && !isMailbox(fromText)) {
    problems.push(`${where('CUPM_NOTIFY_FROM')} is not an email address: "${fromText}".`);
  }
  if (typeof smtp === 'string') return undefined;
  return { smtp, to, from, on };
}

/** Parses `smtp://[user[:password]@]host[:port][?tls.rejectUnauthorized=false][&requireTLS=true]`; a string is the problem. */
export function parseSmtpUrl(text: string): SmtpSettings | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${redactUrlText(text)}" is not a URL; expected smtp://user:password@host:port (or smtps:// for TLS on port 465).`;
  }
  const display = redactUrl(url);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    return `${display} must start with smtp:// (STARTTLS where the server offers it) or smtps:// (TLS, port 465).`;
  }
  if (url.hostname === '') return `${display} names no host.`;
  if (url.pathname !== '' && url.pathname !== '/') return `${display} has a path (${url.pathname}); an SMTP URL has none.`;
  const unknown = [...url.searchParams.keys()].filter((key) => !SMTP_QUERY_PARAMETERS.includes(key));
  if (unknown.length > 0) {
    return `${display} has unknown parameters (${unknown.join(', ')}); known: ${SMTP_QUERY_PARAMETERS.join(', ')}.`;
  }
  const rejectUnauthorized = url.searchParams.get('tls.rejectUnauthorized');
  if (rejectUnauthorized !== null && rejectUnauthorized !== 'false' && rejectUnauthorized !== 'true') {
    return `${display}: tls.rejectUnauthorized must be true or false.`;
  }
  const requireTls = url.searchParams.get('requireTLS');
  if (requireTls !== null && requireTls !== 'false' && requireTls !== 'true') return `${display}: requireTLS must be true or false.`;
  const secure = url.protocol === 'smtps:';
  return {
    // WHATWG URL keeps IPv6 literals bracketed; sockets want them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    // 25 is the port the smtp scheme names; submission (587) must be written out.
    port: url.port === '' ? (secure ? 465 : 25) : Number(url.port),
    secure,
    user: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    allowUntrustedCertificate: rejectUnauthorized === 'false',
    requireTls: requireTls === 'true',
    display,
  };
}

export { redactUrl } from '../security/redact.js';

/** `user@example.com` or `Name <user@example.com>`. */
function isMailbox(text: string): boolean {
  const address = /<([^<>]+)>\s*$/.exec(text)?.[1] ?? text;
  return /^[^\s@<>,]+@[^\s@<>,]+$/.test(address.trim());
}
