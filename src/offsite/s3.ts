import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { readRange } from '../file-system.js';
import { ConfigError, CupmError, JobFailedError, messageOf } from '../errors.js';
import type { Destination, DestinationConnection, RemoteFile } from './destination.js';
import type { S3Settings } from './s3-settings.js';
import type { S3Target } from './targets.js';

// The SDK warns on stderr about Node 20 support ending; that is for us to act on, not the operator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * Parts are read into memory one at a time per worker, each worker reusing one buffer part after
 * part: memory is PARTS_IN_FLIGHT x part size, and no garbage. (Streaming each part from the file
 * instead, its MD5 read first, measured 20 MB more: a read stream allocates a new 64 KiB buffer
 * per read, and a gigabyte of those is held until collected. docs/performance.md.)
 */
const MIN_PART_BYTES = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
const PARTS_IN_FLIGHT = 2;
/** What the ETag computation reads at a time (one buffer, reused). */
const MD5_READ_BYTES = 256 * 1024;

/** The part size for a file: 8 MiB, or larger (whole MiB) when 10,000 parts would not hold it. */
export function partSizeFor(size: number): number {
  const mib = 1024 * 1024;
  return Math.max(MIN_PART_BYTES, Math.ceil(size / MAX_PARTS / mib) * mib);
}

/** The MD5 of bytes [start, end) of an open file, read through `buffer`. */
async function md5Of(handle: fsp.FileHandle, file: string, start: number, end: number, buffer: Buffer): Promise<Buffer> {
  const hash = createHash('md5');
  const read = await readRange(handle, { start, end }, buffer, (chunk) => hash.update(chunk));
  if (read < end - start) throw new JobFailedError(`${file} got shorter while being read.`);
  return hash.digest();
}

/**
 * The ETag an S3 store reports for `localFile` uploaded as cupm-backup uploads it: the MD5 of the
 * file when it fits in one part, else the MD5 of the parts' MD5s and `-<parts>` (multipart).
 * Computed here from the file, so that the check does not trust what the upload computed.
 */
export async function expectedEtag(localFile: string): Promise<string> {
  const { size } = await fsp.stat(localFile);
  const partSize = partSizeFor(size);
  const handle = await fsp.open(localFile, 'r');
  try {
    const buffer = Buffer.allocUnsafe(MD5_READ_BYTES);
    if (size <= partSize) return (await md5Of(handle, localFile, 0, size, buffer)).toString('hex');
    const partMd5s: Buffer[] = [];
    for (let start = 0; start < size; start += partSize)
      partMd5s.push(await md5Of(handle, localFile, start, Math.min(size, start + partSize), buffer));
    return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
  } finally {
    await handle.close();
  }
}

type Sdk = typeof import('@aws-sdk/client-s3');
let loaded: Promise<Sdk> | undefined;

/**
 * The AWS SDK, loaded on first use: it is large (about 25 MB of memory and a quarter second to
 * load), and only S3 destinations need it.
 */
function loadSdk(): Promise<Sdk> {
  // The SDK is CommonJS. Node's import() gives its exports by name; the bundled command's
  // (esbuild) gives them only as `default`, module.exports itself, which Node gives too.
  loaded ??= import('@aws-sdk/client-s3').then((sdk) => ('S3Client' in sdk ? sdk : (sdk as { default: Sdk }).default));
  return loaded;
}

/** An S3 client for any S3-compatible store: path-style, checksums only where S3 requires them. */
export async function s3Client(settings: S3Settings): Promise<{ sdk: Sdk; client: S3Client }> {
  const sdk = await loadSdk();
  const client = new sdk.S3Client({
    region: settings.region,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    forcePathStyle: true,
    // Many S3-compatible stores (Swift, older Ceph, StorageGRID) reject or ignore the newer
    // CRC checksum headers; Content-MD5 on every part is what they check.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    ...(settings.credentials === undefined && settings.profile !== undefined ? { profile: settings.profile } : {}),
    // 503 (slow down), 500, timeouts and dropped connections are retried with backoff, a few times.
    maxAttempts: 4,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 15_000, requestTimeout: 180_000 },
  });
  return { sdk, client };
}

