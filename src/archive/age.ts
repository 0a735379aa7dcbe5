import crypto from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { Decrypter, Encrypter, type Identity } from 'age-encryption';

/**
 * The age v1 file format (https://age-encryption.org/v1), split the way an archive needs it:
 *  - the header (recipient stanzas and their MAC) comes from `age-encryption`: it wraps the file
 *    key to each recipient and, reading, unwraps it with an identity and checks the header MAC;
 *  - the payload, STREAM-sealed ChaCha20-Poly1305 in 64 KiB chunks, is done here with Node's
 *    native cipher: about 20 times faster than the package's pure-JS one (which would eat the
 *    backup's time budget), and it can open any chunk on its own, so a ZIP's central directory
 *    is read without decrypting the file from its start.
 * The bytes are the format's, nothing more: `age -d` reads what we write, and we read what it writes.
 */

/** The first line of every (binary) age file. */
export const AGE_MAGIC = 'age-encryption.org/v1\n';
/** What an ASCII-armored age file starts with (`age -a`). */
const ARMOR_MAGIC = '-----BEGIN AGE ENCRYPTED FILE-----';
const CHUNK = 64 * 1024;
const TAG = 16;
const SEALED = CHUNK + TAG;
const NONCE = 16;
/** A header names each recipient in about 100 bytes; more than this is not an archive of ours. */
const MAX_HEADER = 64 * 1024;
/** Chunks kept decrypted: the central directory and a local header are read in small pieces. */
const CACHED_CHUNKS = 8;
/** Chunks read per I/O when a range is streamed (1 MiB). */
const READ_AHEAD = 16;

/** Why an age file cannot be read: damaged, tampered, not for these identities. */
export class AgeError extends Error {
  constructor(
    message: string,
    readonly reason: 'format' | 'no-identity' | 'tampered',
  ) {
    super(message);
  }
}

/** Random access to the bytes of a file (local, or at an off-site destination). */
export interface ByteSource {
  readonly size: number;
  /** Reads up to `length` bytes at `position` (fewer only at the end of the file). */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** True when `head` (the first bytes of a file) is a binary age file. */
export function looksLikeAge(head: Buffer): boolean {
  return head.subarray(0, AGE_MAGIC.length).toString('latin1') === AGE_MAGIC;
}

/** True when `head` is an ASCII-armored age file, which we do not read (no random access). */
export function looksLikeArmoredAge(head: Buffer): boolean {
  return head.subarray(0, ARMOR_MAGIC.length).toString('latin1') === ARMOR_MAGIC;
}

/** Throws the reason a recipient string cannot be encrypted to, in words. */
export function checkRecipient(recipient: string): void {
  if (/^(?:ssh-|ecdsa-|sk-)/.test(recipient)) {
    throw new Error('SSH keys are not supported as recipients; make an age key with age-keygen and give its age1... public key');
  }
  if (!recipient.startsWith('age1')) throw new Error('an age recipient starts with age1 (the public key age-keygen prints)');
  try {
    new Encrypter().addRecipient(recipient);
  } catch {
    throw new Error('not a valid age recipient (a typo, or a truncated key?)');
  }
}

/** Throws the reason an identity string cannot be used, in words that never repeat the key. */
export function checkIdentity(identity: string): void {
  try {
    new Decrypter().addIdentity(identity);
  } catch {
    throw new Error('not a valid age secret key (AGE-SECRET-KEY-1...)');
  }
}

/**
 * Starts an age file to `recipients`: a Transform whose output is the whole file (header, nonce,
 * sealed chunks) for the plaintext written into it, and the file key, which lets the writer read
 * back what it wrote without any identity.
 */
export async function startAgeEncryption(recipients: readonly string[]): Promise<{ stream: Transform; fileKey: Buffer }> {
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  let fileKey: Buffer | undefined;
  // A recipient that adds no stanza and only hands us the file key the package made: the header
  // (stanzas + MAC) is the package's, the payload ours.
  encrypter.addRecipient({
    wrapFileKey(key: Uint8Array) {
      fileKey = Buffer.from(key);
      return [];
    },
  });
  const sample = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  if (!fileKey) throw new Error('age-encryption did not produce a file key');
  const header = sample.subarray(0, headerLength(sample, sample.length));
  const nonce = crypto.randomBytes(NONCE);
  return { stream: new AgeSealStream(Buffer.concat([header, nonce]), payloadKey(fileKey, nonce)), fileKey };
}

/** Seals a byte stream into STREAM chunks; the first bytes out are the header and nonce. */
class AgeSealStream extends Transform {
  private readonly pending = Buffer.alloc(CHUNK);
  private used = 0;
  private counter = 0;

