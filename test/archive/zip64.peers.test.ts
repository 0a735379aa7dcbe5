import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { DUMP_ENTRY, MANIFEST_ENTRY } from '../../src/archive/format.js';
import { ArchiveReader } from '../../src/archive/reader.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { ArchiveWriter } from '../../src/archive/writer.js';
import { manifestFor } from '../support/archives.js';
import { expect } from '../support/expect.js';
import { javaReadZipStream } from '../support/java-zip.js';

/**
 * A large install's dump passes 4 GiB: the archive needs ZIP64. Proven here without a database:
 * a synthetic dump of 4 GiB + 64 MiB of COPY-like lines (it deflates ~200:1, so the file stays
 * small) goes through the real writer, then through three independent readers. It is the slowest
 * test of the archive (some 4 GiB of deflate, inflate and hashing each way, about a minute).
 */
describe('archive format v1: a dump over 4 GiB (ZIP64)', function () {
  this.timeout(15 * 60_000);
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-zip64-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const BLOCK = 1024 * 1024;
  const BLOCKS = 4096 + 64;
  // A pg_dumpall script the dump guard accepts: one COPY whose data is the bulk of it.
  const HEADER =
    '--\n-- PostgreSQL database cluster dump\n--\n\n\\connect cupm\n\nCOPY public.phones (id, mac, model, settings, created) FROM stdin;\n';
  const TRAILER = '\\.\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n';
  const size = HEADER.length + BLOCKS * BLOCK + TRAILER.length;

  it('is written, and read back whole by unzip -t, by verify, and front to back by Java', async () => {
    const line = '4711\tSEP00AB12CD34EF\tCisco 7975\t{"locale": "ja_JP", "ring": 3}\t2011-03-15 01:22:41+00\n';
    // Whole lines, padded to the block size with one line of digits.
    const lines = line.repeat(Math.floor(BLOCK / line.length) - 1);
    const filler = BLOCK - lines.length;
    const block = Buffer.from(lines + '9'.repeat(filler - 1) + '\n');
    expect(block.length).to.equal(BLOCK);
    const expected = crypto.createHash('sha256');
    expected.update(HEADER);
    for (let i = 0; i < BLOCKS; i++) expected.update(block);
    expected.update(TRAILER);
    const dump = Readable.from(
      (function* () {
        yield Buffer.from(HEADER);
        for (let i = 0; i < BLOCKS; i++) yield block;
        yield Buffer.from(TRAILER);
      })(),
    );

    const file = path.join(dir, 'big.zip');
    const writer = await ArchiveWriter.create(file);
    const properties = Buffer.from('dfc.postgres.host=db01\r\n');
    await writer.addStream('files/sep/dfc.properties', Readable.from([properties]));
    const measured = await writer.addStream(DUMP_ENTRY, dump, { tailBytes: 64 });
    const { entries: _entries, ...body } = manifestFor({});
    const result = await writer.finish(body);

    expect(measured.size).to.equal(size);
    expect(size).to.be.greaterThan(2 ** 32);
    expect(measured.sha256).to.equal(expected.digest('hex'));
    expect(result.size).to.be.lessThan(100 * 1024 * 1024);

    const reader = await ArchiveReader.open(file);
    try {
      expect(reader.entry(DUMP_ENTRY)?.uncompressedSize).to.equal(size);
    } finally {
      await reader.close();
    }

    const unzip = await execa('unzip', ['-t', file]);
    expect(unzip.stdout).to.match(/No errors detected/);
    const listing = await execa('unzip', ['-l', file]);
    expect(listing.stdout).to.include(String(size));

    const report = await verifyArchive(file);
    expect(report.problems).to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.bytesChecked).to.equal(size + properties.length);

    const streamed = await javaReadZipStream(file);
    expect(streamed.slice(0, 2)).to.deep.equal(result.manifest.entries.map((e) => ({ name: e.path, size: e.size, sha256: e.sha256 })));
    expect(streamed.map((e) => ('name' in e ? e.name : e.error))).to.deep.equal(['files/sep/dfc.properties', DUMP_ENTRY, MANIFEST_ENTRY]);
  });
});
