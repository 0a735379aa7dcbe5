import { expect } from '../support/expect.js';
import { loadConfig } from '../../src/config/config.js';
import { parseOffsiteTargets } from '../../src/offsite/targets.js';

const parse = (text: string, platform: NodeJS.Platform = 'linux') =>
  parseOffsiteTargets(text, { cwd: platform === 'win32' ? 'C:\\CUPM' : '/opt/cupm', platform, where: 'CUPM_OFFSITE' });

describe('CUPM_OFFSITE: destinations separated by | or line breaks', () => {
  it('reads a Windows share and an SFTP URL, separated by |', () => {
    const { targets, problems } = parse(
      '\\\\filer01\\backups\\cupm | sftp://backup@vault.example:2222/srv/cupm?fingerprint=SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
      'win32',
    );
    expect(problems).to.deep.equal([]);
    expect(targets).to.deep.equal([
      { kind: 'folder', path: '\\\\filer01\\backups\\cupm', display: '\\\\filer01\\backups\\cupm' },
      {
        kind: 'sftp',
        host: 'vault.example',
        port: 2222,
        username: 'backup',
        path: '/srv/cupm',
        password: undefined,
        fingerprint: 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
        display: 'sftp://backup@vault.example:2222/srv/cupm',
      },
    ]);
  });

  it('reads one destination a line (a dotenv value in double quotes), with ; and , kept inside paths', () => {
    const { targets } = parse('/mnt/share;2024,a\nsftp://b@[::1]/~/cupm\n');
    expect(
      targets.map((t) => (t.kind === 'folder' ? t.path : t.kind === 'sftp' ? `${t.host} ${t.port} ${t.path}` : t.display)),
    ).to.deep.equal(['/mnt/share;2024,a', '::1 22 cupm']);
  });

  it('keeps a + and / of a base64 fingerprint (a query parser would turn + into a space)', () => {
    const { targets } = parse('sftp://b@h/x?fingerprint=SHA256:ab+/cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO');
    expect(targets[0]).to.include({ fingerprint: 'SHA256:ab+/cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO' });
  });

  it('takes a password in the URL but never shows it, and hands it over for redaction', () => {
    const { targets, secrets } = parse('sftp://backup:p%40ss%20word@vault/srv');
    expect(targets[0]).to.include({ password: 'p@ss word', display: 'sftp://backup@vault/srv' });
    expect(secrets).to.include('p@ss word');
  });

  it('names every bad destination at once', () => {
    const { problems } = parse(
      'ftp://old-server/cupm|sftp://vault/srv|sftp://b@vault|sftp://b@vault/x?fingerprint=MD5:aa|/mnt/a;sftp://b@h/x',
    );
    expect(problems).to.have.length(5);
    expect(problems[0]).to.match(/sftp:\/\/ and s3:\/\/ are the only URL schemes supported/);
    expect(problems[1]).to.match(/names no user/);
    expect(problems[2]).to.match(/names no folder/);
    expect(problems[3]).to.match(/fingerprint "MD5:aa" is not SHA256:<base64>/);
    expect(problems[4]).to.match(/looks like two destinations run together; separate destinations with \| or a line break/);
  });
});

describe('off-site and retention settings in the configuration', () => {
  const load = (env: Record<string, string>) => loadConfig({ env, cwd: '/opt/cupm', platform: 'linux' });

  it('refuses an SFTP destination without a pinned host key or credentials, and bad numbers, all at once', () => {
    expect(() => load({ CUPM_OFFSITE: 'sftp://b@vault/srv', CUPM_KEEP_DAILY: 'seven', CUPM_MAX_AGE_HOURS: '-1', CUPM_LOG_MAX_BYTES: '10' }))
      .to.throw()
      .that.satisfies((error: { problems: string[] }) => {
        expect(error.problems.join('\n'))
          .to.match(/has no pinned host key: set CUPM_OFFSITE_KNOWN_HOSTS/)
          .and.match(/has no credentials: set CUPM_OFFSITE_IDENTITY/)
          .and.match(/CUPM_KEEP_DAILY .* must be a whole number/)
          .and.match(/CUPM_MAX_AGE_HOURS .* must be a positive number of hours/)
          .and.match(/CUPM_LOG_MAX_BYTES .* at least 4096/);
        return true;
      });
  });

  it('reads the retention rules, the age limit and the log size, with their defaults', () => {
    expect(load({}).nightly).to.deep.equal({ retention: {}, maxAgeHours: 26, logMaxBytes: 5 * 1024 * 1024 });
    const config = load({
      CUPM_KEEP_LAST: '3',
      CUPM_KEEP_MONTHLY: '12',
      CUPM_MAX_AGE_HOURS: '48',
      CUPM_OFFSITE: '/mnt/cupm',
      CUPM_OFFSITE_PASSWORD: ' spaced ',
    });
    expect(config.nightly).to.deep.equal({ retention: { last: 3, monthly: 12 }, maxAgeHours: 48, logMaxBytes: 5 * 1024 * 1024 });
    expect(config.offsite.sftp.password).to.equal(' spaced ');
    expect(config.offsite.secrets).to.deep.equal([' spaced ']);
    expect(config.warnings).to.deep.equal([]);
  });
});
