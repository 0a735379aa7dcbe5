import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { readHistory, type NightlyRunRecord } from '../../src/schedule/history.js';
import { LOG_FILE } from '../../src/schedule/run-log.js';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { closedPort, parseMail, startMailServer, type MailServer } from '../support/mail-server.js';

const PASSWORD = 'Mail:Pa55/w0rd@x';

describe('nightly and its notification (a sandbox CUPM server, a real SMTP server)', () => {
  let server: SandboxServer;
  let work: string;
  let mail: MailServer | undefined;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-notify' });
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-nightly-notify-'));
  });
  afterEach(async () => {
    await mail?.close();
    mail = undefined;
    await fs.rm(work, { recursive: true, force: true });
  });

  const nightly = (extra: Record<string, string>) =>
    runCli(['nightly', '--json'], {
      env: { ...server.env(), CUPM_BACKUP_DIR: path.join(work, 'backups'), CUPM_NOTIFY_TO: 'ops@example.com', ...extra },
    });

  it('CUPM_NOTIFY_ON=always mails a good night: the archive, its size, the steps', async () => {
    mail = await startMailServer({ user: 'cupm', password: PASSWORD });

    const result = await nightly({ CUPM_SMTP_URL: mail.url('cupm', PASSWORD), CUPM_NOTIFY_ON: 'always' });

    expect(result.exitCode, result.stderr).to.equal(0);
    const record = result.json<NightlyRunRecord>();
    expect(record.steps.find((s) => s.name === 'notify')?.status).to.equal('done');
    const parsed = await parseMail(mail.received[0]!.raw);
    expect(parsed.subject).to.match(
      new RegExp(`^\\[cupm-backup\\] ${os.hostname()}: nightly backup OK \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d `),
    );
    expect(parsed.body).to.include(`Backup ${record.archive!.name}`);
    expect(parsed.body).to.match(/done {5}backup {3}cupm-backup_.*\.zip/);
    expect(parsed.body).to.match(/done {5}verify {3}/);
  });

  it('an SMTP server that refuses the login: logged without the password, the night still ends ok (exit 0)', async () => {
    mail = await startMailServer({ refuseLogin: true });

    const result = await nightly({ CUPM_SMTP_URL: mail.url('cupm', PASSWORD), CUPM_NOTIFY_ON: 'always' });

    expect(result.exitCode, result.stderr).to.equal(0);
    const record = result.json<NightlyRunRecord>();
    expect(record.outcome).to.equal('ok');
    expect(record.verified).to.equal(true);
    expect(record.steps.find((s) => s.name === 'notify')?.status).to.equal('failed');
    expect(mail.logins).to.have.length(1);
    expect(result.stderr).to.include('The notification email was not sent');
    expect(result.stderr).to.include('refused the login of user "cupm"');
    expect(result.stderr).to.include('535');
    const log = await fs.readFile(path.join(work, 'backups', LOG_FILE), 'utf8');
    expect(log).to.include('refused the login');
    for (const text of [result.stdout, result.stderr, log]) {
      expect(text).not.to.include(PASSWORD);
      expect(text).not.to.include(encodeURIComponent(PASSWORD));
    }
    expect((await readHistory(path.join(work, 'backups'))).map((r) => r.outcome)).to.deep.equal(['ok']);
  });

  it('a mail server that is not listening: logged, the outcome unchanged', async () => {
    const result = await nightly({
      CUPM_SMTP_URL: `smtp://cupm:${encodeURIComponent(PASSWORD)}@127.0.0.1:${await closedPort()}`,
      CUPM_NOTIFY_ON: 'always',
    });

    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.json<NightlyRunRecord>().outcome).to.equal('ok');
    expect(result.stderr).to.include('could not connect to smtp://cupm:***@127.0.0.1:');
    expect(result.stderr).not.to.include(encodeURIComponent(PASSWORD));
  });
});
