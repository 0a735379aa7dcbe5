import fs from 'node:fs/promises';
import { locateCupmFiles, type CupmFile } from '../artifacts/cupm-files.js';
import { readConnectionUrl } from '../artifacts/dfc-ds-xml.js';
import { DB_HOST_KEY, DB_HOSTLIST_KEY, dbHostKey, readProperties } from '../artifacts/dfc-properties.js';
import { parseHostList } from '../artifacts/host.js';
import { CUPM_PORT_KEYS } from '../restore/ports.js';
import { readCupmVersion } from '../artifacts/install-log.js';
import type { Config } from '../config/config.js';
import { failFrom, fail, pass, warn, type CheckResult } from './check.js';

/** What the file checks learned, for the checks that read the files further (hosts, ports). */
export interface FileFacts {
  files: CupmFile[] | undefined;
  /** dfc.properties as Java reads it, when it parsed. */
  properties?: Map<string, string>;
}

/**
 * The install dir (no spaces), the five files present and readable, the version in install.log,
 * dfc.properties readable as Java reads it, and the database host of dfc.properties and dfc-ds.xml
 * the same.
 */
export async function fileChecks(config: Config, facts: FileFacts): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const dir = config.installDir;
  if (dir === undefined) {
    return [
      fail(
        'files.install-dir',
        'CUPM install dir',
        'CUPM_INSTALL_DIR is not set',
        'set CUPM_INSTALL_DIR to the CUPM install folder (C:\\CUPM by default)',
      ),
    ];
  }
  results.push(
    /\s/.test(dir)
      ? fail(
          'files.install-path',
          'Install dir path has no spaces',
          `${dir} has a space in it: the install guide forbids it (CUPM's scripts break on it)`,
          'install CUPM into a folder without spaces, e.g. C:\\CUPM (not under Program Files)',
        )
      : pass('files.install-path', 'Install dir path has no spaces', dir),
  );
  try {
    facts.files = locateCupmFiles(dir);
    results.push(pass('files.present', 'The five CUPM files, present and readable', facts.files.map((f) => f.relativePath).join(', ')));
  } catch (error) {
    results.push(
      failFrom(
        'files.present',
        'The five CUPM files, present and readable',
        error,
        'restore the missing files from an archive (cupm-backup restore), or reinstall CUPM',
      ),
    );
    return results;
  }
  const log = facts.files.find((f) => f.role === 'installLog')!;
  try {
    const version = readCupmVersion(log.absolutePath);
    results.push(
      version === null
        ? warn(
            'files.version',
            'CUPM version in install.log',
            `${log.absolutePath} does not say which version is installed`,
            'archives record the version as unknown; restores then need --allow-version-mismatch',
          )
        : pass('files.version', 'CUPM version in install.log', `CUPM ${version}`),
    );
  } catch (error) {
    results.push(failFrom('files.version', 'CUPM version in install.log', error));
  }
  results.push(...(await dfcChecks(facts.files, facts)));
  return results;
}

/** dfc.properties parses (ports are numbers, a database host is named); the two files name the same database. */
async function dfcChecks(files: CupmFile[], facts: FileFacts): Promise<CheckResult[]> {
  const propertiesFile = files.find((f) => f.role === 'dfcProperties')!;
  const dsFile = files.find((f) => f.role === 'dfcDs')!;
  const title = 'sep\\dfc.properties parses';
  let text: string;
  let properties: Map<string, string>;
  try {
    // Latin-1: Properties.load reads ISO 8859-1; line ends are CRLF, LF or CR alike to the parser.
    text = await fs.readFile(propertiesFile.absolutePath, 'latin1');
    properties = readProperties(text, { file: propertiesFile.absolutePath });
  } catch (error) {
    return [failFrom('files.dfc-properties', title, error, 'restore dfc.properties from an archive, or fix the line Java cannot read')];
  }
  const problems: string[] = [];
  for (const key of CUPM_PORT_KEYS) {
    const value = properties.get(key)?.trim();
    if (value !== undefined && !(/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535))
      problems.push(`${key}=${value} is not a port number`);
  }
  const hostKey = dbHostKey(text);
  if (hostKey === undefined) problems.push(`it names no database host (${DB_HOST_KEY} or ${DB_HOSTLIST_KEY})`);
  if (problems.length > 0) {
    return [
      fail(
        'files.dfc-properties',
        title,
        `${propertiesFile.absolutePath}: ${problems.join('; ')}`,
        'correct those values (CUPM reads them at start-up)',
      ),
    ];
  }
  facts.properties = properties;
  const results = [pass('files.dfc-properties', title, `${properties.size} settings; database host in ${hostKey}`)];

  const agreeTitle = 'Database host: dfc.properties and dfc-ds.xml agree';
  const hostValue = properties.get(hostKey!)!.trim();
  const listed = hostKey === DB_HOSTLIST_KEY ? parseHostList(hostValue).entries.map((e) => e.host) : [hostValue];
  let url;
  try {
    url = readConnectionUrl(await fs.readFile(dsFile.absolutePath, 'latin1'), { file: dsFile.absolutePath });
  } catch (error) {
    results.push(failFrom('files.hosts-agree', agreeTitle, error));
    return results;
  }
  const dbPort = properties.get('dfc.postgres.port')?.trim();
  const urlPort = url.port ?? 5432;
  if (!listed.some((h) => h.toLowerCase() === url.host.toLowerCase())) {
    results.push(
      fail(
        'files.hosts-agree',
        agreeTitle,
        `${hostKey}=${hostValue}, but the connection-url of dfc-ds.xml says ${url.host}: JBoss and the rest of CUPM would use different databases`,
        'make both name the database server (cupm-backup restore --db-host HOST rewrites both)',
      ),
    );
  } else if (dbPort !== undefined && Number(dbPort) !== urlPort) {
    results.push(
      fail(
        'files.hosts-agree',
        agreeTitle,
        `dfc.postgres.port=${dbPort}, but the connection-url of dfc-ds.xml says port ${urlPort}`,
        'make both name the port the database listens on (cupm-backup restore --db-port PORT rewrites both)',
      ),
    );
  } else {
    results.push(pass('files.hosts-agree', agreeTitle, `${url.host}:${urlPort}`));
  }
  return results;
}
