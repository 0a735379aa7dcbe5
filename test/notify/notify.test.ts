import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import type { Reporter } from '../../src/jobs/reporter.js';
import { sendNotification } from '../../src/schedule/notify.js';
import { expect } from '../support/expect.js';
import { closedPort, parseMail, startMailServer, type MailServer } from '../support/mail-server.js';
import { failedRun, offsiteFailedRun, okRun } from '../support/nightly-records.js';

/** A password with every character that has a meaning in a URL or in SMTP AUTH. */
const PASSWORD = 'p@ss:w/rd?#%&ü =x';
const USER = 'cupm-notify@example.com';

interface RecordingReporter extends Reporter {
  infos: string[];
  warnings: string[];
}

function recordingReporter(): RecordingReporter {
  const infos: string[] = [];
  const warnings: string[] = [];
  return { infos, warnings, info: (m) => infos.push(m), warn: (m) => warnings.push(m), progress: () => {} };
}

/** Every form the password could leak in: as typed, URL-encoded, base64 (AUTH LOGIN and PLAIN). */
function leaks(text: string): string[] {
  const forms = [
    PASSWORD,
    encodeURIComponent(PASSWORD),
    Buffer.from(PASSWORD).toString('base64'),
    Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'),
  ];
  return forms.filter((form) => text.includes(form));
}

