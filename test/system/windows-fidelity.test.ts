import { expect } from '../support/expect.js';
import { fileEntryName } from '../../src/archive/format.js';
import { parseCupmVersion } from '../../src/artifacts/install-log.js';
import { loadConfig } from '../../src/config/config.js';
import type { ConfigError } from '../../src/errors.js';
import { formatChecklist, upgradeChecklist } from '../../src/upgrade/checklist.js';
import { cleanupTarget } from '../../src/upgrade/cleanup-plan.js';

describe('Windows fidelity, whatever host runs the tool', () => {
  it('names archive entries with forward slashes, from Windows or POSIX relative paths', () => {
    expect(fileEntryName('sep\\dfc.properties')).to.equal('files/sep/dfc.properties');
    expect(fileEntryName('EnterprisePlatform-4.2.0.GA_CP09\\server\\cupm\\deploy\\dfc-ds.xml')).to.equal(
      'files/EnterprisePlatform-4.2.0.GA_CP09/server/cupm/deploy/dfc-ds.xml',
    );
    expect(fileEntryName('sep/dfc.keystore')).to.equal('files/sep/dfc.keystore');
  });

  it('reads the version from install.log with CRLF, LF or bare CR line ends', () => {
    for (const end of ['\r\n', '\n', '\r']) {
      const log = ['Installation: Successful.', '', 'Cisco Unified Provisioning Manager 2.2', 'Product Version: 2.2', ''].join(end);
      expect(parseCupmVersion(log), JSON.stringify(end)).to.equal('2.2');
    }
  });

  it('keeps CUPM_INSTALL_DIR=C:\\CUPM or a UNC path as the Windows path it is, also off Windows', () => {
    const config = (dir: string) => loadConfig({ env: { CUPM_INSTALL_DIR: dir }, cwd: '/tmp', platform: 'linux' }).installDir;
    expect(config('C:\\CUPM')).to.equal('C:\\CUPM');
    expect(config('c:/CUPM/')).to.equal('c:\\CUPM\\');
    expect(config('\\\\cupm01\\c$\\CUPM')).to.equal('\\\\cupm01\\c$\\CUPM');
    expect(config('CUPM')).to.equal('/tmp/CUPM');
    expect(loadConfig({ env: {}, cwd: 'C:\\Users\\admin', platform: 'win32' }).installDir).to.equal('C:\\CUPM');
  });

  it('plans the clean-up of a UNC or D: install dir with Windows paths, and the Zero G Registry of both Program Files', () => {
    const env = { SystemDrive: 'C:', ProgramFiles: 'C:\\Program Files', 'ProgramFiles(x86)': 'C:\\Program Files (x86)' };
    expect(cleanupTarget('D:\\Apps\\CUPM', env).zeroGFolders).to.deep.equal([
      'C:\\Program Files\\Zero G Registry',
      'C:\\Program Files (x86)\\Zero G Registry',
    ]);
    expect(cleanupTarget('\\\\cupm01\\d$\\CUPM', env).installDir).to.equal('\\\\cupm01\\d$\\CUPM');
    expect(cleanupTarget(undefined, {}).homeFolderGuesses[1]).to.equal('C:\\Users\\cupmuser (Windows Server 2008)');
    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as ConfigError).describe();
      }
      throw new Error('expected a refusal');
    };
    expect(refusal(() => cleanupTarget('D:\\', env))).to.contain('D:\\ is the root of a drive or share');
    expect(refusal(() => cleanupTarget('C:\\CUPM', env, 'bad/name'))).to.contain('"bad/name" is not a Windows user name');
  });

  it('tells in the checklist whether the archive already lies off the server', () => {
    const lines = (backupDir: string) =>
      formatChecklist(upgradeChecklist({ archive: `${backupDir}\\a.zip`, cupmVersion: '2.1', backupDir, installDir: 'C:\\CUPM' })).join(
        '\n',
      );
    expect(lines('\\\\fileserver\\cupm-backups')).to.contain('on a file share (\\\\fileserver\\cupm-backups), off this server');
    expect(lines('C:\\backups')).to.contain('Keep it off this server').and.contain('on the same drive as CUPM (C:\\)');
    expect(lines('E:\\backups')).to.contain('Keep it off this server').and.not.contain('same drive');
    expect(lines('E:\\backups')).to.contain('Line to End-user Association');
  });
});
