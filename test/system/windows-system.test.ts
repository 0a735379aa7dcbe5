import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '../support/expect.js';
import { createFakeSc, type FakeSc } from '../support/fake-sc/fake-sc.js';
import { CUPM_UNINSTALLER, PG82_PRODUCT_CODE, PG90_PRODUCT_CODE, RecordedWindows } from '../support/recorded-windows.js';
import { decodeScOutput, parseRegQuery, regValue } from '../../src/system/windows-output.js';
import { programsFromRegistry, splitWindowsCommandLine, uninstallCommand } from '../../src/system/installed-programs.js';
import { readNetUser } from '../../src/system/net-user.js';
import { expandWindowsEnv } from '../../src/system/registry.js';
import { WindowsSystemDriver } from '../../src/system/windows-system.js';
import { isUncPath, isWithin, looksLikeWindowsPath, tooBroadToDelete, volumeOf } from '../../src/system/windows-paths.js';
import { JobFailedError } from '../../src/errors.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/system/', import.meta.url));
const fixture = async (name: string) => decodeScOutput(await readFile(path.join(FIXTURES, name)));

const UNINSTALL = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const UNINSTALL_WOW = 'HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const PROFILE_LIST = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';

describe('reading what Windows tools print (recorded output)', () => {
  it('reads reg query output of Windows Server 2008: four-space columns, empty values, REG_EXPAND_SZ', async () => {
    const keys = parseRegQuery(await fixture('reg/uninstall-2008-wow64.txt'));
    const cupm = keys.find((k) => k.path.endsWith('\\Cisco Unified Provisioning Manager'))!;
    expect(regValue(cupm, 'displayname')).to.equal('Cisco Unified Provisioning Manager');
    expect(regValue(cupm, 'UninstallString')).to.equal(`"${CUPM_UNINSTALLER}"`);
    expect(regValue(cupm, 'Comments')).to.equal('');
    const pg = keys.find((k) => k.path.endsWith(PG82_PRODUCT_CODE))!;
    expect(pg.values.find((v) => v.name === 'UninstallString')).to.deep.equal({
      name: 'UninstallString',
      type: 'REG_EXPAND_SZ',
      data: `MsiExec.exe /I${PG82_PRODUCT_CODE}`,
    });
  });

  it('reads reg.exe 3.0 output of Windows Server 2003: the banner and tab-separated columns', async () => {
    const keys = parseRegQuery(await fixture('reg/uninstall-2003.txt'));
    expect(keys.map((k) => path.win32.basename(k.path))).to.deep.equal([
      'Uninstall',
      'Cisco Unified Provisioning Manager',
      PG82_PRODUCT_CODE,
    ]);
    const programs = programsFromRegistry(keys);
    expect(programs.map((p) => [p.displayName, p.displayVersion])).to.deep.equal([
      ['Cisco Unified Provisioning Manager', '2.1.0.48'],
      ['PostgreSQL 8.2', '8.2.4.0'],
    ]);
    expect(programs[1]!.msiProductCode).to.equal(PG82_PRODUCT_CODE);
  });

  it('reads the same values whatever the line ends', async () => {
    const crlf = await fixture('reg/profilelist-2008.txt');
    expect(parseRegQuery(crlf.replace(/\r\n/g, '\n'))).to.deep.equal(parseRegQuery(crlf));
  });

  it('lists only entries with a display name, and knows MSI products by their product code', async () => {
    const programs = programsFromRegistry(parseRegQuery(await fixture('reg/uninstall-2008-wow64.txt')));
    expect(programs.map((p) => p.displayName)).to.deep.equal(['Cisco Unified Provisioning Manager', 'PostgreSQL 8.2', 'PostgreSQL 9.0']);
    expect(programs.map((p) => p.msiProductCode)).to.deep.equal([undefined, PG82_PRODUCT_CODE, PG90_PRODUCT_CODE]);
  });

  it('runs uninstallers silently: msiexec /x /qn for MSI, -i silent for InstallAnywhere, QuietUninstallString where given', async () => {
    const [cupm, pg] = programsFromRegistry(parseRegQuery(await fixture('reg/uninstall-2008-wow64.txt')));
    expect(uninstallCommand(cupm!)).to.deep.equal({ file: CUPM_UNINSTALLER, args: ['-i', 'silent'], mode: 'installanywhere' });
    expect(uninstallCommand(pg!)).to.deep.equal({ file: 'msiexec.exe', args: ['/x', PG82_PRODUCT_CODE, '/qn', '/norestart'], mode: 'msi' });
    const quiet = { ...cupm!, quietUninstallString: '"C:\\Program Files\\Acme\\uninst.exe" /S /allusers' };
    expect(uninstallCommand(quiet)).to.deep.equal({
      file: 'C:\\Program Files\\Acme\\uninst.exe',
      args: ['/S', '/allusers'],
      mode: 'quiet',
    });
  });

  it('splits registered command lines the way Windows does, unquoted paths with spaces included', () => {
    expect(splitWindowsCommandLine('C:\\Program Files\\Acme Tool\\uninst.exe /S')).to.deep.equal([
      'C:\\Program Files\\Acme Tool\\uninst.exe',
      '/S',
    ]);
    expect(splitWindowsCommandLine('"C:\\a b\\u.exe" -i silent')).to.deep.equal(['C:\\a b\\u.exe', '-i', 'silent']);
    expect(splitWindowsCommandLine('MsiExec.exe /I{X}')).to.deep.equal(['MsiExec.exe', '/I{X}']);
    expect(splitWindowsCommandLine('u.exe "a b" c\\\\"d e" "x""y"')).to.deep.equal(['u.exe', 'a b', 'c\\d e', 'x"y']);
  });

  it('tells a missing user from a failure by the NET HELPMSG number, in English and Japanese', async () => {
    expect(readNetUser({ exitCode: 2, stdout: '', stderr: await fixture('net/user-not-found.stderr.txt') })).to.deep.equal({
      kind: 'not-found',
    });
    expect(readNetUser({ exitCode: 2, stdout: '', stderr: await fixture('net/ja/user-not-found.stderr.txt') })).to.deep.equal({
      kind: 'not-found',
    });
    expect(readNetUser({ exitCode: 2, stdout: '', stderr: await fixture('net/ja/access-denied.stderr.txt') })).to.include({
      kind: 'error',
      systemError: 5,
    });
    expect(readNetUser({ exitCode: 2, stdout: '', stderr: await fixture('net/access-denied.stderr.txt') })).to.include({
      kind: 'error',
      systemError: 5,
    });
    expect(readNetUser({ exitCode: 0, stdout: await fixture('net/user-cupmuser.txt'), stderr: '' })).to.deep.equal({ kind: 'ok' });
  });

  it('expands %SystemDrive% in registry values, whatever the case of the name', () => {
    expect(expandWindowsEnv('%systemdrive%\\Users\\cupmuser', { SystemDrive: 'D:' })).to.equal('D:\\Users\\cupmuser');
    expect(expandWindowsEnv('%NOPE%\\x', {})).to.equal('%NOPE%\\x');
  });
});