  constructor(
    prefix: Buffer,
    private readonly key: Buffer,
  ) {
    super();
    this.push(prefix);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    const out: Buffer[] = [];
    while (offset < chunk.length) {
      // A full chunk is sealed only once more data follows: the last one carries the last flag.
      if (this.used === CHUNK) {
        out.push(seal(this.key, this.counter++, this.pending, false));
        this.used = 0;
      }
      const n = Math.min(CHUNK - this.used, chunk.length - offset);
      chunk.copy(this.pending, this.used, offset, offset + n);
      this.used += n;
      offset += n;
    }
    callback(null, out.length === 0 ? undefined : out.length === 1 ? out[0] : Buffer.concat(out));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, seal(this.key, this.counter, this.pending.subarray(0, this.used), true));
  }
}

/**
 * An age file opened for random access: the header is checked and the file key unwrapped at
 * open; each chunk is authenticated when it is read, so a flipped bit anywhere that is read
 * fails, and a truncated file fails at once (its last chunk is read first, for the ZIP's end).
 */
export class AgePayload {
  /** Plaintext bytes. */
  readonly size: number;
  private readonly chunks: number;
  private readonly cache = new Map<number, Buffer>();

  private constructor(
    private readonly source: ByteSource,
    private readonly key: Buffer,
    private readonly start: number,
    private readonly payloadBytes: number,
  ) {
    this.chunks = Math.max(1, Math.ceil(payloadBytes / SEALED));
    this.size = plaintextSize(payloadBytes);
  }

  /**
   * Reads the header of `source` and unwraps its file key with `identities` (age secret keys) or
   * with a file key known already (the writer's). Fails with an AgeError saying why.
   */
  static async open(source: ByteSource, keys: { identities?: readonly string[]; fileKey?: Uint8Array }): Promise<AgePayload> {
    const head = await source.read(0, Math.min(source.size, MAX_HEADER + NONCE));
    if (!looksLikeAge(head)) throw new AgeError('it is not an age file', 'format');
    const length = headerLength(head, source.size);
    const decrypter = new Decrypter();
    if (keys.fileKey) {
      const known = keys.fileKey;
      const identity: Identity = { unwrapFileKey: () => known };
      decrypter.addIdentity(identity);
    }
    for (const identity of keys.identities ?? []) decrypter.addIdentity(identity);
    let fileKey: Uint8Array;
    try {
      fileKey = await decrypter.decryptHeader(head.subarray(0, length));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/no identity matched/.test(message))
        throw new AgeError('none of the identities given can open it: it was encrypted to other recipients', 'no-identity');
      if (/HMAC/.test(message))
        throw new AgeError('its header was changed after it was written (the header MAC does not match): tampered or corrupt', 'tampered');
      throw new AgeError(`its age header is damaged (${message})`, 'format');
    }
    if (source.size < length + NONCE + TAG) throw new AgeError('it is truncated: it ends before its first chunk', 'tampered');
    const nonce = head.length >= length + NONCE ? head.subarray(length, length + NONCE) : await source.read(length, NONCE);
    const payloadBytes = source.size - length - NONCE;
    const lastChunk = payloadBytes % SEALED;
    if (lastChunk > 0 && lastChunk <= TAG && payloadBytes > SEALED)
      throw new AgeError('it is truncated or padded: its size cannot be a whole number of chunks', 'tampered');
    return new AgePayload(source, payloadKey(Buffer.from(fileKey), nonce), length + NONCE, payloadBytes);
  }

  /**
   * A stream of plaintext bytes [start, end). Chunks are read and decrypted a group ahead, so the
   * file read and the decryption of the next group overlap with whoever consumes this one (the
   * inflater, on zlib's threads).
   */
  stream(start: number, end: number): Readable {
    const lastChunk = Math.floor((end - 1) / CHUNK);
    let nextChunk = Math.floor(start / CHUNK);
    let position = start;
    const fetchGroup = () => {
      if (end <= start || nextChunk > lastChunk) return undefined;
      const first = nextChunk;
      const count = Math.min(READ_AHEAD, lastChunk - first + 1);
      nextChunk += count;
      const group = this.readChunks(first, count).then((plain) => ({ first, plain }));
      // Awaited in turn below; a failure before then must not count as unhandled.
      group.catch(() => {});
      return group;
    };
    let ahead = fetchGroup();
    let busy = false;
    const stream = new Readable({
      highWaterMark: READ_AHEAD * CHUNK,
      read: () => {
        if (busy) return;
        busy = true;
        void (async () => {
          try {
            let more = true;
            while (more && ahead) {
              const { first, plain } = await ahead;
              if (plain.length === 0) throw new AgeError('it ends before the data it should hold', 'tampered');
              ahead = fetchGroup();
              for (const [i, data] of plain.entries()) {
                const chunkStart = (first + i) * CHUNK;
                const from = Math.max(position, chunkStart) - chunkStart;
                const to = Math.min(end, chunkStart + data.length) - chunkStart;
                if (to <= from) continue;
                position = chunkStart + to;
                more = stream.push(data.subarray(from, to));
              }
            }
            if (!ahead) {
              if (position < end) throw new AgeError('it ends before the data it should hold', 'tampered');
              stream.push(null);
            }
          } catch (error) {
            stream.destroy(error as Error);
          } finally {
            busy = false;
          }
        })();
      },
    });
    return stream;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.source.close();
  }

  /** Decrypts `count` chunks from `first` (fewer at the end), from the cache or in one read. */
  private async readChunks(first: number, count: number): Promise<Buffer[]> {
    const last = Math.min(first + count, this.chunks);
    if (first >= last) return [];
    const hit = this.cache.get(first);
    if (hit && last - first === 1) return [hit];
    const offset = this.start + first * SEALED;
    const length = Math.min((last - first) * SEALED, this.payloadBytes - first * SEALED);
    const sealed = await this.source.read(offset, length);
    if (sealed.length < length) throw new AgeError('it is shorter than it was when opened', 'tampered');
    const out: Buffer[] = [];
    for (let index = first; index < last; index++) {
      const part = sealed.subarray((index - first) * SEALED, (index - first + 1) * SEALED);
      const cached = this.cache.get(index);
      if (cached) out.push(cached);
      else {
        const plain = open(this.key, index, part, index === this.chunks - 1);
        // Only single-chunk reads (the ZIP's directory and headers) are kept: a streamed chunk
        // kept here would live long enough to be promoted, and promoted buffers are what start
        // V8's full collections (README "Performance").
        out.push(last - first === 1 ? this.remember(index, plain) : plain);
      }
    }
    return out;
  }

  private remember(index: number, data: Buffer): Buffer {
    this.cache.set(index, data);
    if (this.cache.size > CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    return data;
  }
}

