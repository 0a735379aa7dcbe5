import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export const JBOSS_FOLDER_85 = 'EnterprisePlatform-4.2.0.GA_CP09';

export interface InstallTreeOptions {
  dbHost: string;
  dbPort?: number;
  cupmVersion?: string;
  jbossFolder?: string;
  /** The app role's password, as CUPM keeps it in dfc-ds.xml. */
  dbPassword?: string;
}

/**
 * Writes a sample CUPM install tree with the five files a backup carries, in the shapes a Windows
 * install has them: CRLF line ends, escaped Windows paths in dfc.properties, a DOCTYPE in
 * dfc-ds.xml, a real JKS keystore when keytool is available (random bytes otherwise).
 */
export async function createInstallTree(dir: string, options: InstallTreeOptions): Promise<void> {
  const jboss = options.jbossFolder ?? JBOSS_FOLDER_85;
  const version = options.cupmVersion ?? '8.5';
  const port = options.dbPort ?? 5432;
  const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';
  const write = async (relative: string, content: string | Buffer) => {
    const file = path.join(dir, ...relative.split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  };

  await write(
    'install.log',
    crlf([
      '__________________________________________________________________________',
      '',
      'Installation: Successful.',
      '',
      `Cisco Unified Provisioning Manager ${version}`,
      `Product Version: ${version}`,
      'Install Directory: C:\\CUPM',
      '',
      'Summary',
      '-------',
      '1 Successes',
      '0 Warnings',
      '0 NonFatalErrors',
      '0 FatalErrors',
    ]),
  );
  await write(
    'sep/dfc.properties',
    crlf([
      '#DFC configuration',
      `#${new Date('2011-03-15T01:22:41Z').toUTCString()}`,
      '! ports used by CUPM (see the install guide before changing them)',
      'dfc.jboss.port=46008',
      `dfc.postgres.port=${port}`,
      'dfc.nice.rmi.registry.internal.port=46001',
      'dfc.webport=80',
      `dfc.postgres.host=${options.dbHost}`,
      'dfc.postgres.db=cupm',
      'dfc.postgres.user=cupm',
      'dfc.install.dir=C\\:\\\\CUPM',
      'dfc.log.dir=C\\:\\\\CUPM\\\\logs',
      'dfc.welcome.text=\\u3088\\u3046\\u3053\\u305d CUPM',
      'dfc.nice.engines=nice-primary,\\',
      '    nice-secondary',
    ]),
  );
  await write('sep/dfc.keystore', await makeKeystore(dir));
  await write(
    `${jboss}/server/cupm/conf/login-config.xml`,
    crlf([
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<!DOCTYPE policy PUBLIC "-//JBoss//DTD JBOSS Security Config 3.0//EN" "http://www.jboss.org/j2ee/dtd/security_config.dtd">',
      '<policy>',
      '  <application-policy name="cupm">',
      '    <authentication>',
      '      <login-module code="org.jboss.security.auth.spi.DatabaseServerLoginModule" flag="required">',
      '        <module-option name="dsJndiName">java:/DfcDS</module-option>',
      '        <module-option name="principalsQuery">select password from dfc_user where name=?</module-option>',
      '      </login-module>',
      '    </authentication>',
      '  </application-policy>',
      '</policy>',
    ]),
  );
  await write(
    `${jboss}/server/cupm/deploy/dfc-ds.xml`,
    crlf([
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<!DOCTYPE datasources PUBLIC "-//JBoss//DTD JBOSS JCA Config 1.5//EN" "http://www.jboss.org/j2ee/dtd/jboss-ds_1_5.dtd">',
      '<!-- CUPM datasource: the DB host below is rewritten when the database moves -->',
      '<datasources>',
      '  <local-tx-datasource>',
      '    <jndi-name>DfcDS</jndi-name>',
      `    <connection-url>jdbc:postgresql://${options.dbHost}:${port}/cupm</connection-url>`,
      '    <driver-class>org.postgresql.Driver</driver-class>',
      '    <user-name>cupm</user-name>',
      `    <password>${options.dbPassword ?? 'cupm-app-secret'}</password>`,
      '    <min-pool-size>5</min-pool-size>',
      '    <max-pool-size>50</max-pool-size>',
      '  </local-tx-datasource>',
      '</datasources>',
    ]),
  );
}

/** A real JKS keystore from keytool when Java is installed, else bytes that are just as binary. */
async function makeKeystore(dir: string): Promise<Buffer> {
  const file = path.join(dir, '.keystore.tmp');
  try {
    await execa(
      'keytool',
      [
        '-genkeypair',
        '-keystore',
        file,
        '-storetype',
        'JKS',
        '-alias',
        'cupm',
        '-keyalg',
        'RSA',
        '-keysize',
        '2048',
        '-validity',
        '3650',
        '-dname',
        'CN=cupm.example.com, O=Example, C=JP',
        '-storepass:env',
        'KS_PASS',
        '-keypass:env',
        'KS_PASS',
      ],
      { env: { KS_PASS: 'changeit' }, stdin: 'ignore' },
    );
    return await fs.readFile(file);
  } catch {
    return crypto.randomBytes(2300);
  } finally {
    await fs.rm(file, { force: true });
  }
}
