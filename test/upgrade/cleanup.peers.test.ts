import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { buildZip, manifestFor, typicalEntries } from '../support/archives.js';
import { createFakeSc, type FakeSc } from '../support/fake-sc/fake-sc.js';
import {
  CUPM_UNINSTALLER,
  PG82_PRODUCT_CODE,
  PG90_PRODUCT_CODE,
  RecordedWindows,
  type RecordedWindowsOptions,
} from '../support/recorded-windows.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { EXIT, RefusedError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { WindowsServiceManager } from '../../src/services/windows.js';
import { WindowsSystemDriver } from '../../src/system/windows-system.js';
import { cleanupFailure, upgradeCleanup, type UpgradeCleanupOptions } from '../../src/upgrade/cleanup.js';

const UNINSTALL = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const UNINSTALL_WOW = 'HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const PROFILE_LIST = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';
const CUPM_KEY = 'Cisco Unified Provisioning Manager';

/** What a failed 2.2 -> 8.5 upgrade leaves on disk. */
const LEFT_BEHIND = [
  CUPM_UNINSTALLER,
  'C:\\CUPM\\install.log',
  'C:\\CUPM\\sep\\dfc.properties',
  'C:\\CUPM\\pgsql8.2\\bin\\psql.exe',
  'C:\\CUPM\\pgsql8.2\\data\\base\\1\\1259',
  'C:\\CUPM\\EnterprisePlatform-4.2.0.GA_CP09\\server\\cupm\\deploy\\dfc-ds.xml',
];
/** What must survive the clean-up. */
const BYSTANDERS = ['C:\\Users\\Administrator\\NTUSER.DAT', 'C:\\Program Files\\Other Vendor\\keep.txt', 'C:\\CUPM2\\not-ours.txt'];

