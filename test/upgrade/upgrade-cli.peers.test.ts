import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import type { Manifest } from '../../src/archive/format.js';

describe('upgrade prepare, rollback and cleanup on the command line', () => {
  let server: SandboxServer;
  let preUpgrade: string;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-upgrade-test', cupmVersion: '2.2' });
  });
  after(async () => {
    await server?.destroy();
  });

  it("upgrade prepare backs up with the label pre-upgrade and prints the install guide's upgrade checklist", async () => {
    const run = await runCli(['upgrade', 'prepare'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    preUpgrade = run.stdout.trim();
    expect(path.basename(preUpgrade)).to.match(/_pre-upgrade\.zip$/);
    const manifest = JSON.parse((await execa('unzip', ['-p', preUpgrade, 'manifest.json'])).stdout) as Manifest;
    expect(manifest.label).to.equal('pre-upgrade');
    expect(manifest.cupm.version).to.equal('2.2');
    expect(run.stderr)
      .to.contain('Pre-upgrade backup written')
      .and.contain('The installer makes a backup of its own during the upgrade')
      .and.contain('you need both')
      .and.contain('Keep it off this server')
      .and.contain('Synchronize all call processors.')
      .and.contain('Synchronize all unified message processors.')
      .and.contain(`cupm-backup upgrade rollback ${preUpgrade}`);
    expect(run.stderr).not.to.contain('Line to End-user Association');
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
  });

  it('upgrade prepare on a server that runs 8.5 already refuses (exit 4) before any service is stopped; --any-version backs up and warns', async () => {
    const log = path.join(server.installDir, 'install.log');
    const original = await readFile(log);
    await writeFile(log, original.toString('latin1').replaceAll('2.2', '8.5'), 'latin1');
    try {
      await server.services.events({ clear: true });
      const refused = await runCli(['upgrade', 'prepare'], { env: server.env() });
      expect(refused.exitCode, refused.stderr).to.equal(4);
      expect(refused.stderr).to.contain('already runs CUPM 8.5').and.contain('no service was stopped').and.contain('--any-version');
      expect(await server.services.events()).to.deep.equal([]);
      expect(refused.stdout).to.equal('');

      const run = await runCli(['upgrade', 'prepare', '--any-version', '--json'], { env: server.env() });
      expect(run.exitCode, run.stderr).to.equal(0);
      const out = run.json<{
        archive: string;
        label: string;
        cupmVersion: string;
        warnings: string[];
        checklist: Array<{ heading: string; items: string[] }>;
      }>();
      expect(out).to.include({ label: 'pre-upgrade', cupmVersion: '8.5' });
      expect(out.warnings.join(' ')).to.contain('already runs CUPM 8.5');
      expect(out.checklist.map((s) => s.heading)).to.deep.equal([
        'Before the upgrade to CUPM 8.5:',
        'After the upgrade, before placing any order:',
        'If the upgrade fails:',
      ]);
      await rm(out.archive);
    } finally {
      await writeFile(log, original);
    }
  });

  it('upgrade rollback prints the clean-up, the version to reinstall and the exact restore command', async () => {
    const run = await runCli(['upgrade', 'rollback', preUpgrade], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    const text = run.stdout;
    expect(text)
      .to.contain(`cupm-backup upgrade cleanup --archive ${preUpgrade}`)
      .and.contain('Stop, then delete the service cupm JbossService')
      .and.contain('Delete the Windows user cupmuser')
      .and.contain('Reinstall CUPM 2.2:')
      .and.contain('Reinstall Cisco Unified Provisioning Manager 2.2 (the version in the archive)')
      .and.contain(`cupm-backup restore ${preUpgrade} --no-live`)
      // The sandbox's install dir is a Linux folder: the printed sequence is for the Windows server.
      .and.contain('is not a Windows path; the sequence uses C:\\CUPM');
    expect(text.indexOf('upgrade cleanup')).to.be.lessThan(text.indexOf('Reinstall CUPM 2.2'));
    expect(text.indexOf('Reinstall CUPM 2.2')).to.be.lessThan(text.indexOf('cupm-backup restore'));

    const json = await runCli(['upgrade', 'rollback', preUpgrade, '--json'], { env: server.env() });
    expect(json.exitCode).to.equal(0);
    expect(json.json()).to.include({ ok: true, cupmVersion: '2.2', restoreCommand: `cupm-backup restore ${preUpgrade} --no-live` });
  });

  it('upgrade rollback refuses an archive of 8.5 (exit 4) and a corrupt one (exit 3)', async () => {
    const log = path.join(server.installDir, 'install.log');
    const original = await readFile(log);
    await writeFile(log, original.toString('latin1').replaceAll('2.2', '8.5'), 'latin1');
    let newer: string;
    try {
      const backup = await runCli(['backup', '--label', 'after-upgrade'], { env: server.env() });
      expect(backup.exitCode, backup.stderr).to.equal(0);
      newer = backup.stdout.trim();
    } finally {
      await writeFile(log, original);
    }
    const refused = await runCli(['upgrade', 'rollback', newer], { env: server.env() });
    expect(refused.exitCode).to.equal(4);
    expect(refused.stderr).to.contain('holds CUPM 8.5').and.contain('needs an archive of the version before it (2.1 or 2.2)');

    const corrupt = path.join(server.dir, 'cupm-backup_cupm_20261120T020000Z_pre-upgrade.zip');
    const bytes = await readFile(preUpgrade);
    await writeFile(corrupt, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const invalid = await runCli(['upgrade', 'rollback', corrupt], { env: server.env() });
    expect(invalid.exitCode).to.equal(3);
    expect(invalid.stderr).to.contain('is NOT valid');
    await rm(newer);
    await rm(corrupt);
  });

  it('restore of a 2.2 archive into an 8.5 install is refused (exit 4) naming the version to reinstall', async () => {
    // The failed upgrade left 8.5 in install.log.
    const log = path.join(server.installDir, 'install.log');
    const original = await readFile(log);
    await writeFile(log, original.toString('latin1').replaceAll('2.2', '8.5'), 'latin1');
    try {
      const run = await runCli(['restore', preUpgrade, '--yes'], { env: server.env() });
      expect(run.exitCode).to.equal(4);
      expect(run.stderr)
        .to.contain('The archive holds CUPM 2.2; this server has CUPM 8.5 installed.')
        .and.contain('reinstall CUPM 2.2 (the version in the archive) here first')
        .and.contain(`cupm-backup upgrade rollback ${preUpgrade}`)
        .and.contain('State: nothing was changed');
      for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
    } finally {
      await writeFile(log, original);
    }
  });

  it('restore of the pre-upgrade archive works once CUPM 2.2 is back', async () => {
    const run = await runCli(['restore', preUpgrade, '--yes'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    for (const service of server.services.services) expect(await server.services.status(service)).to.equal('running');
  });

  it('upgrade cleanup --dry-run prints the plan for C:\\CUPM and names the archive the restore will use', async () => {
    const env = { ...server.env(), CUPM_INSTALL_DIR: 'C:\\CUPM' };
    const run = await runCli(['upgrade', 'cleanup', '--dry-run'], { env });
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.stdout)
      .to.contain('Clean-up of a failed upgrade to CUPM 8.5 (install dir C:\\CUPM)')
      .and.contain('sc.exe delete "cupm NICEService"')
      .and.contain('net user cupmuser /delete')
      .and.contain('deletes C:\\CUPM and everything in it')
      .and.contain('C:\\Program Files\\Zero G Registry')
      .and.contain(`the restore will use ${preUpgrade} (CUPM 2.2, label pre-upgrade`)
      .and.contain('reinstall CUPM 2.2')
      .and.contain('(--dry-run: nothing was changed)');

    const json = await runCli(['upgrade', 'cleanup', '--dry-run', '--json', '--windows-user', 'cupmsvc'], { env });
    expect(json.exitCode).to.equal(0);
    const out = json.json<{
      dryRun: boolean;
      wouldRefuse: boolean;
      plan: Array<{ id: string; title: string }>;
      backupCheck: { archive: { file: string } };
    }>();
    expect(out).to.include({ dryRun: true, wouldRefuse: false });
    expect(out.backupCheck.archive.file).to.equal(preUpgrade);
    expect(out.plan.map((s) => s.id)).to.deep.equal([
      'uninstall-cupm',
      'uninstall-postgresql-8.2',
      'service:Apache2',
      'service:cupm JbossService',
      'service:cupm NICEService',
      'service:pgsql-8.2',
      'delete-user',
      'delete-user-home',
      'delete-install-dir',
      'delete-zero-g-registry',
    ]);
    expect(out.plan.find((s) => s.id === 'delete-user')?.title).to.equal('Delete the Windows user cupmsvc');
  });

  it('upgrade cleanup --dry-run says a real run would refuse when no archive of the old version exists', async () => {
    const env = { ...server.env(), CUPM_INSTALL_DIR: 'C:\\CUPM', CUPM_BACKUP_DIR: path.join(server.dir, 'empty-backups') };
    const run = await runCli(['upgrade', 'cleanup', '--dry-run'], { env });
    expect(run.exitCode).to.equal(0);
    expect(run.stdout)
      .to.contain('No verified archive of the CUPM version before the upgrade')
      .and.contain('A real run would REFUSE (exit 4)');
  });

  it('upgrade cleanup --dry-run prints the plan with a Linux install dir too (a mounted share), and notes it', async () => {
    const run = await runCli(['upgrade', 'cleanup', '--dry-run'], { env: server.env() });
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.stdout)
      .to.contain(`Clean-up of a failed upgrade to CUPM 8.5 (install dir ${server.installDir})`)
      .and.contain(`the install dir ${server.installDir} is not a Windows path`)
      .and.contain('(--dry-run: nothing was changed)');
  });

  it('upgrade cleanup runs only on Windows: elsewhere a real run exits 2 and says why', async () => {
    const env = { ...server.env(), CUPM_INSTALL_DIR: 'C:\\CUPM' };
    for (const args of [
      ['upgrade', 'cleanup', '--yes'],
      ['upgrade', 'cleanup', '--yes', '--json'],
    ]) {
      const run = await runCli(args, { env });
      expect(run.exitCode).to.equal(2);
      expect(run.stderr).to.contain('it runs only on the CUPM Windows server').and.contain('--dry-run prints the plan');
      if (args.includes('--json')) {
        const failure = run.json<{ ok: boolean; exitCode: number; error: { type: string; state: string } }>();
        expect(failure).to.include({ ok: false, exitCode: 2 });
        expect(failure.error).to.include({ type: 'ConfigError', state: 'nothing was changed' });
      }
    }
  });

  it('upgrade cleanup refuses an install dir whose deletion would wreck Windows (exit 2)', async () => {
    const run = await runCli(['upgrade', 'cleanup', '--dry-run'], { env: { ...server.env(), CUPM_INSTALL_DIR: 'C:\\Program Files' } });
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.contain('C:\\Program Files is a folder Windows itself needs');
  });
});