/** The error's S3 code (SignatureDoesNotMatch, NoSuchBucket, ...) or Node code (ECONNREFUSED, ...). */
function codeOf(error: unknown): string {
  const e = error as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (e?.code && /^E[A-Z]+$/.test(e.code)) return e.code;
  if (e?.Code) return e.Code;
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'NotFound' || (e?.name === 'Unknown' && status === 404)) return 'NotFound';
  if (e?.name === 'Forbidden' || (e?.name === 'Unknown' && status === 403)) return 'Forbidden';
  if (e?.cause) {
    const inner = codeOf(e.cause);
    if (/^E[A-Z]+$/.test(inner)) return inner;
  }
  return e?.name ?? 'Error';
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'TimeoutError',
  'RequestTimeout',
]);

/** An S3 error in words that say what to fix (never with a credential in them). */
export function describeS3Error(error: unknown, where: { bucket?: string; endpoint?: string; profile?: string } = {}): string {
  const code = codeOf(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const endpoint = where.endpoint ?? 'the S3 endpoint';
  switch (code) {
    case 'SignatureDoesNotMatch':
      return 'the store refused the request signature (SignatureDoesNotMatch): AWS_SECRET_ACCESS_KEY is wrong for this AWS_ACCESS_KEY_ID';
    case 'CredentialsProviderError':
      return where.profile !== undefined
        ? `no credentials for the store in the profile "${where.profile}" (AWS_PROFILE; CredentialsProviderError): add it to ~/.aws/credentials (or the file AWS_SHARED_CREDENTIALS_FILE names), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`
        : 'no credentials for the store (CredentialsProviderError): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of ~/.aws/credentials';
    case 'InvalidAccessKeyId':
      return 'the store does not know this access key (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID';
    case 'NoSuchBucket':
    case 'NotFound':
      return `the bucket ${where.bucket ?? ''} does not exist (NoSuchBucket): create it, fix the bucket in CUPM_OFFSITE, or set CUPM_S3_CREATE_BUCKET=1 to have it created`;
    case 'AccessDenied':
    case 'Forbidden':
      return `access denied (${code}): these credentials may not use bucket ${where.bucket ?? ''}; check the bucket policy or the key's permissions`;
    case 'InvalidRange':
      return 'a ranged read asked beyond the end of the object (InvalidRange): it is shorter than it was listed (changed or truncated meanwhile)';
    case 'BadDigest':
    case 'InvalidDigest':
      return `the store received data whose MD5 differs from the Content-MD5 sent (${code}): it was damaged on the way`;
    case 'RequestTimeTooSkewed':
      return "clock skew: this machine's clock differs too much from the store's (RequestTimeTooSkewed), so request signatures are refused; set the time right (NTP)";
    case 'NoSuchKey':
      return 'no such object (NoSuchKey)';
    case 'EntityTooSmall':
      return 'the store refused a part as too small (EntityTooSmall)';
    default:
      if (UNREACHABLE.has(code)) return `${endpoint} cannot be reached (${code}): is the store down, or the network?`;
      if (status === 503 || code === 'SlowDown' || code === 'ServiceUnavailable')
        return `the store is overloaded or unavailable (${code}, HTTP ${status ?? 503}) even after retries`;
      return `${code}${status ? ` (HTTP ${status})` : ''}: ${messageOf(error)}`;
  }
}

/** Errors that are the configuration's fault: exit 2 at preflight, before anything is done. */
function isConfigProblem(error: unknown): boolean {
  return [
    'CredentialsProviderError',
    'SignatureDoesNotMatch',
    'InvalidAccessKeyId',
    'NoSuchBucket',
    'NotFound',
    'AccessDenied',
    'Forbidden',
  ].includes(codeOf(error));
}

/** An S3 bucket (and key prefix) on any S3-compatible store. */
export class S3Destination implements Destination {
  readonly kind = 's3';
  readonly display: string;

  constructor(
    private readonly target: S3Target,
    private readonly settings: S3Settings,
  ) {
    this.display = target.display;
  }

  /** Checks that the bucket exists and the credentials work; a bucket is created only when asked. */
  async preflight(): Promise<void> {
    const { sdk, client } = await s3Client(this.settings);
    try {
      await this.check(sdk, client);
    } finally {
      client.destroy();
    }
  }

  private async check(sdk: Sdk, client: S3Client): Promise<void> {
    const bucket = this.target.bucket;
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (error) {
      if (codeOf(error) === 'NotFound' && this.settings.createBucket) {
        try {
          await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
          return;
        } catch (createError) {
          throw this.failure(`Cannot create the bucket ${bucket} (CUPM_S3_CREATE_BUCKET=1)`, createError);
        }
      }
      // A HEAD has no body: a 403 does not say whether the key, the secret, the clock or a
      // policy is wrong. One listing (a GET) asks again and gets the store's error code.
      if (codeOf(error) === 'Forbidden') {
        try {
          await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1, Prefix: this.target.prefix }));
        } catch (listError) {
          throw this.failure(`The bucket of ${this.display} cannot be used`, listError);
        }
        return;
      }
      throw this.failure(`The bucket of ${this.display} cannot be used`, error);
    }
  }

  async connect(): Promise<DestinationConnection> {
    const { sdk, client } = await s3Client(this.settings);
    try {
      await this.check(sdk, client);
    } catch (error) {
      client.destroy();
      throw error;
    }
    return new S3Connection(sdk, client, this.target, this.settings.endpoint);
  }

  private failure(what: string, error: unknown): CupmError {
    const text = `${what}: ${describeS3Error(error, { bucket: this.target.bucket, endpoint: this.settings.endpoint, profile: this.settings.credentials ? undefined : this.settings.profile })}.`;
    if (isConfigProblem(error)) return new ConfigError(text, { state: 'nothing was sent to the store' });
    return new JobFailedError(text, { state: 'nothing was sent to the store', cause: error });
  }
}