describe('Windows paths, whatever host runs the tool', () => {
  it('knows drive and UNC paths, and their volume', () => {
    expect(looksLikeWindowsPath('C:\\CUPM')).to.equal(true);
    expect(looksLikeWindowsPath('\\\\fileserver\\backups\\cupm')).to.equal(true);
    expect(looksLikeWindowsPath('/var/backups')).to.equal(false);
    expect(isUncPath('\\\\fileserver\\backups')).to.equal(true);
    expect(volumeOf('c:\\CUPM')).to.equal('c:');
    expect(volumeOf('\\\\FileServer\\Backups\\x')).to.equal('\\\\fileserver\\backups');
  });

  it('compares paths as Windows does: either slash, any case', () => {
    expect(isWithin('c:/cupm/backups/a.zip', 'C:\\CUPM')).to.equal(true);
    expect(isWithin('C:\\CUPM2\\a.zip', 'C:\\CUPM')).to.equal(false);
    expect(isWithin('\\\\srv\\share\\cupm\\a.zip', '\\\\SRV\\Share')).to.equal(true);
  });

  it('refuses to delete drive roots, shares and the folders Windows lives in', () => {
    for (const p of [
      'C:\\',
      'C:',
      'D:\\',
      '\\\\srv\\share',
      'C:\\Windows',
      'c:\\windows\\system32',
      'C:\\Program Files',
      'C:\\Users',
      'CUPM',
    ]) {
      expect(tooBroadToDelete(p), p).to.be.a('string');
    }
    for (const p of ['C:\\CUPM', 'D:\\Apps\\CUPM', 'C:\\Program Files\\Zero G Registry', '\\\\srv\\share\\cupm']) {
      expect(tooBroadToDelete(p), p).to.equal(undefined);
    }
  });
});

