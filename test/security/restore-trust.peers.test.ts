import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { ageDecrypt, ageEncrypt, ageKeygen, flipByte, type AgeKey } from '../support/age.js';
import { dumpText, editArchive, setDump } from '../support/archive-edit.js';
import { createRestoreStage, type RestoreStage } from '../support/restore-stage.js';
import { installFile, normalizedDump, serverState } from '../support/servers.js';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';

/**
 * The restore trusts nothing it has not proved: an encrypted archive is decrypted whole and a dump
 * read the way psql would read it, before a single service is stopped.
 */
describe('restore proves the archive before it stops anything: encryption and the dump guard', function () {
  this.timeout(600_000);
  let stage: RestoreStage;
  let old: SandboxServer;
  let target: SandboxServer;
  /** A plain backup of the old server (in its backup folder). */
  let archive: string;
  let work: string;
  let ops: AgeKey;
  let dr: AgeKey;
  let stranger: AgeKey;
  let encrypted: string;
  let sourceDump: string;

  before(async () => {
    stage = await createRestoreStage('cupm-trust');
    ({ old, target, archive, sourceDump, work } = stage);
    [ops, dr, stranger] = await Promise.all([ageKeygen(work, 'ops'), ageKeygen(work, 'dr-site'), ageKeygen(work, 'stranger')]);
  });
  after(async () => {
    await stage?.destroy();
  });

  const restoreCli = (args: string[], env: Record<string, string> = {}) =>
    runCli(['restore', ...args], { env: { ...target.env(), ...env } });

  /** Runs `run`, expects `exitCode`, and that nothing changed: databases, roles, files, services, and no service was even stopped. */
  async function expectUntouched(run: () => Promise<{ exitCode: number; stderr: string }>, exitCode: number) {
    const before = await serverState(target);
    await target.services.events({ clear: true });
    const result = await run();
    expect(result.exitCode, result.stderr).to.equal(exitCode);
    expect(await serverState(target)).to.deep.equal(before);
    expect(await target.services.events(), 'service stops and starts').to.deep.equal([]);
    return result;
  }

  describe('an encrypted backup', () => {
    it('backup --encrypt-to writes only <name>.zip.age, private, which the age CLI turns back into a ZIP unzip reads', async () => {
      const zips = async () => (await fs.readdir(old.backupDir)).filter((n) => n.endsWith('.zip'));
      const plainBefore = await zips();
      const result = await runCli(['backup', '--json', '--encrypt-to', ops.recipient, '--encrypt-to', dr.recipient], { env: old.env() });
      expect(result.exitCode, result.stderr).to.equal(0);
      const json = result.json<{ archive: string; encrypted: boolean }>();
      encrypted = json.archive;
      expect(json.encrypted).to.equal(true);
      expect(encrypted).to.match(/^.*\/cupm-backup_[^/]+_\d{8}T\d{6}Z\.zip\.age$/);
      expect(result.stderr).to.match(/Encrypting the archive to 2 age recipient\(s\)/);
      expect((await fs.stat(encrypted)).mode & 0o777).to.equal(0o600);
      // No plain .zip beside it (the stage's own plain backup was there before).
      expect(await zips()).to.deep.equal(plainBefore);

      const plain = path.join(work, 'decrypted.zip');
      await ageDecrypt(dr.identityFile, encrypted, plain);
      expect((await execa('unzip', ['-t', plain])).stdout).to.match(/No errors detected/);
      const { stdout: keystore } = await execa('unzip', ['-p', plain, 'files/sep/dfc.keystore'], {
        encoding: 'buffer',
        stripFinalNewline: false,
      });
      expect(Buffer.from(keystore).equals(await fs.readFile(path.join(old.installDir, 'sep', 'dfc.keystore')))).to.equal(true);
    });

    it('without an identity: verify and restore say it needs one (exit 2), and nothing is touched', async () => {
      const verify = await runCli(['verify', encrypted]);
      expect(verify.exitCode, verify.stderr).to.equal(2);
      const { stderr } = await expectUntouched(() => restoreCli([encrypted, '--yes']), 2);
      expect(stderr)
        .to.match(/is encrypted; restoring it needs the identity/)
        .and.match(/--identity/);
    });

    it('with the wrong identity: exit 3 before any service is stopped', async () => {
      const { stderr } = await expectUntouched(() => restoreCli([encrypted, '--yes', '--identity', stranger.identityFile]), 3);
      expect(stderr).to.match(/None of the keys in the identity file .*stranger\.txt can open/);
      expect(stderr).to.match(/State: nothing was changed/);
    });

    it('tampered (one bit in the ciphertext): exit 3 before any service is stopped', async () => {
      const tampered = path.join(work, 'tampered.zip.age');
      await fs.copyFile(encrypted, tampered);
      const { size } = await fs.stat(tampered);
      await flipByte(tampered, Math.floor(size * 0.6));
      const { stderr } = await expectUntouched(() => restoreCli([tampered, '--yes', '--identity', ops.identityFile]), 3);
      expect(stderr).to.match(/fails authentication/);
    });

    it('with the identity (CUPM_IDENTITY): restored, the same database and keystore', async () => {
      const result = await restoreCli([encrypted, '--yes', '--json'], { CUPM_IDENTITY: ops.identityFile });
      expect(result.exitCode, result.stderr).to.equal(0);
      expect(await normalizedDump(target.cluster, 'cupm')).to.equal(sourceDump);
      expect(await installFile(target, 'sep/dfc.keystore')).to.equal(await installFile(old, 'sep/dfc.keystore'));
      expect((await serverState(target)).backupDirLeftovers).to.deep.equal([]);
    });

    it('an archive the age CLI encrypted (a plain backup, then age -r) is read in place by restore', async () => {
      const sealed = path.join(work, `${path.basename(archive)}.age`);
      await ageEncrypt([dr.recipient], archive, sealed);
      const result = await restoreCli([sealed, '--dry-run', '--json', '--identity', dr.identityFile]);
      expect(result.exitCode, result.stderr).to.equal(0);
      expect(result.json<{ dryRun: boolean; plan: { archive: string } }>().plan.archive).to.equal(sealed);
    });

    it('nightly with CUPM_ENCRYPT_TO and no identity on the host: the new archive is verified (with its own file key) and copied off-site as .zip.age', async () => {
      const share = await fs.mkdtemp(path.join(work, 'share-'));
      const result = await runCli(['nightly', '--json'], { env: { ...old.env(), CUPM_ENCRYPT_TO: ops.recipient, CUPM_OFFSITE: share } });
      expect(result.exitCode, result.stderr).to.equal(0);
      const record = result.json<{ verified: boolean; archive: { name: string }; steps: Array<{ name: string; status: string }> }>();
      expect(record.verified).to.equal(true);
      expect(record.archive.name).to.match(/\.zip\.age$/);
      expect(record.steps.find((s) => s.name === 'verify')!.status).to.equal('done');
      expect(await fs.readdir(share)).to.include(record.archive.name);
      const verify = await runCli(['verify', path.join(share, record.archive.name), '--identity', ops.identityFile]);
      expect(verify.exitCode, verify.stderr).to.equal(0);
    });
  });

  describe('a dump that psql would turn against this machine', () => {
    let marker: string;
    before(() => {
      marker = path.join(work, 'pwned');
    });

    const injected: Array<[string, (m: string) => string, RegExp]> = [
      ['a shell escape after \\connect cupm', (m) => `\\! touch ${m}`, /"\\!" runs a shell command on this machine/],
      ['query output sent to a file', (m) => `\\o ${m}`, /"\\o" writes query output to a file/],
      ['COPY ... TO PROGRAM', (m) => `COPY (SELECT 1) TO PROGRAM 'touch ${m}';`, /a COPY that is not "COPY <table> FROM stdin"/],
    ];
    for (const [what, line, reason] of injected) {
      it(`${what}: refused (exit 3) before psql runs a line, nothing touched, nothing run`, async () => {
        const hostile = await editArchive(archive, path.join(work, `${what.replace(/\W+/g, '-')}.zip`), (contents) => {
          setDump(contents, dumpText(contents).replace('\n\\connect cupm\n', `\n\\connect cupm\n${line(marker)}\n`));
        });
        // The archive itself is whole (sizes and SHA-256 match): only reading it as psql would shows it.
        const { stderr } = await expectUntouched(() => restoreCli([hostile, '--yes']), 3);
        expect(stderr)
          .to.match(/database\/pg_dumpall\.sql is not a pg_dumpall script psql may run: line \d+/)
          .and.match(reason);
        await expect(fs.stat(marker)).to.be.rejectedWith(/ENOENT/);
        const verify = await runCli(['verify', hostile]);
        expect(verify.exitCode).to.equal(3);
      });
    }
  });
});