class S3Connection implements DestinationConnection {
  /** Keys per listing page (S3's maximum; tests make it small to see the paging work). */
  pageSize = 1000;
  readonly checksum = {
    label: 'ETag',
    local: (localFile: string) => expectedEtag(localFile),
    remote: async (name: string) => (await this.head(name))?.etag,
  };

  constructor(
    private readonly sdk: Sdk,
    private readonly client: S3Client,
    private readonly target: S3Target,
    private readonly endpoint: string | undefined,
  ) {}

  private key(name: string): string {
    return this.target.prefix + name;
  }

  private async send<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new JobFailedError(`Cannot ${what} ${this.target.display}: ${this.describeError(error)}.`, { cause: error });
    }
  }

  /** The objects directly under the prefix, every page of the listing. */
  async list(): Promise<RemoteFile[]> {
    const files: RemoteFile[] = [];
    let token: string | undefined;
    do {
      const page = await this.send('list', () =>
        this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.target.bucket,
            Prefix: this.target.prefix,
            Delimiter: '/',
            MaxKeys: this.pageSize,
            ContinuationToken: token,
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || object.Key === this.target.prefix) continue;
        files.push({ name: object.Key.slice(this.target.prefix.length), size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return files;
  }

  private async head(name: string): Promise<{ size: number; etag: string } | undefined> {
    try {
      const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.target.bucket, Key: this.key(name) }));
      return { size: head.ContentLength ?? 0, etag: (head.ETag ?? '').replace(/"/g, '') };
    } catch (error) {
      const code = codeOf(error);
      if (code === 'NotFound' || code === 'NoSuchKey') return undefined;
      throw new JobFailedError(`Cannot read ${name} in ${this.target.display}: ${this.describeError(error)}.`, { cause: error });
    }
  }

  async stat(name: string): Promise<RemoteFile | undefined> {
    const head = await this.head(name);
    return head ? { name, size: head.size } : undefined;
  }

  /**
   * Streams the file up in parts (each read into memory, its MD5 sent as Content-MD5, and the
   * ETag the store answers checked against it); one PUT when it fits in one part. An object
   * appears only when the upload completes: a failed or killed upload leaves no object, and its
   * parts are aborted (now, or by the next upload of the same name).
   */
  async upload(localFile: string, name: string, onBytes?: (done: number, total: number) => void): Promise<void> {
    const key = this.key(name);
    const bucket = this.target.bucket;
    const { size } = await fsp.stat(localFile);
    const partSize = partSizeFor(size);
    await this.abortStaleUploads(key);
    const handle = await fsp.open(localFile, 'r');
    try {
      // Each worker reads into its own buffer, reused part after part: no garbage to collect.
      const readPart = async (
        start: number,
        into: Buffer = Buffer.allocUnsafe(Math.min(partSize, size)),
      ): Promise<{ body: Buffer; md5: Buffer }> => {
        const body = into.subarray(0, Math.min(partSize, size - start));
        for (let at = 0; at < body.length;) {
          const { bytesRead } = await handle.read(body, at, body.length - at, start + at);
          if (bytesRead === 0) throw new JobFailedError(`${localFile} got shorter while being copied.`);
          at += bytesRead;
        }
        return { body, md5: createHash('md5').update(body).digest() };
      };
      if (size <= partSize) {
        const { body, md5 } = await readPart(0);
        const put = await this.client.send(
          new this.sdk.PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentMD5: md5.toString('base64'),
            ContentType: 'application/octet-stream',
          }),
        );
        checkPartEtag(put.ETag, md5, name, 0);
        onBytes?.(size, size);
        return;
      }
      const created = await this.client.send(
        new this.sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream' }),
      );
      const uploadId = created.UploadId!;
      const parts: CompletedPart[] = [];
      try {
        const count = Math.ceil(size / partSize);
        let next = 0;
        let done = 0;
        const worker = async () => {
          const buffer = Buffer.allocUnsafe(partSize);
          while (next < count) {
            const index = next++;
            const { body, md5 } = await readPart(index * partSize, buffer);
            const answer = await this.client.send(
              new this.sdk.UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: index + 1,
                Body: body,
                ContentLength: body.length,
                ContentMD5: md5.toString('base64'),
              }),
            );
            checkPartEtag(answer.ETag, md5, name, index + 1);
            parts[index] = { PartNumber: index + 1, ETag: answer.ETag };
            done += body.length;
            onBytes?.(done, size);
          }
        };
        await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, worker));
        await this.client.send(
          new this.sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        );
      } catch (error) {
        await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {});
        throw error;
      }
    } finally {
      await handle.close();
    }
  }

  /** Uploads of `key` left by a run that was killed or cut off: their parts take space, unseen. */
  private async abortStaleUploads(key: string): Promise<void> {
    const listed = await this.client
      .send(new this.sdk.ListMultipartUploadsCommand({ Bucket: this.target.bucket, Prefix: key }))
      .catch(() => undefined);
    for (const upload of listed?.Uploads ?? []) {
      if (upload.Key !== key || upload.UploadId === undefined) continue;
      await this.client
        .send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: key, UploadId: upload.UploadId }))
        .catch(() => {});
    }
  }

  /** Bytes [start, end) of an object, or all of it: one GET (ranged). */
  createReadStream(name: string, range?: { start: number; end: number }): Readable {
    if (range && range.end <= range.start) return Readable.from([]);
    const client = this.client;
    const sdk = this.sdk;
    const input = { Bucket: this.target.bucket, Key: this.key(name), ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}) };
    let body: Readable | undefined;
    return new Readable({
      // The SDK's answer comes later; errors end in destroy(), never in an unhandled rejection.
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      async read() {
        try {
          if (!body) {
            const answer = await client.send(new sdk.GetObjectCommand(input));
            body = answer.Body as Readable;
            body.on('error', (error) => this.destroy(error));
            body.on('end', () => this.push(null));
            body.on('data', (chunk: Buffer) => {
              if (!this.push(chunk)) body!.pause();
            });
          } else {
            body.resume();
          }
        } catch (error) {
          this.destroy(error as Error);
        }
      },
      destroy(error, callback) {
        body?.destroy();
        callback(error);
      },
    });
  }

  async rename(from: string, to: string): Promise<void> {
    await this.send(`copy ${from} to ${to} in`, () =>
      this.client.send(
        new this.sdk.CopyObjectCommand({
          Bucket: this.target.bucket,
          Key: this.key(to),
          CopySource: `${this.target.bucket}/${encodeURIComponent(this.key(from)).replace(/%2F/g, '/')}`,
        }),
      ),
    );
    await this.remove(from);
  }

  /** Deletes one object (single deletes: a multi-object delete needs Content-MD5, which some stores mishandle). */
  async remove(name: string): Promise<void> {
    await this.send(`delete ${name} from`, () =>
      this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.key(name) })),
    );
  }

  describeError(error: unknown): string {
    if (error instanceof CupmError) return error.message;
    return describeS3Error(error, { bucket: this.target.bucket, endpoint: this.endpoint });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** A part whose ETag is not its MD5 was not stored as sent (stores that ignore Content-MD5). */
function checkPartEtag(etag: string | undefined, md5: Buffer, name: string, part: number): void {
  const got = (etag ?? '').replace(/"/g, '');
  if (got !== md5.toString('hex')) {
    throw new JobFailedError(
      `The store answered ETag ${got || '(none)'} for ${part === 0 ? name : `part ${part} of ${name}`}, not the MD5 of what was sent (${md5.toString('hex')}): the data was damaged on the way.`,
    );
  }
}
