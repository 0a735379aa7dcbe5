import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { verifyArchive } from '../../src/archive/verify.js';
import { CupmError } from '../../src/errors.js';
import { restore } from '../../src/restore/restore.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { expect } from '../support/expect.js';
import { ageEncrypt, ageKeygen, type AgeKey } from '../support/age.js';
import { runCli } from '../support/cli.js';
import { backupOf, configOf, treeHashes } from '../support/servers.js';
import { mutate, random } from '../support/zip-mutations.js';

/** Cases per run; CUPM_FUZZ_CASES=20000 for a long hunt, CUPM_FUZZ_SEED to replay a run. */
const CASES = Number(process.env.CUPM_FUZZ_CASES ?? 1500);
const SEED = Number(process.env.CUPM_FUZZ_SEED ?? Date.now() % 2 ** 31);
/** A case that takes longer than this is a hang (the archives are a few dozen KB). */
const CASE_TIMEOUT_MS = 20_000;

/**
 * Thousands of damaged archives (bit flips, truncations, garbage, lying length fields, duplicated
 * and swapped central directory records; plain and age-encrypted) through verify and restore
 * --dry-run: each must end with exit 0 (a harmless change) or 3, never a crash, a hang, or a file
 * written anywhere.
 */
describe(`fuzzing the archive reader (${CASES} cases, CUPM_FUZZ_SEED=${SEED})`, function () {
  this.timeout(30 * 60_000);
  let server: SandboxServer;
  let work: string;
  let key: AgeKey;
  let plain: Buffer;
  let sealed: Buffer;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-fuzz', subscribers: 3 });
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-fuzz-'));
    key = await ageKeygen(work);
    const archive = await backupOf(server);
    plain = await fs.readFile(archive);
    await ageEncrypt([key.recipient], archive, path.join(work, 'base.zip.age'));
    sealed = await fs.readFile(path.join(work, 'base.zip.age'));
    await fs.rm(archive);
  });
  after(async () => {
    await server?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** The exit code the command line would give: 0, or a CupmError's; anything else is a crash. */
  async function exitCodeOf(run: () => Promise<unknown>, what: string): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hang: ${what} took over ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    });
    try {
      await Promise.race([run(), hang]);
      return 0;
    } catch (error) {
      if (error instanceof CupmError) return error.exitCode;
      throw new Error(`crash: ${what}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  it('verify and restore --dry-run end with 0 or 3 for every damaged archive, and write nothing', async () => {
    const r = random(SEED);
    // No service commands to spawn: a dry run only asks their state, and the fuzz runs thousands.
    const config = configOf(server, { CUPM_IDENTITY: key.identityFile, CUPM_SERVICE_MANAGER: 'none' });
    const before = {
      install: await treeHashes(server.installDir),
      backups: await fs.readdir(server.backupDir).catch(() => []),
      cwd: await fs.readdir(process.cwd()),
    };
    const outcomes = new Map<string, number>();
    let restoresRun = 0;
    for (let i = 0; i < CASES; i++) {
      const encrypted = i % 5 === 4;
      const { bytes, what } = mutate(encrypted ? sealed : plain, r, encrypted ? 'bytes' : 'zip');
      const file = path.join(work, `case-${i}.zip${encrypted ? '.age' : ''}`);
      await fs.writeFile(file, bytes);
      const label = `case ${i} (CUPM_FUZZ_SEED=${SEED}, ${encrypted ? 'encrypted' : 'plain'}, ${what})`;

      const verified = await exitCodeOf(async () => {
        const report = await verifyArchive(file, { keys: { identityFile: key.identityFile } });
        if (!report.ok) throw new CupmError(3, report.problems.join('; '));
      }, `verify of ${label}`);
      expect([0, 3], `verify of ${label}`).to.include(verified);

      // restore --dry-run goes on to the server only for an archive that verified; one in ten of
      // the others is run through it too, to show it refuses what verify refuses.
      if (verified === 0 || i % 10 === 0) {
        restoresRun++;
        const restored = await exitCodeOf(() => restore(config, file, { dryRun: true }), `restore --dry-run of ${label}`);
        expect(restored, `restore --dry-run of ${label}`).to.equal(verified);
      }
      const kind = `${encrypted ? 'age ' : ''}${what.split(':')[0]!}`;
      outcomes.set(`${kind} -> ${verified}`, (outcomes.get(`${kind} -> ${verified}`) ?? 0) + 1);
      await fs.rm(file);
    }
    expect(await treeHashes(server.installDir), 'the install dir').to.deep.equal(before.install);
    expect(await fs.readdir(server.backupDir).catch(() => []), 'the backup dir').to.deep.equal(before.backups);
    expect(await fs.readdir(process.cwd()), 'the working directory').to.deep.equal(before.cwd);
    expect(await fs.readdir(work), 'the fuzz dir').to.deep.equal(['base.zip.age', 'identity.txt']);
    // Most damage is caught; the summary shows what each kind did.
    const refused = [...outcomes].filter(([k]) => k.endsWith('-> 3')).reduce((n, [, c]) => n + c, 0);
    expect(refused).to.be.greaterThan(CASES / 2);
    expect(restoresRun).to.be.greaterThan(0);
    console.log(
      `      fuzz outcomes (seed ${SEED}): ${[...outcomes]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')}`,
    );
  });

  it('through the command line too: verify and restore --dry-run exit 0 or 3 for damaged archives', async () => {
    const r = random(SEED + 1);
    for (let i = 0; i < 4; i++) {
      const { bytes, what } = mutate(plain, r);
      const file = path.join(work, `cli-${i}.zip`);
      await fs.writeFile(file, bytes);
      const verify = await runCli(['verify', file, '--json'], { env: server.env() });
      expect([0, 3], `verify: ${what}: ${verify.stderr}`).to.include(verify.exitCode);
      expect(() => verify.json(), 'one JSON object').to.not.throw();
      const dry = await runCli(['restore', file, '--dry-run'], { env: server.env() });
      expect(dry.exitCode, `restore --dry-run: ${what}: ${dry.stderr}`).to.equal(verify.exitCode);
      await fs.rm(file);
    }
  });
});