describe('email notification of a nightly run', () => {
  let workDir: string;
  let server: MailServer | undefined;

  beforeEach(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'cupm-notify-'));
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
    await rm(workDir, { recursive: true, force: true });
  });

  function configWith(env: Record<string, string>): Config {
    return loadConfig({ env: { CUPM_BACKUP_DIR: path.join(workDir, 'backups'), ...env }, cwd: workDir });
  }

  async function acceptingServer(): Promise<MailServer> {
    server = await startMailServer({ user: USER, password: PASSWORD });
    return server;
  }

  it('emails a failed run: host, outcome and date in the subject; the error and what to do in the body', async () => {
    const smtp = await acceptingServer();
    const config = configWith({
      CUPM_SMTP_URL: smtp.url(USER, PASSWORD),
      CUPM_NOTIFY_TO: 'ops@example.com, Night Shift <night@example.com>',
      CUPM_NOTIFY_FROM: 'CUPM backups <cupm@example.com>',
    });
    const reporter = recordingReporter();

    const result = await sendNotification(config, failedRun('2026-11-25T02:00:00Z'), reporter);

    expect(result).to.equal('sent');
    expect(smtp.received).to.have.length(1);
    const mail = smtp.received[0]!;
    expect(mail.mailFrom).to.equal('cupm@example.com');
    expect(mail.rcptTo).to.deep.equal(['ops@example.com', 'night@example.com']);
    expect(mail.user).to.equal(USER);
    expect(smtp.logins[0]).to.include({ username: USER, password: PASSWORD });
    const parsed = await parseMail(mail.raw);
    expect(parsed.subject).to.equal('[cupm-backup] CUPM01: nightly backup FAILED (2026-11-25 02:00 UTC)');
    expect(parsed.from).to.equal('CUPM backups <cupm@example.com>');
    expect(parsed.contentType).to.equal('text/plain');
    expect(parsed.body).to.include('Nightly backup of CUPM01: FAILED (exit code 1).');
    expect(parsed.body).to.include('No backup was made.');
    expect(parsed.body).to.include('What went wrong:\n  The backup failed: No space left on device while writing the archive.');
    expect(parsed.body).to.include(
      'What to do:\n  free space in /var/backups/cupm (or prune old archives), then run cupm-backup nightly again',
    );
    expect(parsed.body).to.match(/failed {3}backup {3}No space left on device while writing the archive, 47\.0s/);
    expect(parsed.body).to.match(/skipped {2}prune {4}retention runs only after a verified backup/);
    expect(parsed.body).to.include('finished  2026-11-25 02:00:48 UTC (48.0s)');
    expect(reporter.warnings).to.deep.equal([]);
    expect(reporter.infos.join('\n')).to.include('Notification sent to ops@example.com');
    expect(leaks(reporter.infos.join('\n'))).to.deep.equal([]);
  });

  it('says what ran, the sizes and durations of a run that went well (CUPM_NOTIFY_ON=always)', async () => {
    const smtp = await acceptingServer();
    const config = configWith({ CUPM_SMTP_URL: smtp.url(USER, PASSWORD), CUPM_NOTIFY_TO: 'ops@example.com', CUPM_NOTIFY_ON: 'always' });

    expect(await sendNotification(config, okRun('2026-11-26T02:00:00Z'), recordingReporter())).to.equal('sent');

    const parsed = await parseMail(smtp.received[0]!.raw);
    expect(parsed.subject).to.equal('[cupm-backup] CUPM01: nightly backup OK (2026-11-26 02:00 UTC)');
    expect(parsed.body).to.include(
      'Backup cupm-backup_CUPM01_20261126T020002Z.zip (42.0 MiB, verified); copied off-site to 1 of 1 destination.',
    );
    expect(parsed.body).to.include('42.0 MiB (database dump 160.0 MiB), CUPM 8.5, verified, backup took 1m35s');
    expect(parsed.body).to.include('ok       \\\\nas01\\backups\\cupm (21.0s)');
    expect(parsed.body).to.match(/done {5}verify {3}every entry checked, 9\.0s/);
    expect(parsed.body).not.to.include('What went wrong');
  });

  it('stays quiet about a run that went well by default (CUPM_NOTIFY_ON=failure)', async () => {
    const smtp = await acceptingServer();
    const config = configWith({ CUPM_SMTP_URL: smtp.url(USER, PASSWORD), CUPM_NOTIFY_TO: 'ops@example.com' });
    expect(config.notify?.on).to.equal('failure');

    expect(await sendNotification(config, okRun('2026-11-26T02:00:00Z'), recordingReporter())).to.equal('skipped');
    expect(smtp.received).to.deep.equal([]);
    expect(smtp.logins).to.deep.equal([]);
  });

  it('reports a verified backup whose off-site copy failed: kept locally, the copy pending', async () => {
    const smtp = await acceptingServer();
    const config = configWith({ CUPM_SMTP_URL: smtp.url(USER, PASSWORD), CUPM_NOTIFY_TO: 'ops@example.com' });

    expect(await sendNotification(config, offsiteFailedRun('2026-11-27T02:00:00Z'), recordingReporter())).to.equal('sent');

    const parsed = await parseMail(smtp.received[0]!.raw);
    expect(parsed.subject).to.equal('[cupm-backup] CUPM01: nightly backup WARNING (2026-11-27 02:00 UTC)');
    expect(parsed.body).to.include('copied off-site to 1 of 2 destinations');
    expect(parsed.body).to.include('offsite: sftp://backup@nas02:22/srv/cupm: connect ECONNREFUSED 10.0.0.12:22');
    expect(parsed.body).to.include('the backup itself is verified and kept in');
    expect(parsed.body).to.include('FAILED   sftp://backup@nas02:22/srv/cupm: connect ECONNREFUSED 10.0.0.12:22');
    expect(parsed.body).to.match(
      /pending {2}sftp:\/\/backup@nas02:22\/srv\/cupm: cupm-backup_CUPM01_20261127T020002Z\.zip \(waiting since 2026-11-27 02:02 UTC; retried on the next run\)/,
    );
  });

  it('sends nothing and says nothing when no SMTP server is configured', async () => {
    const reporter = recordingReporter();
    expect(await sendNotification(configWith({}), failedRun('2026-11-25T02:00:00Z'), reporter)).to.equal('skipped');
    expect(reporter.infos).to.deep.equal([]);
    expect(reporter.warnings).to.deep.equal([]);
  });

  it('logs an SMTP server that refuses the login (535) without the password, and returns failed', async () => {
    server = await startMailServer({ refuseLogin: true });
    const config = configWith({ CUPM_SMTP_URL: server.url(USER, PASSWORD), CUPM_NOTIFY_TO: 'ops@example.com' });
    const reporter = recordingReporter();

    const result = await sendNotification(config, failedRun('2026-11-25T02:00:00Z'), reporter);

    expect(result).to.equal('failed');
    expect(server.logins).to.have.length(1);
    expect(server.received).to.deep.equal([]);
    expect(reporter.warnings).to.have.length(1);
    const warning = reporter.warnings[0]!;
    expect(warning).to.include(`smtp://${encodeURIComponent(USER)}:***@127.0.0.1:${server.port} refused the login of user "${USER}"`);
    expect(warning).to.include('535');
    expect(warning).to.include('check the user and password in CUPM_SMTP_URL');
    expect(warning).to.include("the run's outcome is unchanged");
    expect(leaks(warning)).to.deep.equal([]);
  });

  it('logs a mail server that is not listening, and returns failed', async () => {
    const port = await closedPort();
    const config = configWith({
      CUPM_SMTP_URL: `smtp://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`,
      CUPM_NOTIFY_TO: 'ops@example.com',
    });
    const reporter = recordingReporter();

    expect(await sendNotification(config, failedRun('2026-11-25T02:00:00Z'), reporter)).to.equal('failed');

    expect(reporter.warnings).to.have.length(1);
    expect(reporter.warnings[0]).to.include(`could not connect to smtp://${encodeURIComponent(USER)}:***@127.0.0.1:${port}`);
    expect(reporter.warnings[0]).to.include('ECONNREFUSED');
    expect(leaks(reporter.warnings[0]!)).to.deep.equal([]);
  });

  describe('STARTTLS where the server offers it', () => {
    it('refuses an untrusted (self-signed) certificate and says how to accept it', async () => {
      server = await startMailServer({ starttls: true, user: USER, password: PASSWORD });
      const config = configWith({ CUPM_SMTP_URL: server.url(USER, PASSWORD), CUPM_NOTIFY_TO: 'ops@example.com' });
      const reporter = recordingReporter();

      expect(await sendNotification(config, failedRun('2026-11-25T02:00:00Z'), reporter)).to.equal('failed');

      expect(server.logins, 'no login may travel before TLS is up').to.deep.equal([]);
      expect(reporter.warnings[0]).to.match(/TLS certificate of smtp:\/\/.*:\*\*\*@127\.0\.0\.1:\d+ is not trusted/);
      expect(reporter.warnings[0]).to.include('?tls.rejectUnauthorized=false');
    });

    it('logs in and sends over TLS when the URL accepts the certificate', async () => {
      server = await startMailServer({ starttls: true, user: USER, password: PASSWORD });
      const config = configWith({
        CUPM_SMTP_URL: server.url(USER, PASSWORD, 'tls.rejectUnauthorized=false'),
        CUPM_NOTIFY_TO: 'ops@example.com',
      });

      expect(await sendNotification(config, failedRun('2026-11-25T02:00:00Z'), recordingReporter())).to.equal('sent');

      expect(server.logins).to.have.length(1);
      expect(server.logins[0]!.secure).to.equal(true);
      expect(server.received[0]!.secure).to.equal(true);
    });

    it('with requireTLS=true, refuses a server that offers no STARTTLS rather than log in in plain text', async () => {
      server = await startMailServer({ user: USER, password: PASSWORD });
      const config = configWith({ CUPM_SMTP_URL: server.url(USER, PASSWORD, 'requireTLS=true'), CUPM_NOTIFY_TO: 'ops@example.com' });
      const reporter = recordingReporter();

      expect(await sendNotification(config, failedRun('2026-11-25T02:00:00Z'), reporter)).to.equal('failed');

      expect(server.logins).to.deep.equal([]);
      expect(reporter.warnings[0]).to.include('STARTTLS');
    });
  });
});