describe('upgrade cleanup of a failed 2.x -> 8.5 upgrade (recorded Windows)', () => {
  let sc: FakeSc;
  let windows: RecordedWindows;
  let backupDir: string;
  let config: Config;

  /** A Windows server after a failed upgrade, with a pre-upgrade archive of CUPM 2.2 in the backup dir. */
  async function failedUpgrade(
    options: Partial<RecordedWindowsOptions> = {},
    services: Parameters<typeof createFakeSc>[0]['services'] = runningServices(),
  ) {
    sc = await createFakeSc({ services });
    windows = await RecordedWindows.create({
      os: '2008',
      sc,
      users: ['cupmuser', 'Administrator'],
      uninstallers: {
        [CUPM_UNINSTALLER]: {
          exitCode: 0,
          unregisters: [CUPM_KEY],
          removes: ['C:\\CUPM\\Uninstall_Cisco Unified Provisioning Manager', 'C:\\CUPM\\EnterprisePlatform-4.2.0.GA_CP09'],
        },
        [PG82_PRODUCT_CODE]: { exitCode: 0, unregisters: [PG82_PRODUCT_CODE], removes: ['C:\\CUPM\\pgsql8.2'] },
      },
      ...options,
    });
    const home = options.os === '2003' ? 'C:\\Documents and Settings\\cupmuser' : 'C:\\Users\\cupmuser';
    const zeroG = options.os === '2003' ? 'C:\\Program Files\\Zero G Registry' : 'C:\\Program Files (x86)\\Zero G Registry';
    await windows.createFiles([
      ...LEFT_BEHIND,
      `${home}\\NTUSER.DAT`,
      `${home}\\Desktop\\notes.txt`,
      `${zeroG}\\.com.zerog.registry.xml`,
      ...BYSTANDERS,
    ]);
    backupDir = await mkdtemp(path.join(tmpdir(), 'cupm-upgrade-backups-'));
    await writeArchive('cupm-backup_cupm01_20261120T020000Z_pre-upgrade.zip', { version: '2.2', label: 'pre-upgrade' });
    config = loadConfig({
      env: { CUPM_INSTALL_DIR: 'C:\\CUPM', CUPM_BACKUP_DIR: backupDir, CUPM_SERVICE_MANAGER: 'none' },
      cwd: backupDir,
      platform: 'linux',
    });
  }

  function runningServices(state: 'RUNNING' | 'STOPPED' = 'RUNNING') {
    // pendingQueries 1: a stop takes one query of STOP_PENDING, as a quick service does.
    return [
      { keyName: 'Apache2', displayName: 'Apache2', state, pendingQueries: 1 },
      { keyName: 'cupmJBoss', displayName: 'cupm JBossService', state, pendingQueries: 1 },
      { keyName: 'cupmNICE', displayName: 'cupm NiceService', state, pendingQueries: 1 },
      { keyName: 'pgsql-8.2', displayName: 'PostgreSQL Database Server 8.2', state, pendingQueries: 1 },
    ];
  }

  async function writeArchive(name: string, facts: { version: string | null; label: string | null }) {
    const entries = typicalEntries();
    const manifest = manifestFor(entries, {
      label: facts.label,
      cupm: { version: facts.version, installDir: 'C:\\CUPM' },
      createdAt: '2026-11-20T02:00:00.000Z',
    });
    await buildZip(path.join(backupDir, name), entries, manifest);
  }

  function cleanup(options: UpgradeCleanupOptions = {}) {
    return upgradeCleanup(
      config,
      {
        system: new WindowsSystemDriver({ runner: windows, env: windows.env, localPath: windows.localPath }),
        serviceManager: new WindowsServiceManager({ timeoutSeconds: 3, scExe: sc.scExe, pollMs: 10 }),
        env: windows.env,
        ...options,
      },
      silentReporter,
    );
  }

  const exists = (windowsPath: string) => existsSync(windows.localPath(windowsPath));
  const scVerbs = async (...verbs: string[]) => (await sc.calls()).filter((c) => verbs.includes(c.args[0]!)).map((c) => c.args.join(' '));

  afterEach(async () => {
    await windows?.cleanup();
    await sc?.cleanup();
    if (backupDir) await rm(backupDir, { recursive: true, force: true });
  });

  it("walks the install guide's clean-up on Windows Server 2008 in order, with the exact commands, and a second run finds everything already absent", async () => {
    await failedUpgrade();
    const result = await cleanup();
    expect(result.ok).to.equal(true);
    expect(result.backupCheck).to.include({ ok: true, skipped: false });
    expect(result.backupCheck.archive).to.include({ cupmVersion: '2.2', label: 'pre-upgrade' });
    expect(result.backupCheck.message)
      .to.contain('the restore will use')
      .and.contain('cupm-backup_cupm01_20261120T020000Z_pre-upgrade.zip');
    expect(result.steps.map((s) => [s.id, s.status])).to.deep.equal([
      ['uninstall-cupm', 'done'],
      ['uninstall-postgresql-8.2', 'done'],
      ['service:Apache2', 'done'],
      ['service:cupm JbossService', 'done'],
      ['service:cupm NICEService', 'done'],
      ['service:pgsql-8.2', 'done'],
      ['delete-user', 'done'],
      ['delete-user-home', 'done'],
      ['delete-install-dir', 'done'],
      ['delete-zero-g-registry', 'done'],
    ]);
    expect(windows.commands()).to.deep.equal([
      `reg.exe query ${UNINSTALL} /s`,
      `reg.exe query ${UNINSTALL_WOW} /s`,
      `"${CUPM_UNINSTALLER}" -i silent`,
      `reg.exe query ${UNINSTALL} /s`,
      `reg.exe query ${UNINSTALL_WOW} /s`,
      `msiexec.exe /x ${PG82_PRODUCT_CODE} /qn /norestart`,
      'sc.exe delete Apache2',
      'sc.exe delete "cupm JbossService"',
      'sc.exe getkeyname "cupm JbossService"',
      'sc.exe delete cupmJBoss',
      'sc.exe delete "cupm NICEService"',
      'sc.exe getkeyname "cupm NICEService"',
      'sc.exe delete cupmNICE',
      'sc.exe delete pgsql-8.2',
      'net.exe user cupmuser /delete',
      `reg.exe query "${PROFILE_LIST}" /s`,
    ]);
    // Every service was stopped (and waited for) before its delete.
    expect(await scVerbs('stop', 'delete')).to.deep.equal([
      'stop Apache2',
      'delete Apache2',
      'stop cupmJBoss',
      'delete cupm JbossService',
      'delete cupmJBoss',
      'stop cupmNICE',
      'delete cupm NICEService',
      'delete cupmNICE',
      'stop pgsql-8.2',
      'delete pgsql-8.2',
    ]);
    const calls = await sc.calls();
    const deleteJBoss = calls.findIndex((c) => c.args.join(' ') === 'delete cupmJBoss');
    expect(
      calls
        .slice(0, deleteJBoss)
        .reverse()
        .find((c) => c.args[0] === 'query' && c.args[1] === 'cupmJBoss')?.state,
    ).to.equal('STOPPED');

    for (const gone of ['C:\\CUPM', 'C:\\Users\\cupmuser', 'C:\\Program Files (x86)\\Zero G Registry'])
      expect(exists(gone), gone).to.equal(false);
    for (const kept of BYSTANDERS) expect(exists(kept), kept).to.equal(true);
    expect(windows.hasUser('cupmuser')).to.equal(false);
    expect(windows.hasUser('Administrator')).to.equal(true);
    expect(windows.commands().join('\n')).not.to.contain(PG90_PRODUCT_CODE);

    const again = await cleanup();
    expect(again.ok).to.equal(true);
    expect(again.steps.map((s) => s.status)).to.deep.equal(Array(10).fill('absent'));
  });

  it("finds cupmuser's home under Documents and Settings on Windows Server 2003 (reg.exe 3.0, no Wow6432Node), CUPM 2.1", async () => {
    // The services are stopped already: deleted without a stop.
    await failedUpgrade({ os: '2003' }, runningServices('STOPPED'));
    await rm(path.join(backupDir, 'cupm-backup_cupm01_20261120T020000Z_pre-upgrade.zip'));
    await writeArchive('cupm-backup_cupm01_20261120T020000Z_pre-upgrade.zip', { version: '2.1', label: 'pre-upgrade' });
    const result = await cleanup();
    expect(result.ok).to.equal(true);
    expect(result.target.zeroGFolders).to.deep.equal(['C:\\Program Files\\Zero G Registry']);
    expect(result.steps.find((s) => s.id === 'delete-user-home')?.detail).to.equal('deleted C:\\Documents and Settings\\cupmuser');
    expect(exists('C:\\Documents and Settings\\cupmuser')).to.equal(false);
    expect(exists('C:\\Program Files\\Zero G Registry')).to.equal(false);
    expect(result.next[0]).to.contain('reinstall CUPM 2.1');
    expect(await scVerbs('stop')).to.deep.equal([]);
    expect(result.steps.find((s) => s.id === 'service:Apache2')).to.include({ status: 'done', detail: 'deleted' });
  });

  it('goes on after a step that fails half way, reports every step, and a second run continues where it stopped', async () => {
    // The CUPM uninstaller deletes part of C:\CUPM, then fails: the install guide's "standard uninstall does not work".
    await failedUpgrade(
      {
        uninstallers: {
          [CUPM_UNINSTALLER]: { exitCode: 1, removes: ['C:\\CUPM\\EnterprisePlatform-4.2.0.GA_CP09'] },
          [PG82_PRODUCT_CODE]: { exitCode: 0, unregisters: [PG82_PRODUCT_CODE], removes: ['C:\\CUPM\\pgsql8.2'] },
        },
      },
      runningServices('STOPPED'),
    );
    const first = await cleanup();
    expect(first.ok).to.equal(false);
    expect(first.steps.map((s) => s.status)).to.deep.equal([
      'failed',
      'done',
      'done',
      'done',
      'done',
      'done',
      'done',
      'done',
      'done',
      'done',
    ]);
    expect(first.steps[0]!.error).to.contain('The uninstaller of "Cisco Unified Provisioning Manager" failed (exit 1)');
    const error = cleanupFailure(first);
    expect(error.exitCode).to.equal(EXIT.dirty);
    expect(error.describe())
      .to.contain('[FAILED] Run the CUPM uninstaller')
      .and.contain('[done] Delete the install dir C:\\CUPM')
      .and.contain('run cupm-backup upgrade cleanup again');
    expect(exists('C:\\CUPM')).to.equal(false);

    const commandsBefore = windows.calls.length;
    const second = await cleanup();
    expect(second.ok).to.equal(true);
    expect(second.steps.map((s) => s.status)).to.deep.equal(Array(10).fill('absent'));
    // Still listed in Add or Remove Programs, but its program went with C:\CUPM: not run again.
    expect(second.steps[0]!.detail).to.contain('is gone (a stale entry)');
    expect(windows.commands().slice(commandsBefore).join('\n')).not.to.contain('-i silent');
  });

  it('does not delete a service stuck in STOP_PENDING: that step fails saying so, the rest goes on, and a re-run deletes it once it stopped', async () => {
    const services = runningServices().map((s) => (s.keyName === 'cupmJBoss' ? { ...s, stuckStopping: true } : s));
    await failedUpgrade({}, services);
    const first = await cleanup();
    const jboss = first.steps.find((s) => s.id === 'service:cupm JbossService')!;
    expect(jboss.status).to.equal('failed');
    expect(jboss.error).to.contain('did not become stopped within 3 s (last state: STOP_PENDING)').and.contain('NOT deleted');
    expect(jboss.hint).to.contain('taskkill /F /FI "SERVICES eq cupm JbossService"');
    expect(first.steps.filter((s) => s.status === 'failed')).to.have.length(1);
    expect(await scVerbs('delete')).to.deep.equal(['delete Apache2', 'delete cupm NICEService', 'delete cupmNICE', 'delete pgsql-8.2']);

    // The hung JBoss finally exits (or the server was rebooted).
    const stateFile = path.join(sc.root, 'state', 'services', 'cupmJBoss.json');
    const state = JSON.parse(await readFile(stateFile, 'utf8'));
    await writeFile(stateFile, JSON.stringify({ ...state, state: 1, pending: null, stuckStopping: false }));
    const second = await cleanup();
    expect(second.ok).to.equal(true);
    expect(second.steps.find((s) => s.id === 'service:cupm JbossService')).to.include({ status: 'done', detail: 'deleted' });
    expect(await readdir(path.join(sc.root, 'state', 'services'))).to.deep.equal([]);
  });

  it('refuses (exit 4) before touching anything when no verified archive of the old version exists', async () => {
    await failedUpgrade();
    await rm(path.join(backupDir, 'cupm-backup_cupm01_20261120T020000Z_pre-upgrade.zip'));
    await writeArchive('cupm-backup_cupm01_20261124T020000Z.zip', { version: '8.5', label: null });
    await writeArchive('cupm-backup_cupm01_20261123T020000Z_nightly.zip', { version: null, label: 'nightly' });
    await writeFile(path.join(backupDir, 'cupm-backup_cupm01_20261120T020000Z_pre-upgrade.zip'), 'PK\u0003\u0004 truncated');
    const error = await expect(cleanup()).to.be.rejectedWith(RefusedError);
    expect(error.exitCode).to.equal(EXIT.refused);
    expect(error.message).to.contain('No verified archive of the CUPM version before the upgrade');
    expect(error.problems.join('\n')).to.contain('holds CUPM 8.5').and.contain('version is unknown').and.contain('unreadable');
    expect(error.state).to.equal('nothing was changed');
    expect(error.hint).to.contain('--archive').and.contain('--no-backup-check');
    expect(windows.calls).to.deep.equal([]);
    expect(await sc.calls()).to.deep.equal([]);
    for (const file of LEFT_BEHIND) expect(exists(file), file).to.equal(true);
  });

  it('skips a pre-upgrade archive that does not verify and uses an older good one', async () => {
    await failedUpgrade();
    const entries = typicalEntries();
    const manifest = manifestFor(entries, {
      label: 'pre-upgrade',
      cupm: { version: '2.2', installDir: 'C:\\CUPM' },
      createdAt: '2026-11-22T02:00:00.000Z',
    });
    manifest.entries[0]!.sha256 = '0'.repeat(64);
    await buildZip(path.join(backupDir, 'cupm-backup_cupm01_20261122T020000Z_pre-upgrade.zip'), entries, manifest);
    const result = await cleanup({ dryRun: true });
    expect(result.backupCheck.archive?.file).to.match(/20261120T020000Z_pre-upgrade\.zip$/);
    expect(result.backupCheck.rejected).to.have.length(1);
    expect(result.backupCheck.rejected[0]!.reason).to.contain('does not verify');
  });

  it('takes the archive named with --archive, wherever it is, and --no-backup-check goes on without one', async () => {
    await failedUpgrade();
    const elsewhere = await mkdtemp(path.join(tmpdir(), 'cupm-cd-'));
    try {
      const file = path.join(elsewhere, 'from-the-cd.zip');
      const entries = typicalEntries();
      await buildZip(file, entries, manifestFor(entries, { cupm: { version: '2.2', installDir: 'C:\\CUPM' } }));
      const named = await cleanup({ dryRun: true, archive: file });
      expect(named.backupCheck.archive?.file).to.equal(file);
      await rm(backupDir, { recursive: true, force: true });
      const unchecked = await cleanup({ noBackupCheck: true });
      expect(unchecked.backupCheck).to.include({ skipped: true, ok: true });
      expect(unchecked.ok).to.equal(true);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('with --dry-run only plans: no command runs, nothing is stopped', async () => {
    await failedUpgrade();
    const result = await cleanup({ dryRun: true });
    expect(result.dryRun).to.equal(true);
    expect(result.steps).to.deep.equal([]);
    expect(result.plan.map((s) => s.id)).to.have.length(10);
    expect(windows.calls).to.deep.equal([]);
    expect(await sc.calls()).to.deep.equal([]);
  });

  it('asks before it starts, and changes nothing when the answer is no', async () => {
    await failedUpgrade();
    let shown: string[] = [];
    await expect(
      cleanup({
        confirm: async (_q, details) => {
          shown = details;
          return false;
        },
      }),
    ).to.be.rejectedWith(/Cancelled/);
    expect(shown.join('\n')).to.contain('sc.exe delete "pgsql-8.2"').and.contain('the restore will use');
    expect(windows.calls).to.deep.equal([]);
  });
});
