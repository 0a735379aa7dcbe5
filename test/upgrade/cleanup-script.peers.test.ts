import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { runCli } from '../support/cli.js';
import { expect } from '../support/expect.js';
import { createWinePrefix, type WinePrefix } from '../support/wine.js';

// The server's install dir: a space, an & and a % (cmd.exe treats both specially, even the % inside quotes).
const INSTALL_DIR = 'C:\\CUPM & Co 50%';
// The script lives in a folder with a space and an & too (its log goes next to it).
const SCRIPT_DIR = 'C:\\admin & ops';
const UNINSTALL = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const UNINSTALLERS = 'C:\\Uninstallers & Co';

/** Where a C:\ path of the prefix is on this host. */
function onHost(wine: WinePrefix, windowsPath: string): string {
  return path.join(wine.prefix, 'drive_c', ...windowsPath.replace(/^C:\\/i, '').split('\\'));
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe("upgrade cleanup --script: the batch file, run by Wine's cmd.exe against a prefix with the failed install in place", function () {
  this.timeout(300_000);
  let wine: WinePrefix;
  let work: string;

  before(async function () {
    this.timeout(600_000); // wineboot of a fresh prefix: 20-60 s, more on a busy machine
    wine = await createWinePrefix();
    work = await mkdtemp(path.join(tmpdir(), 'cupm-cleanup-script-'));
  });
  after(async function () {
    this.timeout(120_000);
    await wine?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function reg(...args: string[]): Promise<void> {
    const result = await execa(wine.regExe, args, { reject: false });
    if (result.exitCode !== 0) throw new Error(`reg ${args.join(' ')} failed: ${result.stdout} ${result.stderr}`);
  }

  async function keyExists(key: string): Promise<boolean> {
    return (await execa(wine.regExe, ['query', key], { reject: false })).exitCode === 0;
  }

  /** An uninstaller as a small batch file: records that it ran (with its arguments), removes its own key, as real ones do. */
  async function registerProgram(key: string, displayName: string, file: string): Promise<void> {
    await writeFile(
      onHost(wine, `${UNINSTALLERS}\\${file}`),
      ['@echo off', `echo ${key} %*>> "C:\\uninstallers-ran.txt"`, `reg delete "${UNINSTALL}\\${key}" /f >nul 2>&1`, 'exit /b 0', ''].join(
        '\r\n',
      ),
    );
    await reg('add', `${UNINSTALL}\\${key}`, '/v', 'DisplayName', '/t', 'REG_SZ', '/d', displayName, '/f');
    await reg('add', `${UNINSTALL}\\${key}`, '/v', 'UninstallString', '/t', 'REG_SZ', '/d', `"${UNINSTALLERS}\\${file}" -uninstall`, '/f');
  }

  async function ran(): Promise<string[]> {
    const text = await readFile(onHost(wine, 'C:\\uninstallers-ran.txt'), 'latin1').catch(() => '');
    return text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** Runs the script in its folder under Wine's cmd.exe, as a person on the server would. */
  async function runScript(): Promise<{ exitCode: number; stdout: string }> {
    const result = await execa('wine', ['cmd', '/c', 'cleanup.cmd'], {
      cwd: onHost(wine, SCRIPT_DIR),
      env: { ...process.env, ...wine.vars },
      reject: false,
      stdin: 'ignore',
      encoding: 'latin1',
      timeout: 240_000,
    });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout.replaceAll('\r\n', '\n') };
  }

  it('removes every part of the failed install with look-before-act, logs next to itself, and on a second run finds nothing to do', async () => {
    // The failed install: the four services (JBoss known by its display name, two running),
    // CUPM and PostgreSQL 8.2 in Add or Remove Programs (plus a PostgreSQL 15 that must stay),
    // the install dir, Zero G Registry, the user's home folder.
    await wine.createService('Apache2');
    await wine.createService('CupmJBoss', { displayName: 'cupm JbossService' });
    await wine.createService('cupm NICEService');
    await wine.createService('pgsql-8.2');
    await wine.ensure('Apache2', 'RUNNING');
    await wine.ensure('CupmJBoss', 'RUNNING');
    await mkdir(onHost(wine, UNINSTALLERS), { recursive: true });
    await registerProgram('CUPM85', 'Cisco Unified Provisioning Manager 8.5', 'Uninstall CUPM.cmd');
    await registerProgram('PostgreSQL 8.2', 'PostgreSQL 8.2', 'uninstall-pg82.cmd');
    await registerProgram('PG15', 'PostgreSQL 15', 'uninstall-pg15.cmd');
    for (const folder of [
      `${INSTALL_DIR}\\sep`,
      'C:\\Program Files\\Zero G Registry\\.com.zerog.registry.xml',
      'C:\\users\\cupmuser\\Desktop',
      SCRIPT_DIR,
    ]) {
      await mkdir(onHost(wine, folder), { recursive: true });
    }
    await writeFile(onHost(wine, `${INSTALL_DIR}\\sep\\dfc.properties`), 'dfc.postgres.host=localhost\n');

    const script = path.join(work, 'cleanup.cmd');
    const written = await runCli(
      ['upgrade', 'cleanup', '--script', script, '--server-install-dir', INSTALL_DIR, '--no-backup-check', '--json'],
      {
        env: { CUPM_BACKUP_DIR: path.join(work, 'backups'), CUPM_SERVICE_TIMEOUT: '60' },
      },
    );
    expect(written.exitCode, written.stderr).to.equal(0);
    const facts = written.json<{ script: string; log: string; steps: string[]; installDir: string }>();
    expect(facts).to.deep.include({ script, log: path.join(work, 'cleanup.log'), installDir: INSTALL_DIR });
    expect(facts.steps).to.have.length(10);
    const text = await readFile(script, 'latin1');
    expect(text)
      .to.include('\r\n')
      .and.not.match(/[^\r]\n/);
    expect(text)
      .to.include('"C:\\CUPM & Co 50%%"')
      .and.not.match(/^(?!rem ).*powershell/im);
    await writeFile(onHost(wine, `${SCRIPT_DIR}\\cleanup.cmd`), text, 'latin1');

    const first = await runScript();
    expect(first.exitCode, first.stdout).to.equal(0);
    const out = first.stdout;
    expect(out).to.include('running: "C:\\Uninstallers & Co\\Uninstall CUPM.cmd" -uninstall');
    expect(out).to.include('done: "Cisco Unified Provisioning Manager 8.5" uninstalled');
    expect(out).to.include('done: "PostgreSQL 8.2" uninstalled');
    expect(out).to.include('done: "Apache2" - key name "Apache2" - stopped, then deleted');
    expect(out).to.include('done: "cupm JbossService" - key name "CupmJBoss" - stopped, then deleted');
    expect(out).to.include('done: "cupm NICEService" - key name "cupm NICEService" - deleted');
    expect(out).to.include('done: "pgsql-8.2" - key name "pgsql-8.2" - deleted');
    // Wine has no local users (its net.exe knows only start, stop and use): the look finds none.
    expect(out).to.include('already absent: no user "cupmuser"');
    expect(out).to.include('done: deleted "C:\\Users\\cupmuser"');
    expect(out).to.include(`done: deleted "${INSTALL_DIR}"`);
    expect(out).to.include('done: deleted "C:\\Program Files\\Zero G Registry"');
    expect(out).to.include('Clean-up finished');

    expect(await ran()).to.deep.equal(['CUPM85 -uninstall', 'PostgreSQL 8.2 -uninstall']);
    expect(await keyExists(`${UNINSTALL}\\PG15`), 'another PostgreSQL is left alone').to.equal(true);
    for (const service of ['Apache2', 'CupmJBoss', 'cupm NICEService', 'pgsql-8.2'])
      expect(await wine.state(service), service).to.equal(null);
    for (const folder of [INSTALL_DIR, 'C:\\Program Files\\Zero G Registry', 'C:\\users\\cupmuser'])
      expect(await exists(onHost(wine, folder)), folder).to.equal(false);
    // Only what the clean-up names went: the folders next to them are still there.
    expect(await exists(onHost(wine, 'C:\\Program Files'))).to.equal(true);
    expect(await exists(onHost(wine, UNINSTALLERS))).to.equal(true);

    const log = (await readFile(onHost(wine, `${SCRIPT_DIR}\\cleanup.log`), 'latin1')).replaceAll('\r\n', '\n');
    expect(log).to.match(/^==== .*clean-up started/m);
    expect(log).to.include(`done: deleted "${INSTALL_DIR}"`).and.include('done: "Apache2" - key name "Apache2" - stopped, then deleted');

    const second = await runScript();
    expect(second.exitCode, second.stdout).to.equal(0);
    expect(second.stdout).to.include('Nothing to do: everything the clean-up removes is already gone.');
    expect(second.stdout).not.to.match(/done:|FAILED|running:/);
    expect(second.stdout.match(/already absent/g)).to.have.length(10);
    expect(await ran(), 'no uninstaller ran again').to.have.length(2);
    const log2 = (await readFile(onHost(wine, `${SCRIPT_DIR}\\cleanup.log`), 'latin1')).replaceAll('\r\n', '\n');
    expect(log2.match(/clean-up started/g)).to.have.length(2);
    expect(log2).to.match(/nothing to do$/m);
  });

  it('reports a stale entry (listed, uninstaller gone) as already absent instead of failing', async () => {
    await reg('add', `${UNINSTALL}\\CUPM21`, '/v', 'DisplayName', '/t', 'REG_SZ', '/d', 'CUPM 2.1', '/f');
    // (Not under INSTALL_DIR: Wine's cmd.exe drops a % from a value read through for /f, which Windows keeps.)
    await reg(
      'add',
      `${UNINSTALL}\\CUPM21`,
      '/v',
      'UninstallString',
      '/t',
      'REG_SZ',
      '/d',
      '"C:\\CUPM & old\\Uninstall_CUPM\\Uninstall CUPM.exe"',
      '/f',
    );
    const result = await runScript();
    expect(result.exitCode, result.stdout).to.equal(0);
    expect(result.stdout).to.include(
      'already absent: "CUPM 2.1" is still listed, but its uninstaller "C:\\CUPM & old\\Uninstall_CUPM\\Uninstall CUPM.exe" is gone - a stale entry',
    );
    expect(result.stdout).to.include('Nothing to do');
  });

  it('fails a step whose uninstaller fails, still runs the rest, and exits 1', async () => {
    await writeFile(onHost(wine, `${UNINSTALLERS}\\broken.cmd`), '@echo off\r\nexit /b 7\r\n');
    await reg('add', `${UNINSTALL}\\CUPM22`, '/v', 'DisplayName', '/t', 'REG_SZ', '/d', 'Cisco Unified Provisioning Manager 2.2', '/f');
    await reg('add', `${UNINSTALL}\\CUPM22`, '/v', 'UninstallString', '/t', 'REG_SZ', '/d', `"${UNINSTALLERS}\\broken.cmd"`, '/f');
    await mkdir(onHost(wine, `${INSTALL_DIR}\\sep`), { recursive: true });
    const result = await runScript();
    expect(result.exitCode, result.stdout).to.equal(1);
    // (Windows passes the 7 on; Wine's call of a batch file turns every failure into 1.)
    expect(result.stdout).to.match(/FAILED: the uninstaller of "Cisco Unified Provisioning Manager 2\.2" ended with exit [1-9]/);
    expect(result.stdout).to.include(`done: deleted "${INSTALL_DIR}"`);
    expect(result.stdout).to.include('The clean-up is NOT complete: 1 part(s) failed');
  });
});

describe('upgrade cleanup --script: refusals', () => {
  it('refuses without an archive of the old version (exit 4) and writes nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cupm-cleanup-script-'));
    try {
      const script = path.join(dir, 'cleanup.cmd');
      const run = await runCli(['upgrade', 'cleanup', '--script', script], { env: { CUPM_BACKUP_DIR: path.join(dir, 'backups') } });
      expect(run.exitCode, run.stderr).to.equal(4);
      expect(run.stderr).to.include('No verified archive').and.include('no script was written');
      expect(await exists(script)).to.equal(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses an install dir cmd.exe cannot carry (exit 2)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cupm-cleanup-script-'));
    try {
      const script = path.join(dir, 'cleanup.cmd');
      const run = await runCli(['upgrade', 'cleanup', '--script', script, '--server-install-dir', 'C:\\CUPM\u00e9', '--no-backup-check'], {
        env: { CUPM_BACKUP_DIR: dir },
      });
      expect(run.exitCode, run.stderr).to.equal(2);
      expect(run.stderr).to.include('outside ASCII');
      expect(await exists(script)).to.equal(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