/** Plaintext size for a payload of `payloadBytes` sealed bytes. */
function plaintextSize(payloadBytes: number): number {
  if (payloadBytes < TAG) throw new AgeError('it is truncated: its payload is shorter than one chunk', 'tampered');
  const full = Math.floor(payloadBytes / SEALED);
  const rest = payloadBytes % SEALED;
  return full * CHUNK + (rest > 0 ? rest - TAG : 0);
}

/** Where the header ends in `bytes`: after the `--- <MAC>` line. */
function headerLength(bytes: Buffer, fileSize: number): number {
  let position = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, position);
    if (nl < 0) {
      throw new AgeError(
        bytes.length >= MAX_HEADER || bytes.length >= fileSize
          ? 'its age header has no end (no "---" line)'
          : 'its age header is truncated',
        'format',
      );
    }
    if (bytes[position] === 0x2d && bytes[position + 1] === 0x2d && bytes[position + 2] === 0x2d) return nl + 1;
    position = nl + 1;
  }
}

function payloadKey(fileKey: Buffer, nonce: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/** The STREAM nonce: an 11-byte big-endian chunk counter and the last-chunk flag. */
function streamNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(Math.floor(counter / 2 ** 40), 0, 6);
  nonce.writeUIntBE(counter % 2 ** 40, 6, 5);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function seal(key: Buffer, counter: number, plain: Buffer, last: boolean): Buffer {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, streamNonce(counter, last), { authTagLength: TAG });
  const body = cipher.update(plain);
  cipher.final();
  return Buffer.concat([body, cipher.getAuthTag()]);
}

function open(key: Buffer, counter: number, sealed: Buffer, last: boolean): Buffer {
  if (sealed.length < TAG) throw new AgeError(`chunk ${counter} is truncated`, 'tampered');
  if (last && sealed.length === TAG && counter > 0) throw new AgeError('it ends with an empty chunk (truncated or padded)', 'tampered');
  const decipher = crypto.createDecipheriv('chacha20-poly1305', key, streamNonce(counter, last), { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  const plain = decipher.update(sealed.subarray(0, sealed.length - TAG));
  try {
    decipher.final();
  } catch {
    throw new AgeError(
      `chunk ${counter} (at byte ${counter * SEALED} of the payload) fails authentication: the file was changed, truncated or damaged`,
      'tampered',
    );
  }
  return plain;
}
