import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DUMP_ENTRY, MANIFEST_ENTRY } from '../../src/archive/format.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { manifestFor, SAMPLE_DUMP } from '../support/archives.js';
import { writeRawZip, type RawEntry } from '../support/raw-zip.js';
import { treeHashes } from '../support/servers.js';

const KEYSTORE = crypto.randomBytes(512);
const GOOD: Record<string, Buffer | string> = {
  [DUMP_ENTRY]: SAMPLE_DUMP,
  'files/install.log': 'Cisco Unified Provisioning Manager 8.5\r\n',
  'files/sep/dfc.keystore': KEYSTORE,
};

/**
 * Hostile archives, written byte by byte (a ZIP library would refuse to write most of them), each
 * refused with its reason, before a byte of data is used: by verify, list and restore.
 */
describe('hostile archives are refused before anything is written (exit 3, each reason named)', function () {
  this.timeout(120_000);
  let dir: string;
  let install: string;
  let backups: string;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-hostile-'));
    install = path.join(dir, 'CUPM');
    backups = path.join(dir, 'backups');
    await fs.mkdir(path.join(install, 'sep'), { recursive: true });
    await fs.writeFile(path.join(install, 'install.log'), 'Cisco Unified Provisioning Manager 8.5\r\n');
    await fs.mkdir(backups);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /**
   * An archive of the GOOD entries changed by `change` (entries as raw-zip entries, the manifest
   * as listed), written as `name`.
   */
  async function hostile(
    name: string,
    change: {
      entries?: (entries: RawEntry[]) => RawEntry[];
      manifest?: (m: ReturnType<typeof manifestFor>) => unknown;
      declaredCount?: number;
    } = {},
  ): Promise<string> {
    const manifest = manifestFor(GOOD);
    const body = change.manifest ? change.manifest(manifest) : manifest;
    let entries: RawEntry[] = Object.entries(GOOD).map(([n, data]) => ({ name: n, data: Buffer.from(data) }));
    entries.push({ name: MANIFEST_ENTRY, data: typeof body === 'string' ? body : JSON.stringify(body) });
    if (change.entries) entries = change.entries(entries);
    return writeRawZip(path.join(dir, name), entries, { declaredCount: change.declaredCount });
  }

  async function problemsOf(file: string): Promise<string> {
    const report = await verifyArchive(file);
    expect(report.ok, file).to.equal(false);
    return report.problems.join('\n');
  }

  it('a well-formed raw archive verifies (the builder itself is sound)', async () => {
    const file = await hostile('sound.zip');
    const report = await verifyArchive(file);
    expect(report.problems).to.deep.equal([]);
  });

  const renamed =
    (from: string, to: string | Buffer, extra: Partial<RawEntry> = {}) =>
    (entries: RawEntry[]) =>
      entries.map((e) => (e.name === from ? { ...e, name: to, ...extra } : e));
  const inManifest = (from: string, to: string) => (m: ReturnType<typeof manifestFor>) => ({
    ...m,
    entries: m.entries.map((e) => (e.path === from ? { ...e, path: to } : e)),
  });

  const names: Array<[string, string | Buffer, RegExp]> = [
    ['a name that climbs out with ..', 'files/../../../../tmp/cupm-pwned', /climbs out of its folder with \.\./],
    ['an absolute name', '/tmp/cupm-pwned', /is an absolute path/],
    ['a drive letter', 'C:/Windows/System32/cupm-pwned.dll', /starts with a drive letter/],
    ['backslashes', 'files\\sep\\dfc.keystore', /has a backslash in its name/],
    ['a NUL character', Buffer.from('files/sep/dfc.keystore\u0000.txt'), /has a NUL character in its name/],
    ['a control character', 'files/sep/dfc\u001b[2J.keystore', /has a control character in its name/],
    ['an alternate data stream', 'files/sep/dfc.keystore:evil', /has a colon in its name/],
  ];
  for (const [what, name, reason] of names) {
    it(`an entry name with ${what}`, async () => {
      const shown = Buffer.isBuffer(name) ? name.toString('utf8') : name;
      const file = await hostile(`${what.replace(/\W+/g, '-')}.zip`, {
        entries: renamed('files/sep/dfc.keystore', name),
        manifest: inManifest('files/sep/dfc.keystore', shown),
      });
      expect(await problemsOf(file)).to.match(reason);
    });
  }

  it('a symbolic link entry (a restore would follow it)', async () => {
    const file = await hostile('symlink.zip', {
      entries: (entries) =>
        entries.map((e) => (e.name === 'files/sep/dfc.keystore' ? { ...e, data: '/etc/shadow', unixMode: 0o120777 } : e)),
      manifest: () => manifestFor({ ...GOOD, 'files/sep/dfc.keystore': '/etc/shadow' }),
    });
    expect(await problemsOf(file)).to.match(/entry "files\/sep\/dfc\.keystore" is a symbolic link/);
  });

  it('two entries of the same name (which one would be restored?)', async () => {
    const file = await hostile('duplicate.zip', {
      entries: (entries) => [...entries, { name: 'files/install.log', data: 'the other one' }],
    });
    expect(await problemsOf(file)).to.match(/entry "files\/install\.log" appears more than once/);
  });

  it('an entry the manifest does not list, and a listed one that is missing', async () => {
    const extra = await hostile('extra.zip', {
      entries: (entries) => [...entries, { name: 'files/sep/dfc.properties', data: 'dfc.postgres.host=evil\n' }],
    });
    expect(await problemsOf(extra)).to.match(/entry files\/sep\/dfc\.properties is in the archive but not in the manifest/);
    const missing = await hostile('missing.zip', { entries: (entries) => entries.filter((e) => e.name !== 'files/install.log') });
    expect(await problemsOf(missing)).to.match(/files\/install\.log is listed in the manifest but missing from the archive/);
  });

  it('a "CUPM file" that is not one of the five: a restore would write it into the install dir', async () => {
    const war = 'files/EnterprisePlatform-4.2.0.GA_CP09/server/cupm/deploy/evil.war';
    const file = await hostile('war.zip', {
      entries: (entries) => [
        ...entries.filter((e) => e.name !== MANIFEST_ENTRY),
        { name: war, data: 'PK...' },
        { name: MANIFEST_ENTRY, data: JSON.stringify(manifestFor({ ...GOOD, [war]: 'PK...' })) },
      ],
    });
    expect(await problemsOf(file)).to.match(
      /lists "files\/EnterprisePlatform-4\.2\.0\.GA_CP09\/server\/cupm\/deploy\/evil\.war", which is not one of the five CUPM files/,
    );
  });

  it('a zip bomb: the directory says a few bytes, the data inflates to 64 MiB; reading stops at the declared size', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024, 0x41), { level: 9 });
    const declared = 1000;
    const file = await hostile('bomb.zip', {
      entries: (entries) =>
        entries.map((e) => (e.name === 'files/sep/dfc.keystore' ? { ...e, compressed: bomb, declaredSize: declared } : e)),
      manifest: (m) => ({ ...m, entries: m.entries.map((e) => (e.path === 'files/sep/dfc.keystore' ? { ...e, size: declared } : e)) }),
    });
    const started = process.memoryUsage().rss;
    const report = await verifyArchive(file);
    expect(report.problems.join('\n')).to.match(
      /files\/sep\/dfc\.keystore cannot be read: .*too many bytes in the stream: more than the 1000 /,
    );
    // Stopped within a chunk or two of the declared size, not after 64 MiB.
    expect(report.bytesChecked).to.be.below(declared + 256 * 1024);
    expect(process.memoryUsage().rss - started).to.be.below(48 * 1024 * 1024);
  });

  it('a declared size deflate cannot produce from the bytes stored is refused unread', async () => {
    const huge = 0xfff00000;
    const file = await hostile('claims.zip', {
      entries: (entries) => entries.map((e) => (e.name === DUMP_ENTRY ? { ...e, declaredSize: huge } : e)),
      manifest: (m) => ({ ...m, entries: m.entries.map((e) => (e.path === DUMP_ENTRY ? { ...e, size: huge } : e)) }),
    });
    const report = await verifyArchive(file);
    expect(report.problems.join('\n')).to.match(
      /entry "database\/pg_dumpall\.sql" claims 4293918720 bytes from \d+ compressed: more than deflate can produce/,
    );
    expect(report.bytesChecked).to.equal(0);
  });

  it('a manifest over a sane size, declared or inflated, is refused unread', async () => {
    const big = await hostile('big-manifest.zip', { manifest: (m) => ({ ...m, padding: 'x'.repeat(2 * 1024 * 1024) }) });
    expect(await problemsOf(big)).to.match(/manifest\.json in .* is \d+ bytes, more than a manifest can be/);
    const lying = await hostile('lying-manifest.zip', {
      entries: (entries) =>
        entries.map((e) =>
          e.name === MANIFEST_ENTRY ? { ...e, data: JSON.stringify({ padding: 'x'.repeat(3 * 1024 * 1024) }), declaredSize: 100 } : e,
        ),
    });
    expect(await problemsOf(lying)).to.match(/manifest\.json|too many bytes/);
  });

  it('a central directory that claims more entries than any archive of ours has', async () => {
    const file = await hostile('many.zip', { declaredCount: 65535 });
    expect(await problemsOf(file)).to.match(/lists 65535 entries/);
  });

  it('a compression method nothing here inflates, and ZIP-encrypted entries', async () => {
    const method = await hostile('method.zip', {
      entries: (entries) =>
        entries.map((e) => (e.name === 'files/install.log' ? { ...e, method: 14, compressed: Buffer.from('lzma?') } : e)),
    });
    expect(await problemsOf(method)).to.match(/uses compression method 14/);
    const encrypted = await hostile('zipcrypto.zip', {
      entries: (entries) => entries.map((e) => (e.name === 'files/install.log' ? { ...e, flags: 0x1 } : e)),
    });
    expect(await problemsOf(encrypted)).to.match(/uses ZIP encryption/);
  });

  it('a dump entry that is not a pg_dumpall script, or that carries a shell escape', async () => {
    const notDump = await hostile('not-a-dump.zip', {
      entries: (entries) => entries.map((e) => (e.name === DUMP_ENTRY ? { ...e, data: '#!/bin/sh\nrm -rf /\n' } : e)),
      manifest: () => manifestFor({ ...GOOD, [DUMP_ENTRY]: '#!/bin/sh\nrm -rf /\n' }),
    });
    expect(await problemsOf(notDump)).to.match(/does not start with "-- PostgreSQL database cluster dump"/);
    const injected = SAMPLE_DUMP.replace('CREATE ROLE cupm;', 'CREATE ROLE cupm;\n\\! touch /tmp/cupm-pwned');
    const escape = await hostile('escape.zip', {
      entries: (entries) => entries.map((e) => (e.name === DUMP_ENTRY ? { ...e, data: injected } : e)),
      manifest: () => manifestFor({ ...GOOD, [DUMP_ENTRY]: injected }),
    });
    expect(await problemsOf(escape)).to.match(/line 6: "\\!" runs a shell command on this machine/);
  });

  it('through the command line: verify, list and restore --dry-run refuse with exit 3, and nothing is written', async () => {
    const traversal = await hostile('cli-traversal.zip', {
      entries: renamed('files/sep/dfc.keystore', 'files/../../../../tmp/cupm-pwned-cli'),
      manifest: inManifest('files/sep/dfc.keystore', 'files/../../../../tmp/cupm-pwned-cli'),
    });
    const env = { CUPM_INSTALL_DIR: install, CUPM_BACKUP_DIR: backups, CUPM_SERVICE_MANAGER: 'none', PGHOST: '127.0.0.1', PGPORT: '1' };
    const installBefore = await treeHashes(install);

    const verify = await runCli(['verify', traversal, '--json'], { env });
    expect(verify.exitCode, verify.stderr).to.equal(3);
    expect(verify.json<{ problems: string[] }>().problems.join('\n')).to.match(/climbs out of its folder/);

    await fs.copyFile(traversal, path.join(backups, 'cupm-backup_cupm01_20261125T020000Z.zip'));
    const list = await runCli(['list', backups], { env });
    expect(list.exitCode, list.stderr).to.equal(0);
    expect(list.stdout).to.match(
      /cupm-backup_cupm01_20261125T020000Z\.zip .* UNREADABLE\n {2}-> unsafe entries: entry "files\/\.\.\/\.\.\/\.\.\/\.\.\/tmp\/cupm-pwned-cli" climbs out/,
    );

    for (const args of [
      ['restore', traversal, '--dry-run'],
      ['restore', traversal, '--yes'],
      ['migrate', traversal, '--db-host', 'db.example', '--yes'],
    ]) {
      const result = await runCli([...args, '--json'], { env });
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).to.equal(3);
      expect(result.stderr)
        .to.match(/is NOT valid/)
        .and.match(/climbs out of its folder/)
        .and.match(/State: nothing was changed/);
    }
    expect(await treeHashes(install)).to.deep.equal(installBefore);
    expect((await fs.readdir(backups)).sort()).to.deep.equal(['cupm-backup_cupm01_20261125T020000Z.zip']);
    await expect(fs.stat('/tmp/cupm-pwned-cli')).to.be.rejectedWith(/ENOENT/);
  });
});
