import fsp from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { ArchiveInvalidError, ConfigError, messageOf } from '../errors.js';
import { AgeError, AgePayload, checkIdentity, looksLikeAge, looksLikeArmoredAge, type ByteSource } from './age.js';

/**
 * Encryption at rest: an archive encrypted to age recipients is the whole `.zip` as one age file,
 * named `<archive>.zip.age`. `age -d -i key.txt` turns it back into the ZIP `unzip` reads; this
 * tool reads it in place, decrypting only the chunks the ZIP reader asks for.
 */

/** Appended to the archive name when it is encrypted. */
export const ENCRYPTED_SUFFIX = '.age';

/** What opens encrypted archives; plain archives need none of it. */
export interface ArchiveKeys {
  /** --identity / CUPM_IDENTITY: a file of age secret keys, as age-keygen writes it. */
  identityFile?: string | undefined;
  /** Secret keys already read. */
  identities?: readonly string[];
  /** The file key of one archive, known to the process that just wrote it. */
  fileKey?: Uint8Array;
}

/** An encrypted archive was given, and no identity to open it (exit 2: a usage error). */
export class IdentityRequiredError extends ConfigError {}

/** The identities given are not among the archive's recipients (exit 3). */
export class WrongIdentityError extends ArchiveInvalidError {}

/**
 * Reads an age identity file: `AGE-SECRET-KEY-1...` lines, `#` comments, blank lines. Problems
 * name the file and line, never the key.
 */
export async function readIdentityFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the identity file ${file}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}.`, {
      state: 'nothing was changed',
      hint: 'give --identity (or CUPM_IDENTITY) the file age-keygen wrote, holding the AGE-SECRET-KEY-1... line',
    });
  }
  if (looksLikeAge(Buffer.from(text.slice(0, 32), 'latin1')) || looksLikeArmoredAge(Buffer.from(text.slice(0, 40), 'latin1'))) {
    throw new ConfigError(
      `The identity file ${file} is itself encrypted (a passphrase-protected identity): this tool cannot prompt for it.`,
      {
        state: 'nothing was changed',
        hint: `decrypt it first (age -d -o key.txt ${file}), use that file, and remove it afterwards`,
      },
    );
  }
  const identities: string[] = [];
  const problems: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      checkIdentity(line);
      identities.push(line);
    } catch (error) {
      problems.push(
        `line ${index + 1}: ${line.startsWith('-----BEGIN') ? 'an SSH or PEM key: only age keys (AGE-SECRET-KEY-1...) are supported' : messageOf(error)}`,
      );
    }
  }
  if (problems.length > 0 || identities.length === 0) {
    throw new ConfigError(
      `The identity file ${file} ${identities.length === 0 && problems.length === 0 ? 'holds no age secret key' : 'has lines that are not age secret keys'}:`,
      {
        problems,
        state: 'nothing was changed',
        hint: 'give the file age-keygen wrote (one AGE-SECRET-KEY-1... line; # comments are fine)',
      },
    );
  }
  return identities;
}

/** What an archive file is, from its first bytes: 'age', 'armored' (age -a), or 'other' (a ZIP, or junk). */
export async function sniffArchive(file: string): Promise<'age' | 'armored' | 'other'> {
  const handle = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    return looksLikeAge(bytes) ? 'age' : looksLikeArmoredAge(bytes) ? 'armored' : 'other';
  } finally {
    await handle.close();
  }
}

/**
 * When `file` is an age file, opens it for the ZIP reader: a yauzl RandomAccessReader over the
 * plaintext and its size. Returns undefined for any other file (the plain ZIP path reads it).
 * Refusals: no identity (exit 2), wrong identity, tampered or truncated (exit 3).
 */
export async function openEncrypted(
  file: string,
  keys: ArchiveKeys = {},
): Promise<{ reader: yauzl.RandomAccessReader; size: number } | undefined> {
  let kind: Awaited<ReturnType<typeof sniffArchive>>;
  try {
    kind = await sniffArchive(file);
  } catch {
    return undefined; // not readable: the plain path reports why, in its words
  }
  if (kind === 'other') return undefined;
  if (kind === 'armored') {
    throw new ArchiveInvalidError(`${file} is an ASCII-armored age file (age -a); archives are read in place only from binary age files.`, {
      state: 'nothing was changed',
      hint: `decrypt it with age -d -i <identity file> -o archive.zip ${file} and use archive.zip, or encrypt the archive again without -a`,
    });
  }
  return openEncryptedSource(await FileSource.open(file), file, keys);
}

/** Opens an age file at `source` (local or off-site) for the ZIP reader; the source is closed on failure. */
export async function openEncryptedSource(
  source: ByteSource,
  label: string,
  keys: ArchiveKeys,
): Promise<{ reader: yauzl.RandomAccessReader; size: number }> {
  try {
    const payload = await unlock(source, label, keys);
    return { reader: new DecryptingReader(payload), size: payload.size };
  } catch (error) {
    await source.close();
    throw error;
  }
}

/** Opens the age payload of `source` with `keys`; errors as openEncrypted's. */
export async function unlock(source: ByteSource, label: string, keys: ArchiveKeys): Promise<AgePayload> {
  const identities = [...(keys.identities ?? []), ...(keys.identityFile ? await readIdentityFile(keys.identityFile) : [])];
  if (identities.length === 0 && !keys.fileKey) {
    throw new IdentityRequiredError(`${label} is encrypted (age); reading it needs the identity (secret key) it was encrypted to.`, {
      state: 'nothing was changed',
      hint: 'pass --identity <file> (or set CUPM_IDENTITY) with the key made by age-keygen; it is kept off the backup host on purpose',
    });
  }
  try {
    return await AgePayload.open(source, { identities, fileKey: keys.fileKey });
  } catch (error) {
    if (!(error instanceof AgeError)) throw error;
    const where = keys.identityFile ? `the identity file ${keys.identityFile}` : 'the identities given';
    const message =
      error.reason === 'no-identity'
        ? `None of the keys in ${where} can open ${label}: it was encrypted to other recipients.`
        : `${label} cannot be decrypted: ${error.message}.`;
    throw new (error.reason === 'no-identity' ? WrongIdentityError : ArchiveInvalidError)(message, {
      state: 'nothing was changed',
      hint:
        error.reason === 'no-identity'
          ? 'use the identity file whose public key (age1...) was given to --encrypt-to / CUPM_ENCRYPT_TO when this archive was made'
          : 'do not restore from it; use another archive (cupm-backup list)',
    });
  }
}

/** yauzl's window onto the plaintext of an age file. */
class DecryptingReader extends yauzl.RandomAccessReader {
  constructor(private readonly payload: AgePayload) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return this.payload.stream(start, end);
  }

  override close(callback: (error: Error | null) => void): void {
    this.payload.close().then(() => callback(null), callback);
  }
}

/** A local file as a ByteSource. */
export class FileSource implements ByteSource {
  private constructor(
    private readonly handle: fsp.FileHandle,
    readonly size: number,
  ) {}

  static async open(file: string): Promise<FileSource> {
    const handle = await fsp.open(file, 'r');
    try {
      return new FileSource(handle, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => {});
  }
}