describe('notification settings', () => {
  function problemsOf(env: Record<string, string>): string[] {
    try {
      loadConfig({ env, cwd: tmpdir() });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  }

  it('reads the SMTP URL: host, port, user, password, and a display form without the password', () => {
    const config = loadConfig({
      env: {
        CUPM_SMTP_URL: `smtp://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@mail.example.com:587`,
        CUPM_NOTIFY_TO: 'ops@example.com',
      },
      cwd: tmpdir(),
    });
    expect(config.notify?.smtp).to.include({
      host: 'mail.example.com',
      port: 587,
      secure: false,
      user: USER,
      password: PASSWORD,
      allowUntrustedCertificate: false,
      requireTls: false,
      display: `smtp://${encodeURIComponent(USER)}:***@mail.example.com:587`,
    });
    expect(config.notify?.from).to.match(/^cupm-backup@/);
  });

  it('uses port 25 for smtp:// and 465 for smtps:// when none is given', () => {
    const smtp = loadConfig({ env: { CUPM_SMTP_URL: 'smtp://relay.example.com', CUPM_NOTIFY_TO: 'a@example.com' }, cwd: tmpdir() });
    const smtps = loadConfig({ env: { CUPM_SMTP_URL: 'smtps://relay.example.com', CUPM_NOTIFY_TO: 'a@example.com' }, cwd: tmpdir() });
    expect(smtp.notify?.smtp).to.include({ port: 25, secure: false, user: undefined });
    expect(smtps.notify?.smtp).to.include({ port: 465, secure: true });
  });

  it('reports every notification problem at once, never showing the password', () => {
    const problems = problemsOf({
      CUPM_SMTP_URL: `http://user:${encodeURIComponent(PASSWORD)}@mail.example.com`,
      CUPM_NOTIFY_ON: 'sometimes',
      CUPM_NOTIFY_FROM: 'not an address',
    });
    expect(problems).to.have.length(4);
    expect(problems.join('\n')).to.include('CUPM_NOTIFY_ON (from environment) must be one of failure, always, got "sometimes"');
    expect(problems.join('\n')).to.include('must start with smtp://');
    expect(problems.join('\n')).to.include('CUPM_NOTIFY_TO is required when CUPM_SMTP_URL is set');
    expect(problems.join('\n')).to.include('CUPM_NOTIFY_FROM (from environment) is not an email address');
    expect(leaks(problems.join('\n'))).to.deep.equal([]);
  });

  it('refuses unknown URL parameters (a typo must not silently turn certificate checks back on or off)', () => {
    const problems = problemsOf({
      CUPM_SMTP_URL: 'smtp://mail.example.com/?tls.rejectUnauthorised=false',
      CUPM_NOTIFY_TO: 'a@example.com',
    });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include('unknown parameters (tls.rejectUnauthorised)');
  });

  it('refuses recipients without an SMTP server, and addresses that are not addresses', () => {
    expect(problemsOf({ CUPM_NOTIFY_TO: 'ops@example.com' })[0]).to.include(
      'CUPM_NOTIFY_TO (from environment) is set but CUPM_SMTP_URL is not',
    );
    expect(problemsOf({ CUPM_SMTP_URL: 'smtp://mail.example.com', CUPM_NOTIFY_TO: 'ops@example.com, ops' })[0]).to.include(
      'holds "ops", which is not an email address',
    );
  });
});
