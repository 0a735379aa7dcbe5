import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { expect } from '../support/expect.js';
import { execa } from 'execa';
import { archiveFileName, DUMP_ENTRY, MANIFEST_ENTRY } from '../../src/archive/format.js';
import { DEFLATE_BLOCK, ParallelDeflate } from '../../src/archive/parallel-deflate.js';
import { ArchiveReader } from '../../src/archive/reader.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { ArchiveWriter, DEFAULT_COMPRESSION_LEVEL } from '../../src/archive/writer.js';
import { buildZip, manifestFor, patchBytes, SAMPLE_DUMP, sha256, typicalEntries } from '../support/archives.js';
import { javaReadZipStream } from '../support/java-zip.js';

describe('archive format v1', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-archive-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const body = () => {
    const { entries: _entries, ...rest } = manifestFor({});
    return rest;
  };

  it('names archives cupm-backup_<host>_<UTC stamp>[_label].zip', () => {
    const at = new Date('2026-11-25T02:03:04.567Z');
    expect(archiveFileName('CUPM-SRV01', at, null)).to.equal('cupm-backup_CUPM-SRV01_20261125T020304Z.zip');
    expect(archiveFileName('cupm', at, 'pre-upgrade')).to.equal('cupm-backup_cupm_20261125T020304Z_pre-upgrade.zip');
    expect(archiveFileName('cupm', at, 'a/b c:*')).to.equal('cupm-backup_cupm_20261125T020304Z_a-b-c.zip');
  });

  it('writes a ZIP that unzip -t accepts, mode 0600, with every entry measured in the manifest', async () => {
    const final = path.join(dir, 'a.zip');
    const writer = await ArchiveWriter.create(final);
    const keystore = Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0xff, 0x00, 0x0d, 0x0a]);
    await writer.addStream('files/sep/dfc.keystore', Readable.from([keystore]));
    const dump = await writer.addStream(DUMP_ENTRY, Readable.from([SAMPLE_DUMP.slice(0, 10), SAMPLE_DUMP.slice(10)]), { tailBytes: 64 });
    expect(dump.tail.toString()).to.equal(SAMPLE_DUMP.slice(-64));
    const result = await writer.finish(body());

    expect(result.path).to.equal(final);
    expect((await fs.stat(final)).mode & 0o777).to.equal(0o600);
    await expect(fs.access(final + '.partial')).to.be.rejected;
    const { stdout } = await execa('unzip', ['-t', final]);
    expect(stdout).to.match(/No errors detected/);
    expect(result.manifest.entries).to.deep.equal([
      { path: 'files/sep/dfc.keystore', size: keystore.length, sha256: sha256(keystore) },
      { path: DUMP_ENTRY, size: SAMPLE_DUMP.length, sha256: sha256(SAMPLE_DUMP) },
    ]);
    const { stdout: back } = await execa('unzip', ['-p', final, 'files/sep/dfc.keystore'], {
      encoding: 'buffer',
      stripFinalNewline: false,
    });
    expect(Buffer.compare(Buffer.from(back), keystore)).to.equal(0);
  });

  it('reads front to back too (local headers and data descriptors), as streaming unzip tools read it: Java ZipInputStream', async () => {
    const final = path.join(dir, 'streamed.zip');
    const writer = await ArchiveWriter.create(final);
    await writer.addStream('files/sep/dfc.properties', Readable.from(['dfc.postgres.host=db01\r\n']));
    await writer.addStream(DUMP_ENTRY, Readable.from([SAMPLE_DUMP]));
    const result = await writer.finish(body());
    const streamed = await javaReadZipStream(final);
    expect(streamed.slice(0, 2)).to.deep.equal(result.manifest.entries.map((e) => ({ name: e.path, size: e.size, sha256: e.sha256 })));
    expect(streamed.map((e) => ('name' in e ? e.name : e.error))).to.deep.equal(['files/sep/dfc.properties', DUMP_ENTRY, MANIFEST_ENTRY]);
  });

  it('deflates a large entry on several cores as one deflate stream: unzip, Java and verify read it byte for byte, as small as one zlib stream makes it', async () => {
    // 9.5 MiB of dump-like lines (ten blocks, the last one short), repeating across block edges
    // so that matches reach back into the block before (the dictionary each block gets).
    const lines: string[] = [];
    for (let i = 0, length = 0; length < 9.5 * 1024 * 1024; i++) {
      for (let j = 0; j < 1000; j++) {
        const line = `${i * 1000 + j}\tSEP${((i * 7919 + j * 104729) % 0xffffff).toString(16).padStart(6, '0')}\tCisco 79${j % 80}\t{"ring": ${j % 7}}\n`;
        lines.push(line);
        length += line.length;
      }
    }
    const dump = Buffer.from(
      `--\n-- PostgreSQL database cluster dump\n--\n\nCOPY public.phones (id, mac, model, settings) FROM stdin;\n${lines.join('')}\\.\n${SAMPLE_DUMP.slice(SAMPLE_DUMP.lastIndexOf('\n--\n-- PostgreSQL database cluster dump complete'))}`,
    );
    const final = path.join(dir, 'large.zip');
    const writer = await ArchiveWriter.create(final);
    const chunks = Array.from({ length: Math.ceil(dump.length / 65536) }, (_, i) => dump.subarray(i * 65536, (i + 1) * 65536));
    await writer.addStream(DUMP_ENTRY, Readable.from(chunks));
    const result = await writer.finish(body());

    const { stdout } = await execa('unzip', ['-p', final, DUMP_ENTRY], { encoding: 'buffer', stripFinalNewline: false });
    expect(sha256(Buffer.from(stdout))).to.equal(sha256(dump));
    const streamed = await javaReadZipStream(final);
    expect(streamed[0]).to.deep.equal({ name: DUMP_ENTRY, size: dump.length, sha256: sha256(dump) });
    expect((await verifyArchive(final)).problems).to.deep.equal([]);
    const reader = await ArchiveReader.open(final);
    try {
      const stored = reader.entry(DUMP_ENTRY)!.compressedSize;
      const oneStream = zlib.deflateRawSync(dump, { level: DEFAULT_COMPRESSION_LEVEL }).length;
      expect(stored / oneStream).to.be.within(0.99, 1.01);
    } finally {
      await reader.close();
    }
    expect(result.manifest.entries[0]!.size).to.equal(dump.length);
  });

  it('deflates whatever the input is cut into: nothing, one byte, whole blocks, a chunk larger than a block', async () => {
    const block = DEFLATE_BLOCK;
    // Bytes that repeat with a period longer than a block: matches reach across block edges.
    const data = Buffer.from(
      Array.from({ length: (3.5 * block) / 64 }, (_, i) => `${(i % 40_000).toString(36).padStart(8, '0')}${'SEP'.repeat(18)}\n`)
        .join('')
        .slice(0, 3.5 * block),
    );
    const cases: Array<[string, Buffer[]]> = [
      ['nothing', []],
      ['one byte', [data.subarray(0, 1)]],
      ['exactly one block', [data.subarray(0, block)]],
      ['exactly three blocks, in 64 KiB chunks', Array.from({ length: 48 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536))],
      ['three and a half blocks in one chunk', [data]],
      ['uneven chunks', [data.subarray(0, 1000), data.subarray(1000, block + 7), data.subarray(block + 7)]],
    ];
    for (const [what, chunks] of cases) {
      const out: Buffer[] = [];
      await pipeline(
        Readable.from(chunks),
        new ParallelDeflate(DEFAULT_COMPRESSION_LEVEL),
        new Writable({
          write: (chunk: Buffer, _encoding, callback) => {
            out.push(chunk);
            callback();
          },
        }),
      );
      const input = Buffer.concat(chunks);
      // Z_FINISH: the stream must end (a missing final block is an error here).
      expect(zlib.inflateRawSync(Buffer.concat(out)).equals(input), what).to.equal(true);
    }
  });

  it('stops reading an entry at once when it inflates to more than the central directory says (a zip bomb is not read through)', async () => {
    const final = path.join(dir, 'bomb.zip');
    const writer = await ArchiveWriter.create(final);
    await writer.addStream(DUMP_ENTRY, Readable.from([Buffer.alloc(4 * 1024 * 1024, 'A')]));
    await writer.finish(body());
    // The central directory header of the dump: its uncompressed size (offset 24) says 1000 bytes.
    const bytes = await fs.readFile(final);
    const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    expect(bytes.toString('latin1', central + 46, central + 46 + DUMP_ENTRY.length)).to.equal(DUMP_ENTRY);
    bytes.writeUInt32LE(1000, central + 24);
    await fs.writeFile(final, bytes);
    const reader = await ArchiveReader.open(final);
    try {
      let read = 0;
      const consume = async () => {
        for await (const chunk of await reader.openEntry(DUMP_ENTRY)) read += (chunk as Buffer).length;
      };
      await expect(consume()).to.be.rejectedWith(/too many bytes/);
      expect(read).to.be.at.most(1000);
    } finally {
      await reader.close();
    }
  });

  it('leaves no file behind when aborted', async () => {
    const final = path.join(dir, 'b.zip');
    const writer = await ArchiveWriter.create(final);
    await writer.addStream(DUMP_ENTRY, Readable.from(['half a dump']));
    await writer.abort();
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('fails the entry when its source stream fails', async () => {
    const final = path.join(dir, 'c.zip');
    const writer = await ArchiveWriter.create(final);
    const source = new Readable({ read() {} });
    source.push('some bytes');
    setTimeout(() => source.destroy(new Error('disk read error')), 20);
    await expect(writer.addStream(DUMP_ENTRY, source)).to.be.rejectedWith(/disk read error/);
    await writer.abort();
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('verifies a good archive', async () => {
    const file = path.join(dir, 'good.zip');
    await buildZip(file, typicalEntries());
    const report = await verifyArchive(file);
    expect(report.problems).to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.bytesChecked).to.be.greaterThan(SAMPLE_DUMP.length);
  });

  it('names a tampered entry (SHA-256 differs)', async () => {
    const entries = typicalEntries();
    const manifest = manifestFor(entries);
    entries['files/install.log'] = 'Cisco Unified Provisioning Manager 9.9\r\n'; // same size, other bytes
    const file = path.join(dir, 'tampered.zip');
    await buildZip(file, entries, manifest);
    const report = await verifyArchive(file);
    expect(report.ok).to.equal(false);
    expect(report.problems).to.deep.equal(['files/install.log: SHA-256 differs from the manifest (tampered or corrupt)']);
  });

  it('names missing and extra entries and size mismatches', async () => {
    const entries = typicalEntries();
    const manifest = manifestFor({ ...entries, 'files/sep/dfc.properties': 'x=1\n' });
    manifest.entries.find((e) => e.path === 'files/install.log')!.size += 5;
    const file = path.join(dir, 'wrong.zip');
    await buildZip(file, { ...entries, 'files/extra.txt': 'who put me here' }, manifest);
    const report = await verifyArchive(file);
    expect(report.problems).to.include('entry files/extra.txt is in the archive but not in the manifest');
    expect(report.problems).to.include('files/sep/dfc.properties is listed in the manifest but missing from the archive');
    expect(report.problems.some((p) => p.startsWith('files/install.log: the archive holds'))).to.equal(true);
  });

  it('calls a dump without its trailer incomplete', async () => {
    const entries = { ...typicalEntries(), [DUMP_ENTRY]: 'CREATE ROLE cupm;\nCOPY phone FROM stdin;\n1\t2\n' };
    const file = path.join(dir, 'cut.zip');
    await buildZip(file, entries);
    const report = await verifyArchive(file);
    expect(report.problems.join('\n')).to.match(/does not end with "-- PostgreSQL database cluster dump complete"/);
  });

  it('calls a truncated file not a readable ZIP', async () => {
    const file = path.join(dir, 'trunc.zip');
    await buildZip(file, typicalEntries());
    const { size } = await fs.stat(file);
    await fs.truncate(file, Math.floor(size / 2));
    const report = await verifyArchive(file);
    expect(report.ok).to.equal(false);
    expect(report.problems[0]).to.match(/not a readable ZIP archive|corrupt or truncated/);
  });

  it('refuses an archive of a newer format version with a message saying so', async () => {
    const entries = typicalEntries();
    const file = path.join(dir, 'v2.zip');
    await buildZip(file, entries, { ...manifestFor(entries), formatVersion: 2 as 1 });
    const report = await verifyArchive(file);
    expect(report.problems.join('\n')).to.match(/format version 2; this cupm-backup reads versions up to 1/);
  });

  it('says when manifest.json is missing or is not JSON', async () => {
    const none = path.join(dir, 'none.zip');
    await buildZip(none, typicalEntries(), null);
    expect((await verifyArchive(none)).problems.join()).to.match(/has no manifest\.json/);
    const garbage = path.join(dir, 'garbage.zip');
    await buildZip(garbage, typicalEntries(), '{ not json');
    expect((await verifyArchive(garbage)).problems.join()).to.match(/manifest\.json is not valid JSON/);
  });

  it('reports unsafe entry names instead of trusting them', async () => {
    // archiver cleans names, so write a harmless one and patch it in place (same length).
    const entries = { ...typicalEntries(), 'xx/evil.sh': 'rm -rf /' };
    const file = path.join(dir, 'evil.zip');
    await buildZip(file, entries);
    await patchBytes(file, 'xx/evil.sh', '../evil.sh');
    const reader = await ArchiveReader.open(file);
    try {
      expect(reader.structuralProblems).to.deep.equal(['entry "../evil.sh" climbs out of its folder with ..']);
      expect(reader.entryNames).to.include(MANIFEST_ENTRY);
    } finally {
      await reader.close();
    }
    expect((await verifyArchive(file)).ok).to.equal(false);
  });
});
