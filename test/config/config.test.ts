import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { loadConfig, splitCommand } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { secretsOf } from '../../src/security/redact.js';

describe('configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-config-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const base = { CUPM_INSTALL_DIR: '/opt/cupm', CUPM_SERVICE_MANAGER: 'none' };

  it('reads ./cupm-backup.env when present, and the environment beats it', async () => {
    await fs.writeFile(path.join(dir, 'cupm-backup.env'), 'PGHOST=db-from-file\nPGPORT=6000\nCUPM_DATABASE=fromfile\n');
    const config = loadConfig({ env: { ...base, PGHOST: 'db-from-env' }, cwd: dir, platform: 'linux' });
    expect(config.pg.host).to.equal('db-from-env');
    expect(config.pg.port).to.equal(6000);
    expect(config.database).to.equal('fromfile');
  });

  it('reads --env-file instead of ./cupm-backup.env, and flags beat everything', async () => {
    await fs.writeFile(path.join(dir, 'cupm-backup.env'), 'CUPM_DATABASE=default-file\n');
    await fs.writeFile(path.join(dir, 'site.env'), 'CUPM_BACKUP_DIR=/srv/from-file\nCUPM_DB_ROLE=siterole\n');
    const config = loadConfig({
      env: { ...base, CUPM_BACKUP_DIR: '/srv/from-env' },
      cwd: dir,
      envFile: 'site.env',
      overrides: { CUPM_BACKUP_DIR: '/srv/from-flag' },
      platform: 'linux',
    });
    expect(config.backupDir).to.equal('/srv/from-flag');
    expect(config.dbRole).to.equal('siterole');
    expect(config.database, 'the default file is not read when --env-file is given').to.equal('cupm');
  });

  it('refuses a missing --env-file, naming it', () => {
    expect(() => loadConfig({ env: base, cwd: dir, envFile: 'nope.env' })).to.throw(ConfigError, /nope\.env/);
  });

  it('applies the documented defaults', () => {
    const config = loadConfig({ env: { CUPM_SERVICE_MANAGER: 'none' }, cwd: dir, platform: 'linux' });
    expect(config.database).to.equal('cupm');
    expect(config.dbRole).to.equal('cupm');
    expect(config.services).to.deep.equal(['Apache', 'cupm JBossService', 'cupm NiceService']);
    expect(config.serviceTimeoutSeconds).to.equal(120);
    expect(config.backupDir).to.equal(path.join(dir, 'backups'));
    expect(config.installDir).to.equal(undefined);
  });

  it('defaults to C:\\CUPM and the windows service manager on Windows', () => {
    const config = loadConfig({ env: {}, cwd: 'C:\\Users\\admin', platform: 'win32' });
    expect(config.installDir).to.equal('C:\\CUPM');
    expect(config.serviceManager).to.equal('windows');
  });

  it('reports every problem at once, with exit code 2', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        env: { PGPORT: 'fivefourthreetwo', CUPM_SERVICE_MANAGER: 'launchd', CUPM_SERVICE_TIMEOUT: '-3', CUPM_SERVICES: 'Apache,,NICE' },
        cwd: dir,
        platform: 'linux',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect(error!.exitCode).to.equal(2);
    const text = error!.describe();
    expect(text)
      .to.match(/PGPORT/)
      .and.match(/CUPM_SERVICE_MANAGER/)
      .and.match(/CUPM_SERVICE_TIMEOUT/)
      .and.match(/CUPM_SERVICES/);
    expect(error!.problems).to.have.length(4);
  });

  it('requires the three command templates for the command service manager', () => {
    expect(() => loadConfig({ env: { CUPM_SERVICE_MANAGER: 'command', CUPM_SERVICE_COMMAND_STOP: 'svc stop {service}' }, cwd: dir }))
      .to.throw(ConfigError)
      .with.property('problems')
      .that.has.length(2);
  });

  it('splits command templates like a shell, keeps quoted spaces, and runs no shell', () => {
    const config = loadConfig({
      env: {
        ...base,
        CUPM_SERVICE_MANAGER: 'command',
        CUPM_SERVICE_COMMAND_STOP: `'/opt/my tools/svc' stop "{service}"`,
        CUPM_SERVICE_COMMAND_START: '/usr/bin/svc start {service} $HOME',
        CUPM_SERVICE_COMMAND_STATUS: '/usr/bin/svc status {service}',
      },
      cwd: dir,
    });
    expect(config.serviceCommands!.stop).to.deep.equal(['/opt/my tools/svc', 'stop', '{service}']);
    expect(config.serviceCommands!.start).to.deep.equal(['/usr/bin/svc', 'start', '{service}', '$HOME']);
    expect(splitCommand('svc stop {service} && rm -rf /'))
      .to.be.a('string')
      .and.match(/shell operators/);
  });

  it('warns about CUPM_ variables it does not know (typos)', () => {
    const config = loadConfig({ env: { ...base, CUPM_BACKUPDIR: '/x' }, cwd: dir });
    expect(config.warnings.join('\n')).to.match(/CUPM_BACKUPDIR/);
  });

  it('keeps a password with any characters verbatim', async () => {
    const password = `p@ss!w#rd$ 'quoted' "double";:`;
    await fs.writeFile(path.join(dir, 'cupm-backup.env'), `PGPASSWORD='${password.replace(/'/g, "\\'")}'\n`);
    const fromEnv = loadConfig({ env: { ...base, PGPASSWORD: password }, cwd: dir });
    expect(fromEnv.pg.password).to.equal(password);
  });

  it('CUPM_SERVER names the CUPM server (\\\\HOST accepted); unset, the server is this machine', async () => {
    expect(loadConfig({ env: base, cwd: dir }).server).to.equal(undefined);
    await fs.writeFile(
      path.join(dir, 'cupm01.env'),
      'CUPM_SERVER=\\\\cupm01.example.com\nCUPM_SERVER_USER=CUPM01\\Administrator\nCUPM_SERVER_PASSWORD=" s3cret "\n',
    );
    const config = loadConfig({ env: base, cwd: dir, envFile: 'cupm01.env' });
    expect(config.server).to.deep.equal({ host: 'cupm01.example.com', user: 'CUPM01\\Administrator', password: ' s3cret ' });
    expect(config.warnings).to.deep.equal([]);
    expect(secretsOf(config), 'its password is redacted like every other').to.include(' s3cret ');
    expect(loadConfig({ env: { ...base, CUPM_SERVER: '10.1.2.3' }, cwd: dir }).server?.host).to.equal('10.1.2.3');
  });

  it('refuses a CUPM_SERVER that is no host name, and a server account without a server', () => {
    expect(() => loadConfig({ env: { ...base, CUPM_SERVER: 'cupm 01' }, cwd: dir }))
      .to.throw(ConfigError)
      .that.satisfies((error: ConfigError) => /CUPM_SERVER .*must be a host name or IP address.*"cupm 01"/.test(error.problems.join('\n')));
    expect(() => loadConfig({ env: { ...base, CUPM_SERVER_USER: 'admin' }, cwd: dir }))
      .to.throw(ConfigError)
      .that.satisfies((error: ConfigError) => /CUPM_SERVER_USER .*is set but CUPM_SERVER is not/.test(error.problems.join('\n')));
  });

  it('CUPM_SERVICE_MANAGER=rpc needs the server and its account', () => {
    expect(() => loadConfig({ env: { ...base, CUPM_SERVICE_MANAGER: 'rpc', CUPM_SERVER: 'cupm01' }, cwd: dir }))
      .to.throw(ConfigError)
      .that.satisfies((error: ConfigError) => /rpc needs CUPM_SERVER_USER, CUPM_SERVER_PASSWORD/.test(error.problems.join('\n')));
    const config = loadConfig({
      env: { ...base, CUPM_SERVICE_MANAGER: 'rpc', CUPM_SERVER: 'cupm01', CUPM_SERVER_USER: 'admin', CUPM_SERVER_PASSWORD: 'pw' },
      cwd: dir,
    });
    expect(config.serviceManager).to.equal('rpc');
  });
});
