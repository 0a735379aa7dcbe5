import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { expect } from '../support/expect.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { copyArchive } from '../../src/offsite/copy.js';
import { withConnection, type Destination } from '../../src/offsite/destination.js';
import { configuredDestinations } from '../../src/offsite/index.js';
import { listRemoteArchives } from '../../src/offsite/remote-catalog.js';
import { describeS3Error, expectedEtag, partSizeFor } from '../../src/offsite/s3.js';
import { pruneLocked } from '../../src/schedule/prune.js';
import { writeArchiveAt, writeCorruptArchive } from '../support/dated-archives.js';
import { objectStore, type ObjectStore } from '../support/object-store.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

/** A file of `mib` MiB whose every MiB differs (so a part swapped or repeated changes the ETag). */
async function bigFile(file: string, mib: number): Promise<void> {
  const block = crypto.randomBytes(1024 * 1024);
  const handle = await fs.open(file, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      block.writeUInt32BE(i, 0);
      await handle.write(block);
    }
  } finally {
    await handle.close();
  }
}

describe('off-site copies to S3 (a real OpenStack Swift with s3api on loopback)', function () {
  this.timeout(600_000);
  let store: ObjectStore;
  let local: string;
  let archive: string;
  let bucket: string;

  before(async function () {
    this.timeout(300_000);
    store = await objectStore();
  });
  beforeEach(async () => {
    local = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-s3-local-'));
    archive = await writeArchiveAt(local, { createdAt: '2026-11-24T02:00:00.000Z' });
    bucket = await store.bucket();
  });
  afterEach(async () => {
    await fs.rm(local, { recursive: true, force: true });
  });

  /** The configuration an administrator would write, through the real config parser. */
  const configWith = (env: Record<string, string> = {}): Config =>
    loadConfig({
      env: {
        CUPM_BACKUP_DIR: local,
        CUPM_OFFSITE: `s3://${bucket}/cupm/site1`,
        CUPM_S3_ENDPOINT: store.endpoint,
        AWS_ACCESS_KEY_ID: store.accessKeyId,
        AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
        ...env,
      },
      cwd: local,
    });
  const destinationOf = (env: Record<string, string> = {}): Destination => configuredDestinations(configWith(env).offsite)[0]!;
  const copyTo = (destination: Destination, file = path.join(local, archive), options = {}) =>
    withConnection(destination, (c) => copyArchive(c, destination.display, file, options));
  const keys = async (prefix = '') => {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      names.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names.sort();
  };
  const objectBytes = async (key: string) =>
    Buffer.from(await (await store.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());

  it('copies an archive under the prefix, byte for byte, checked by size and ETag', async () => {
    const destination = destinationOf();
    expect(destination.display).to.equal(`s3://${bucket}/cupm/site1`);
    const copy = await copyTo(destination);
    expect(copy.alreadyThere).to.equal(false);
    const etag = await expectedEtag(path.join(local, archive));
    expect(copy.check).to.equal(`size and ETag matched (ETag ${etag})`);
    expect(await keys()).to.deep.equal([`cupm/site1/${archive}`]);
    expect((await objectBytes(`cupm/site1/${archive}`)).equals(await fs.readFile(path.join(local, archive)))).to.equal(true);

    // Sent again (a run whose record was lost): recognised by size and ETag, not uploaded twice.
    expect((await copyTo(destination)).alreadyThere).to.equal(true);
  });

  it('a multipart upload of a few hundred MB: parts with Content-MD5, the multipart ETag matches, memory stays bounded', async () => {
    const file = path.join(local, 'cupm-backup_big_20261124-020000.zip');
    const mib = 300;
    await bigFile(file, mib);
    const partSize = partSizeFor(mib * 1024 * 1024);
    const expected = await expectedEtag(file);
    expect(expected).to.match(new RegExp(`^[0-9a-f]{32}-${Math.ceil((mib * 1024 * 1024) / partSize)}$`));

    let peak = 0;
    const baseline = process.memoryUsage().rss;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - baseline);
    }, 50);
    let progress = 0;
    try {
      const copy = await copyTo(destinationOf(), file, { onBytes: (done: number) => (progress = done) });
      expect(copy.check).to.include(expected);
    } finally {
      clearInterval(sample);
    }
    expect(progress).to.equal(mib * 1024 * 1024);
    // The whole file held in memory would be 300 MB; two 8 MiB parts in flight are what it takes
    // (about 70 MB measured with garbage not yet collected; the bound leaves room for a busy GC).
    expect(peak, `RSS grew by ${Math.round(peak / 1048576)} MB`).to.be.below(160 * 1024 * 1024);
    const head = await withConnection(destinationOf(), (c) => c.stat(path.basename(file)));
    expect(head?.size).to.equal(mib * 1024 * 1024);
  });

  it('ranged reads return exactly the bytes asked for; a range past the end is InvalidRange, said so', async () => {
    const file = path.join(local, 'cupm-backup_ranges_20261124-020000.zip');
    await bigFile(file, 9); // two parts
    await copyTo(destinationOf(), file);
    const bytes = await fs.readFile(file);
    await withConnection(destinationOf(), async (c) => {
      for (const [start, end] of [
        [0, 10],
        [8 * 1024 * 1024 - 5, 8 * 1024 * 1024 + 5],
        [bytes.length - 7, bytes.length],
      ] as const) {
        const chunks: Buffer[] = [];
        for await (const chunk of c.createReadStream(path.basename(file), { start, end })) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).equals(bytes.subarray(start, end))).to.equal(true);
      }
      const beyond = (async () => {
        for await (const _ of c.createReadStream(path.basename(file), { start: bytes.length + 10, end: bytes.length + 20 }));
      })();
      const error = await beyond.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(c.describeError(error)).to.match(/InvalidRange/);
    });
  });

  it('lists every page of a long listing, only the archives directly under the prefix, manifests read by ranged GETs', async () => {
    const body = await fs.readFile(path.join(local, archive));
    const names: string[] = [];
    for (let i = 0; i < 23; i++) {
      const name = `cupm-backup_host${String(i).padStart(2, '0')}_20261124-020000.zip`;
      names.push(name);
      await store.client.send(new PutObjectCommand({ Bucket: bucket, Key: `cupm/site1/${name}`, Body: body }));
    }
    // Neither another server's prefix nor a deeper "folder" belongs to this destination.
    await store.client.send(new PutObjectCommand({ Bucket: bucket, Key: `cupm/site10/${archive}`, Body: body }));
    await store.client.send(new PutObjectCommand({ Bucket: bucket, Key: `cupm/site1/old/${archive}`, Body: body }));
    const destination = destinationOf();
    const listed = await withConnection(destination, async (c) => {
      (c as unknown as { pageSize: number }).pageSize = 5; // 23 objects: five pages
      return listRemoteArchives(c, destination.display);
    });
    expect(listed.map((a) => a.name).sort()).to.deep.equal(names);
    expect(listed.every((a) => a.manifest?.createdAt === '2026-11-24T02:00:00.000Z')).to.equal(true);
  });

  it('retention deletes archives there by the policy, reading their manifests; a corrupt copy is kept and reported', async () => {
    const config = configWith();
    const destination = configuredDestinations(config.offsite)[0]!;
    const names = [archive];
    for (const day of ['2026-11-25', '2026-11-26']) names.push(await writeArchiveAt(local, { createdAt: `${day}T02:00:00.000Z` }));
    await withConnection(destination, async (c) => {
      for (const name of names) await copyArchive(c, destination.display, path.join(local, name));
    });
    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-s3-corrupt-'));
    const corrupt = await writeCorruptArchive(scratch, '2026-11-20T02:00:00.000Z');
    await store.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: `cupm/site1/${corrupt}`, Body: await fs.readFile(path.join(scratch, corrupt)) }),
    );
    await fs.rm(scratch, { recursive: true });

    const result = await pruneLocked(config, { policy: { last: 1 } });
    const remote = result.locations.find((l) => l.kind === 's3')!;
    expect(remote.error).to.equal(undefined);
    expect(remote.deleted).to.have.members([names[0], names[1]]);
    expect(remote.unreadable.map((u) => u.name)).to.deep.equal([corrupt]);
    expect(await keys()).to.deep.equal([`cupm/site1/${corrupt}`, `cupm/site1/${names[2]}`].sort());
  });

  it('a wrong secret: the store refuses the signature, exit 2, and the secret is in no message', async () => {
    const wrong = 'not-the-secret-XYZ';
    const destination = destinationOf({ AWS_SECRET_ACCESS_KEY: wrong });
    const error = await destination.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).exitCode).to.equal(2);
    expect((error as ConfigError).describe()).to.match(
      /\(SignatureDoesNotMatch\): AWS_SECRET_ACCESS_KEY is wrong for this AWS_ACCESS_KEY_ID/,
    );
    expect((error as ConfigError).describe()).not.to.include(wrong);
    expect((error as ConfigError).describe()).not.to.include(store.secretAccessKey);
  });

  it('a bucket that does not exist: exit 2 at preflight, never created unless CUPM_S3_CREATE_BUCKET=1', async () => {
    const missing = await store.bucket({ create: false });
    const destination = destinationOf({ CUPM_OFFSITE: `s3://${missing}/cupm` });
    const error = await destination.preflight!().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).message).to.match(
      new RegExp(`the bucket ${missing} does not exist \\(NoSuchBucket\\).*CUPM_S3_CREATE_BUCKET=1`),
    );
    const after = await store.client.send(new ListObjectsV2Command({ Bucket: missing })).then(
      () => 'exists',
      (e: { name?: string }) => e.name,
    );
    expect(after).to.equal('NoSuchBucket');

    await copyTo(destinationOf({ CUPM_OFFSITE: `s3://${missing}/cupm`, CUPM_S3_CREATE_BUCKET: '1' }));
    const created = await store.client.send(new ListObjectsV2Command({ Bucket: missing }));
    expect(created.Contents?.map((o) => o.Key)).to.deep.equal([`cupm/${archive}`]);
  });

  it('a prefix with .. is refused when the configuration is read', () => {
    const error = (() => {
      try {
        configWith({ CUPM_OFFSITE: `s3://${bucket}/cupm/../site2` });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).describe()).to.match(/CUPM_OFFSITE.*the prefix has a "\." or "\.\." segment/);
  });

  it('a store that goes down mid-upload: the copy fails saying so, no object appears; the next try succeeds', async () => {
    const file = path.join(local, 'cupm-backup_cut_20261124-020000.zip');
    await bigFile(file, 24);
    const proxy = await startTcpProxy(store.port, { cutAfter: 10 * 1024 * 1024 });
    const error = await copyTo(destinationOf({ CUPM_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}` }), file).then(
      () => undefined,
      (e: unknown) => e,
    );
    await proxy.close();
    expect(String((error as Error).message)).to.match(/cannot be reached \((ECONNREFUSED|ECONNRESET|EPIPE)\): is the store down/);
    expect(await keys()).to.deep.equal([]);
    const again = await copyTo(destinationOf(), file);
    expect(again.alreadyThere).to.equal(false);
    expect(await keys()).to.deep.equal([`cupm/site1/${path.basename(file)}`]);
  });

  it('a part damaged in transit is detected by its Content-MD5 (BadDigest): no object is stored', async () => {
    const file = path.join(local, 'cupm-backup_flip_20261124-020000.zip');
    await bigFile(file, 20);
    const proxy = await startTcpProxy(store.port, { flipAt: 12 * 1024 * 1024 });
    try {
      const copy = copyTo(destinationOf({ CUPM_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}` }), file);
      await expect(copy).to.be.rejectedWith(/MD5 differs from the Content-MD5 sent \(BadDigest\): it was damaged on the way/);
    } finally {
      await proxy.close();
    }
    expect(await keys()).to.deep.equal([]);
  });

  it('a clock far off: the store refuses the signature as skewed, and the message says clock skew', async () => {
    const skewed = new S3Client({
      endpoint: store.endpoint,
      region: store.region,
      forcePathStyle: true,
      credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
      systemClockOffset: -3 * 3600 * 1000,
      maxAttempts: 1,
    });
    const error = await skewed.send(new ListObjectsV2Command({ Bucket: bucket })).then(
      () => undefined,
      (e: unknown) => e,
    );
    skewed.destroy();
    expect(describeS3Error(error)).to.match(/^clock skew: .*RequestTimeTooSkewed/);
  });

  it('an object of the same name with other content (another server on the same prefix) is refused, not overwritten', async () => {
    const key = `cupm/site1/${archive}`;
    await store.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'the archive of another server' }));
    await expect(copyTo(destinationOf())).to.be.rejectedWith(
      /already holds an object named .* with other content \(29 bytes\); it was not overwritten/,
    );
    expect((await objectBytes(key)).toString()).to.equal('the archive of another server');
  });

  it('a copy whose object does not match what was sent is deleted', async () => {
    const destination = destinationOf();
    const copy = copyTo(destination, path.join(local, archive), {
      // What the store holds after the upload: another object put in its place.
      afterUpload: async () => {
        await store.client.send(new PutObjectCommand({ Bucket: bucket, Key: `cupm/site1/${archive}`, Body: 'something else' }));
      },
    });
    await expect(copy).to.be.rejectedWith(/holds 14 bytes instead of \d+/);
    expect(await keys()).to.deep.equal([]);
  });
});
