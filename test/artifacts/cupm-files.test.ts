import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { locateCupmFiles } from '../../src/artifacts/cupm-files.js';
import { parseCupmVersion, readCupmVersion, sameCupmVersion } from '../../src/artifacts/install-log.js';
import { ConfigError } from '../../src/errors.js';
import { createInstallTree } from '../../src/sandbox/install-tree.js';

describe('the CUPM file set', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-tree-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('finds the five files, with the JBoss folder found rather than assumed', async () => {
    await createInstallTree(dir, { dbHost: '10.0.0.5', jbossFolder: 'EnterprisePlatform-4.3.0.GA_CP10' });
    const files = locateCupmFiles(dir);
    expect(files.map((f) => f.relativePath)).to.deep.equal([
      'install.log',
      'sep/dfc.properties',
      'sep/dfc.keystore',
      'EnterprisePlatform-4.3.0.GA_CP10/server/cupm/conf/login-config.xml',
      'EnterprisePlatform-4.3.0.GA_CP10/server/cupm/deploy/dfc-ds.xml',
    ]);
  });

  it('names every missing file by its full path', async () => {
    await createInstallTree(dir, { dbHost: '10.0.0.5' });
    await fs.rm(path.join(dir, 'sep', 'dfc.keystore'));
    await fs.rm(path.join(dir, 'install.log'));
    const error = (() => {
      try {
        locateCupmFiles(dir);
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error).to.be.instanceOf(ConfigError);
    expect(error!.problems).to.deep.equal([path.join(dir, 'install.log'), path.join(dir, 'sep', 'dfc.keystore')]);
  });

  it('says when the install dir itself is missing', () => {
    expect(() => locateCupmFiles(path.join(dir, 'nope'))).to.throw(ConfigError, /install dir .*nope does not exist/);
  });

  it('reads the CUPM version from install.log whatever its encoding and line ends', async () => {
    await createInstallTree(dir, { dbHost: 'x', cupmVersion: '8.5' });
    expect(readCupmVersion(path.join(dir, 'install.log'))).to.equal('8.5');
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from('Install Begin\r\nCisco Unified Provisioning Manager 2.2\r\n', 'utf16le'),
    ]);
    await fs.writeFile(path.join(dir, 'u16.log'), utf16);
    expect(readCupmVersion(path.join(dir, 'u16.log'))).to.equal('2.2');
    expect(parseCupmVersion('nothing to see')).to.equal(null);
  });

  it('treats 8.5 and 8.5.0 as the same release, 2.2 and 8.5 not', () => {
    expect(sameCupmVersion('8.5', '8.5.0')).to.equal(true);
    expect(sameCupmVersion('2.2', '8.5')).to.equal(false);
  });
});
