import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { Decrypter } from 'age-encryption';
import { AgePayload, startAgeEncryption } from '../../src/archive/age.js';
import { FileSource } from '../../src/archive/encryption.js';
import { DUMP_ENTRY } from '../../src/archive/format.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { ArchiveWriter } from '../../src/archive/writer.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { ageDecrypt, ageEncrypt, ageKeygen, flipByte, secretKeyOf, type AgeKey } from '../support/age.js';
import { buildZip, manifestFor, SAMPLE_DUMP, typicalEntries } from '../support/archives.js';

/** Chunk boundaries of age's STREAM (64 KiB of plaintext per chunk) and around them. */
const SIZES = [0, 1, 65535, 65536, 65537, 131072, 200_001];

describe('encrypted archives: age, readable by the standard tools', function () {
  this.timeout(120_000);
  let dir: string;
  let alice: AgeKey;
  let bob: AgeKey;
  let mallory: AgeKey;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-age-'));
    [alice, bob, mallory] = await Promise.all([ageKeygen(dir, 'alice'), ageKeygen(dir, 'bob'), ageKeygen(dir, 'mallory')]);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Writes a typical archive encrypted to `recipients` with our writer; returns its path. */
  async function writeEncrypted(name: string, recipients: string[], keystore = crypto.randomBytes(300_000)): Promise<string> {
    const writer = await ArchiveWriter.create(path.join(dir, name), { encryptTo: recipients });
    await writer.addStream('files/install.log', Readable.from([Buffer.from('Cisco Unified Provisioning Manager 8.5\r\n')]));
    await writer.addStream('files/sep/dfc.keystore', Readable.from([keystore]));
    await writer.addStream(DUMP_ENTRY, Readable.from([Buffer.from(SAMPLE_DUMP)]));
    const { entries: _entries, ...body } = manifestFor({});
    return (await writer.finish(body)).path;
  }

  it('the age CLI decrypts what we wrote into the very ZIP unzip reads (each recipient can)', async () => {
    const keystore = crypto.randomBytes(300_000);
    const file = await writeEncrypted('two.zip', [alice.recipient, bob.recipient], keystore);
    expect(path.basename(file)).to.equal('two.zip.age');
    expect((await fs.stat(file)).mode & 0o777).to.equal(0o600);
    const head = (await fs.readFile(file)).subarray(0, 22).toString('latin1');
    expect(head).to.equal('age-encryption.org/v1\n');
    // Nothing of the keystore is visible in the file.
    expect((await fs.readFile(file)).includes(keystore.subarray(1000, 1064))).to.equal(false);

    for (const key of [alice, bob]) {
      const plain = path.join(dir, `two-${path.basename(key.identityFile)}.zip`);
      await ageDecrypt(key.identityFile, file, plain);
      const unzip = await execa('unzip', ['-t', plain]);
      expect(unzip.stdout).to.match(/No errors detected/);
      const { stdout } = await execa('unzip', ['-p', plain, 'files/sep/dfc.keystore'], {
        encoding: 'buffer',
        stripFinalNewline: false,
      });
      expect(Buffer.from(stdout).equals(keystore)).to.equal(true);
      expect((await verifyArchive(plain)).ok).to.equal(true);
    }
    await expect(ageDecrypt(mallory.identityFile, file, path.join(dir, 'nope.zip'))).to.be.rejectedWith(/no identity matched/);
  });

  it('we read in place what the age CLI wrote, at every chunk boundary, and it reads what we wrote', async () => {
    const identities = [await secretKeyOf(alice)];
    for (const size of SIZES) {
      const data = crypto.randomBytes(size);
      const plain = path.join(dir, `data-${size}`);
      await fs.writeFile(plain, data);

      // age -> us: whole, and slices that start and end inside and across chunks.
      await ageEncrypt([alice.recipient], plain, `${plain}.age`);
      const payload = await AgePayload.open(await FileSource.open(`${plain}.age`), { identities });
      try {
        expect(payload.size, `size ${size}`).to.equal(size);
        expect((await collect(payload.stream(0, size))).equals(data), `whole ${size}`).to.equal(true);
        for (const [start, end] of [
          [0, 1],
          [65530, 65540],
          [size - 1, size],
          [1, size - 1],
          [70_000, 140_000],
        ]) {
          if (start! < 0 || end! > size || start! >= end!) continue;
          expect((await collect(payload.stream(start!, end!))).equals(data.subarray(start, end)), `${size}: [${start}, ${end})`).to.equal(
            true,
          );
        }
      } finally {
        await payload.close();
      }

      // us -> age.
      const { stream } = await startAgeEncryption([alice.recipient]);
      await fs.writeFile(`${plain}.ours.age`, await collect(Readable.from([data]).pipe(stream)));
      const { stdout } = await execa('age', ['-d', '-i', alice.identityFile, `${plain}.ours.age`], {
        encoding: 'buffer',
        stripFinalNewline: false,
      });
      expect(Buffer.from(stdout).equals(data), `age -d of ours, ${size} bytes`).to.equal(true);
    }
  });

  it("age-encryption's own streaming decrypter reads what we wrote (a second implementation)", async () => {
    const data = crypto.randomBytes(150_000);
    const { stream } = await startAgeEncryption([bob.recipient]);
    const sealed = await collect(Readable.from([data]).pipe(stream));
    const decrypter = new Decrypter();
    decrypter.addIdentity(await secretKeyOf(bob));
    const out = await decrypter.decrypt(Readable.toWeb(Readable.from([sealed])) as ReadableStream<Uint8Array>);
    const chunks: Uint8Array[] = [];
    for await (const chunk of out as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(data)).to.equal(true);
  });

  it('an archive the age CLI encrypted verifies with --identity; without one the answer is exit 2, with another exit 3', async () => {
    const plain = path.join(dir, 'by-hand.zip');
    await buildZip(plain, typicalEntries());
    const sealed = `${plain}.age`;
    await ageEncrypt([alice.recipient], plain, sealed);

    const ok = await runCli(['verify', sealed, '--identity', alice.identityFile, '--json']);
    expect(ok.exitCode, ok.stderr).to.equal(0);
    expect(ok.json()).to.include({ ok: true, encrypted: true });

    const none = await runCli(['verify', sealed]);
    expect(none.exitCode, none.stderr).to.equal(2);
    expect(none.stderr)
      .to.match(/is encrypted/)
      .and.match(/--identity/);
    const noneJson = await runCli(['verify', sealed, '--json']);
    expect(noneJson.exitCode, noneJson.stderr).to.equal(2);
    const failure = noneJson.json<{
      ok: boolean;
      exitCode: number;
      encrypted: boolean;
      error: { type: string; state: string; hint: string };
    }>();
    expect(failure).to.include({ ok: false, exitCode: 2, encrypted: true });
    expect(failure.error).to.include({ type: 'ConfigError', state: 'nothing was checked' });
    expect(failure.error.hint).to.match(/--identity/);

    const fromEnv = await runCli(['verify', sealed], { env: { CUPM_IDENTITY: alice.identityFile } });
    expect(fromEnv.exitCode, fromEnv.stderr).to.equal(0);

    const wrong = await runCli(['verify', sealed, '--identity', mallory.identityFile]);
    expect(wrong.exitCode, wrong.stderr).to.equal(3);
    expect(wrong.stderr).to.match(/None of the keys in the identity file .*mallory\.txt can open .*: it was encrypted to other recipients/);
    expect(wrong.stderr).to.not.include(await secretKeyOf(mallory));
    // One State/Next block, not the identity's inside an "archive is NOT valid" one.
    expect(wrong.stderr.match(/^State:/gm)).to.have.length(1);
    expect(wrong.stderr.match(/^Next:/gm)).to.have.length(1);
    expect(wrong.stderr).not.to.contain('is NOT valid');
  });

  describe('a damaged or tampered encrypted archive is refused (exit 3), each way named', () => {
    let good: string;
    before(async () => {
      good = await writeEncrypted('good.zip', [alice.recipient]);
    });
    const variant = async (name: string, change: (file: string) => Promise<void>) => {
      const file = path.join(dir, name);
      await fs.copyFile(good, file);
      await change(file);
      return verifyArchive(file, { keys: { identityFile: alice.identityFile } });
    };

    it('a flipped bit in the middle of the ciphertext', async () => {
      const { size } = await fs.stat(good);
      const report = await variant('flipped.zip.age', (f) => flipByte(f, Math.floor(size / 2)));
      expect(report.ok).to.equal(false);
      expect(report.problems.join('\n')).to.match(/fails authentication: the file was changed, truncated or damaged/);
    });

    it('a flipped bit in the last chunk (where the ZIP directory is)', async () => {
      const report = await variant('flipped-end.zip.age', (f) => flipByte(f, -5));
      expect(report.problems.join('\n')).to.match(/cannot be decrypted|fails authentication/);
    });

    it('a changed header (the recipient stanza)', async () => {
      const report = await variant('header.zip.age', (f) => flipByte(f, 40));
      expect(report.ok).to.equal(false);
      expect(report.problems.join('\n')).to.match(/header/);
    });

    it('cut short, also exactly at a chunk boundary', async () => {
      const { size } = await fs.stat(good);
      const cut = await variant('cut.zip.age', (f) => fs.truncate(f, size - 1000));
      expect(cut.problems.join('\n')).to.match(/cannot be decrypted|fails authentication|truncated/);
      const header = (await fs.readFile(good)).indexOf('\n---') + 1;
      const headerEnd = (await fs.readFile(good)).indexOf('\n', header + 1) + 1;
      const boundary = headerEnd + 16 + 65536 + 16;
      const atBoundary = await variant('cut-boundary.zip.age', (f) => fs.truncate(f, boundary));
      expect(atBoundary.ok).to.equal(false);
      expect(atBoundary.problems.join('\n')).to.match(/fails authentication/);
    });

    it('through the command line too: exit 3 and the reason', async () => {
      const file = path.join(dir, 'cli-flipped.zip.age');
      await fs.copyFile(good, file);
      await flipByte(file, 1000);
      const result = await runCli(['verify', file, '--identity', alice.identityFile]);
      expect(result.exitCode, result.stderr).to.equal(3);
      expect(result.stderr).to.match(/fails authentication/);
    });
  });

  it('list shows an encrypted archive as encrypted (facts from its name) without the identity, and its manifest with it', async () => {
    const folder = path.join(dir, 'listing');
    await fs.mkdir(folder);
    const writer = await ArchiveWriter.create(path.join(folder, 'cupm-backup_cupm01_20261125T020000Z_nightly.zip'), {
      encryptTo: [alice.recipient],
    });
    await writer.addStream(DUMP_ENTRY, Readable.from([Buffer.from(SAMPLE_DUMP)]));
    const { entries: _entries, ...body } = manifestFor({}, { label: 'nightly' });
    await writer.finish(body);

    const without = await runCli(['list', folder, '--json']);
    expect(without.exitCode, without.stderr).to.equal(0);
    const [locked] = without.json<{ archives: Array<Record<string, unknown>> }>().archives;
    expect(locked).to.include({
      encrypted: true,
      locked: 'encrypted; no identity given',
      factsFrom: 'name',
      createdAt: '2026-11-25T02:00:00.000Z',
      hostname: 'cupm01',
      label: 'nightly',
    });
    const text = await runCli(['list', folder]);
    expect(text.stdout).to.match(/^ARCHIVE +SIZE +CREATED \(UTC\) +HOST +CUPM +LABEL +STATE$/m);
    expect(text.stdout).to.match(
      /cupm-backup_cupm01_20261125T020000Z_nightly\.zip\.age +\d+(\.\d)? (B|KiB) +2026-11-25T02:00:00Z +cupm01 +nightly +encrypted \(no identity given: --identity reads it; facts from its name\)$/m,
    );
    expect(text.stdout).not.to.contain('ENCRYPTED (');

    const withKey = await runCli(['list', folder, '--json', '--identity', alice.identityFile]);
    const [open] = withKey.json<{ archives: Array<Record<string, unknown>> }>().archives;
    expect(open).to.include({ encrypted: true, ok: true, hostname: 'cupm-old', cupmVersion: '8.5', label: 'nightly' });
    const withKeyText = await runCli(['list', folder, '--identity', alice.identityFile]);
    expect(withKeyText.stdout).to.match(/nightly\.zip\.age +.* cupm-old +8\.5 +nightly +encrypted$/m);
  });

  it('identity files that are not age keys are refused with exit 2, naming the line and never the key', async () => {
    const plain = path.join(dir, 'id-test.zip');
    await buildZip(plain, typicalEntries());
    await ageEncrypt([alice.recipient], plain, `${plain}.age`);
    const cases: Array<[string, string, RegExp]> = [
      ['missing.txt', '', /Cannot read the identity file .*missing\.txt: ENOENT/],
      ['garbage.txt', '# created: today\nAGE-SECRET-KEY-1NOTAKEY\n', /line 2: not a valid age secret key/],
      ['empty.txt', '# only a comment\n', /holds no age secret key/],
      [
        'ssh.txt',
        '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
        /line 1: an SSH or PEM key/,
      ],
    ];
    for (const [name, content, message] of cases) {
      const file = path.join(dir, name);
      if (content) await fs.writeFile(file, content);
      const result = await runCli(['verify', `${plain}.age`, '--identity', file]);
      expect(result.exitCode, `${name}: ${result.stderr}`).to.equal(2);
      expect(result.stderr, name).to.match(message);
      if (content) expect(result.stderr).to.not.include('NOTAKEY');
    }
    // A passphrase-protected identity file cannot be used unattended: said so.
    const protectedFile = path.join(dir, 'protected.txt');
    await execa('age', ['-r', bob.recipient, '-o', protectedFile, alice.identityFile]);
    const result = await runCli(['verify', `${plain}.age`, '--identity', protectedFile]);
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.match(/is itself encrypted/);
  });

  it('CUPM_ENCRYPT_TO takes age1 recipients separated by commas or spaces, and names each bad one', () => {
    const config = loadConfig({ env: { CUPM_ENCRYPT_TO: `${alice.recipient}, ${bob.recipient}\n${alice.recipient}` }, cwd: dir });
    expect(config.encryption.recipients).to.deep.equal([alice.recipient, bob.recipient]);
    let error: unknown;
    try {
      loadConfig({ env: { CUPM_ENCRYPT_TO: `${alice.recipient},age1notakey,ssh-ed25519` }, cwd: dir });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).to.match(/"age1notakey": not a valid age recipient/);
    expect(problems).to.match(/"ssh-ed25519": SSH keys are not supported/);
  });
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
