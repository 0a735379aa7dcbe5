import { execa } from 'execa';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';

/** One message the server accepted, as it arrived. */
export interface ReceivedMail {
  mailFrom: string;
  rcptTo: string[];
  /** The message exactly as sent (headers and body, MIME-encoded). */
  raw: string;
  /** The session was TLS (STARTTLS) when the message was sent. */
  secure: boolean;
  /** The user it logged in as, if any. */
  user: string | undefined;
}

/** One login attempt, as the server saw it. */
export interface LoginAttempt {
  method: string;
  username: string | undefined;
  password: string | undefined;
  secure: boolean;
}

export interface MailServerOptions {
  /** Credentials it accepts; any other login is refused with 535. */
  user?: string;
  password?: string;
  /** Refuse every login with `535 5.7.8 Authentication credentials invalid`. */
  refuseLogin?: boolean;
  /** Offer STARTTLS (with smtp-server's own self-signed certificate). Off by default. */
  starttls?: boolean;
}

/** A real SMTP server (npm smtp-server) on a free loopback port that records what it receives. */
export interface MailServer {
  port: number;
  received: ReceivedMail[];
  logins: LoginAttempt[];
  /** smtp://user:password@127.0.0.1:port, with parts URL-encoded; extra is a query string. */
  url(user?: string, password?: string, extra?: string): string;
  close(): Promise<void>;
}

export async function startMailServer(options: MailServerOptions = {}): Promise<MailServer> {
  const received: ReceivedMail[] = [];
  const logins: LoginAttempt[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: options.starttls ? [] : ['STARTTLS'],
    // Without STARTTLS, smtp-server refuses AUTH over plain text unless told otherwise.
    allowInsecureAuth: !options.starttls,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, callback) {
      logins.push({ method: auth.method, username: auth.username, password: auth.password ?? undefined, secure: session.secure });
      const ok = !options.refuseLogin && auth.username === options.user && auth.password === options.password;
      if (ok) {
        callback(null, { user: auth.username });
        return;
      }
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    logins,
    url(user, password, extra) {
      const auth =
        user === undefined ? '' : `${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
      return `smtp://${auth}127.0.0.1:${port}${extra ? `/?${extra}` : ''}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A message decoded by Python's `email` package: a MIME reader nobody here wrote. */
export interface ParsedMail {
  subject: string;
  from: string;
  to: string;
  contentType: string;
  body: string;
}

export async function parseMail(raw: string): Promise<ParsedMail> {
  const script = [
    'import email, email.policy, json, sys',
    'm = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)',
    "print(json.dumps({'subject': str(m['subject']), 'from': str(m['from']), 'to': str(m['to']),",
    "  'contentType': m.get_content_type(), 'body': m.get_body(('plain',)).get_content()}))",
  ].join('\n');
  const { stdout } = await execa('python3', ['-c', script], { input: raw });
  const parsed = JSON.parse(stdout) as ParsedMail;
  // SMTP carries CRLF line ends; the text we compose has LF.
  return { ...parsed, body: parsed.body.replace(/\r\n/g, '\n') };
}

/** A port nothing listens on: bound, read, and released again. */
export async function closedPort(): Promise<number> {
  const net = await import('node:net');
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