describe('the Windows system driver (recorded commands)', () => {
  let sc: FakeSc;
  let windows: RecordedWindows;
  let system: WindowsSystemDriver;

  const machine = async (os: '2003' | '2008', extra: Partial<Parameters<typeof RecordedWindows.create>[0]> = {}) => {
    windows = await RecordedWindows.create({ os, sc, users: ['cupmuser'], ...extra });
    system = new WindowsSystemDriver({ runner: windows, env: windows.env, localPath: windows.localPath });
  };

  beforeEach(async () => {
    sc = await createFakeSc({ services: [{ keyName: 'cupmJBoss', displayName: 'cupm JBossService', state: 'STOPPED' }] });
  });
  afterEach(async () => {
    await windows?.cleanup();
    await sc.cleanup();
  });

  it('lists installed programs from both registry views on 64-bit Windows Server 2008', async () => {
    await machine('2008');
    const names = (await system.installedPrograms()).map((p) => p.displayName);
    expect(names).to.deep.equal([
      'Microsoft Office Enterprise 2007',
      'Cisco Unified Provisioning Manager',
      'PostgreSQL 8.2',
      'PostgreSQL 9.0',
    ]);
    expect(windows.commands()).to.deep.equal([`reg.exe query ${UNINSTALL} /s`, `reg.exe query ${UNINSTALL_WOW} /s`]);
  });

  it('reads a missing Wow6432Node key on 32-bit Windows Server 2003 as no programs there', async () => {
    await machine('2003');
    expect((await system.installedPrograms()).map((p) => p.displayName)).to.deep.equal([
      'Cisco Unified Provisioning Manager',
      'PostgreSQL 8.2',
    ]);
    expect(windows.calls.map((c) => c.exitCode)).to.deep.equal([0, 1]);
  });

  it('finds the home folder where the profile list puts it: C:\\Users on 2008, C:\\Documents and Settings on 2003', async () => {
    await machine('2008');
    expect(await system.profileFolders('CUPMUSER')).to.deep.equal(['C:\\Users\\cupmuser']);
    expect(windows.commands()).to.deep.equal([`reg.exe query "${PROFILE_LIST}" /s`]);
    await windows.cleanup();
    await machine('2003');
    expect(await system.profileFolders('cupmuser')).to.deep.equal(['C:\\Documents and Settings\\cupmuser']);
  });

  it('deletes a user once: the second time it is already absent', async () => {
    await machine('2008');
    expect(await system.userExists('cupmuser')).to.equal(true);
    expect(await system.deleteUser('cupmuser')).to.equal('deleted');
    expect(await system.deleteUser('cupmuser')).to.equal('absent');
    expect(await system.userExists('cupmuser')).to.equal(false);
    expect(windows.commands()).to.deep.equal([
      'net.exe user cupmuser',
      'net.exe user cupmuser /delete',
      'net.exe user cupmuser /delete',
      'net.exe user cupmuser',
    ]);
  });

  it('says what to do when deleting the user is denied (Japanese Windows, not elevated)', async () => {
    await machine('2008', { locale: 'ja', deleteUserDenied: true });
    const error = await expect(system.deleteUser('cupmuser')).to.be.rejectedWith(JobFailedError);
    expect(error.message).to.contain('net.exe user cupmuser /delete failed').and.contain('5');
    expect(error.hint).to.match(/elevated prompt/);
  });

  it('deletes a service by its display name through its key name, case-insensitively', async () => {
    await machine('2008');
    expect(await system.deleteService('CUPM jbossservice')).to.equal('deleted');
    expect(await system.deleteService('cupm JBossService')).to.equal('absent');
    expect(windows.commands()).to.deep.equal([
      'sc.exe delete "CUPM jbossservice"',
      'sc.exe getkeyname "CUPM jbossservice"',
      'sc.exe delete cupmJBoss',
      'sc.exe delete "cupm JBossService"',
      'sc.exe getkeyname "cupm JBossService"',
    ]);
  });

  it('runs the MSI uninstall of PostgreSQL 8.2 silently, and reads 1605 as already gone', async () => {
    await machine('2008', { uninstallers: { [PG82_PRODUCT_CODE]: { exitCode: 1605 } } });
    const pg = (await system.installedPrograms()).find((p) => p.displayName === 'PostgreSQL 8.2')!;
    expect(await system.uninstall(pg)).to.include({ outcome: 'absent' });
    expect(windows.commands().at(-1)).to.equal(`msiexec.exe /x ${PG82_PRODUCT_CODE} /qn /norestart`);
  });

  it('does not run an uninstaller whose program is gone: the entry is stale', async () => {
    await machine('2008');
    const cupm = (await system.installedPrograms()).find((p) => p.displayName.includes('Provisioning'))!;
    const result = await system.uninstall(cupm);
    expect(result.outcome).to.equal('absent');
    expect(result.detail).to.contain('is gone');
    expect(windows.commands()).to.have.length(2);
  });

  it('deletes folders with spaces in their names, and says "absent" the second time', async () => {
    await machine('2008');
    await windows.createFiles(['C:\\Program Files (x86)\\Zero G Registry\\.com.zerog.registry.xml']);
    expect(await system.removeFolder('C:\\Program Files (x86)\\Zero G Registry')).to.equal('deleted');
    expect(await system.removeFolder('C:\\Program Files (x86)\\Zero G Registry')).to.equal('absent');
    expect(await system.exists('C:\\Program Files (x86)')).to.equal(true);
  });
});
