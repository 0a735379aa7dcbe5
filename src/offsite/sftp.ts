import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { JobFailedError, RefusedError, messageOf, type CupmError } from '../errors.js';
import type { Destination, DestinationConnection, RemoteFile } from './destination.js';
import { fingerprintOf, hostKeyAlgorithmsFor, keyTypeOf, knownHostName, linesFor, parseKnownHosts } from './known-hosts.js';
import type { SftpTarget } from './targets.js';

/** Credentials and host key pins shared by every SFTP destination (CUPM_OFFSITE_*). */
export interface SftpSettings {
  /** CUPM_OFFSITE_KNOWN_HOSTS: an OpenSSH known_hosts file. */
  knownHostsFile: string | undefined;
  /** CUPM_OFFSITE_IDENTITY: an OpenSSH private key file (unencrypted). */
  identityFile: string | undefined;
  /** CUPM_OFFSITE_PASSWORD (a password in the URL wins for its destination). */
  password: string | undefined;
}

/** Transfers keep this many requests of this size in flight. */
const IN_FLIGHT = 16;
const CHUNK_BYTES = 64 * 1024;

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that we tell apart. */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

/**
 * An SFTP destination through ssh2. The server's host key must match the pinned fingerprint or a
 * CUPM_OFFSITE_KNOWN_HOSTS line for the host: an unknown or changed key is refused before any
 * password or key is sent.
 */
export class SftpDestination implements Destination {
  readonly kind = 'sftp';
  readonly display: string;

  constructor(
    private readonly target: SftpTarget,
    private readonly settings: SftpSettings,
  ) {
    this.display = target.display;
  }

  async connect(): Promise<DestinationConnection> {
    const pin = await this.hostKeyPin();
    const auth = await this.credentials();
    const client = new Client();
    let refusal: CupmError | undefined;
    const options: ConnectConfig = {
      host: this.target.host,
      port: this.target.port,
      username: this.target.username,
      ...auth,
      tryKeyboard: auth.password !== undefined,
      readyTimeout: 30_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer) => {
        refusal = pin.check(key);
        return refusal === undefined;
      },
      ...(pin.algorithms.length > 0 ? { algorithms: { serverHostKey: pin.algorithms as never } } : {}),
    };
    if (auth.password !== undefined) {
      const password = auth.password;
      client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)));
    }
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', reject);
        client.connect(options);
      });
    } catch (error) {
      client.end();
      throw refusal ?? this.connectFailure(error);
    }
    client.on('error', () => {}); // later errors surface through the pending call or stream
    try {
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((error, s) => (error ? reject(error) : resolve(s))));
      const connection = new SftpConnection(client, sftp, this.target.path, this.display);
      await connection.checkFolder();
      return connection;
    } catch (error) {
      client.end();
      if (error instanceof JobFailedError) throw error;
      throw new JobFailedError(`SFTP is not available on ${this.display}: ${messageOf(error)}.`, { cause: error });
    }
  }

  /** What the host key must be; the check returns the refusal, or undefined when the key is right. */
  private async hostKeyPin(): Promise<{ algorithms: string[]; check: (key: Buffer) => CupmError | undefined }> {
    const where = `${this.target.host}:${this.target.port}`;
    const offered = (key: Buffer) => `the server offered ${keyTypeOf(key)} ${fingerprintOf(key)}`;
    const fingerprint = this.target.fingerprint;
    if (fingerprint !== undefined) {
      return {
        algorithms: [],
        check: (key) =>
          fingerprintOf(key) === fingerprint
            ? undefined
            : new RefusedError(
                `The host key of ${where} does not match the pinned fingerprint ${fingerprint}: ${offered(key)}. The connection was refused.`,
                {
                  hint: 'if the server was really re-keyed, check the new key with its administrator and update fingerprint= in CUPM_OFFSITE; otherwise someone may be intercepting the connection',
                },
              ),
      };
    }
    const file = this.settings.knownHostsFile;
    if (file === undefined) {
      // Config parsing refuses this; kept as a guard for library callers.
      throw new RefusedError(
        `No host key is pinned for ${this.display}: set CUPM_OFFSITE_KNOWN_HOSTS or add ?fingerprint=SHA256:... to the URL.`,
      );
    }
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new JobFailedError(
        `Cannot read the known hosts file ${file} (CUPM_OFFSITE_KNOWN_HOSTS): ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}.`,
      );
    }
    const lines = linesFor(parseKnownHosts(text), this.target.host, this.target.port);
    const trusted = lines.filter((l) => !l.revoked);
    const revoked = lines.filter((l) => l.revoked);
    const name = knownHostName(this.target.host, this.target.port);
    return {
      algorithms: hostKeyAlgorithmsFor([...new Set(trusted.map((l) => l.type))]),
      check: (key) => {
        if (revoked.some((l) => l.key.equals(key))) {
          return new RefusedError(
            `The host key of ${where} is marked @revoked in ${file} (line ${revoked.find((l) => l.key.equals(key))?.line}). The connection was refused.`,
          );
        }
        if (trusted.length === 0) {
          return new RefusedError(
            `The host key of ${where} is unknown: ${file} has no line for ${name}; ${offered(key)}. The connection was refused.`,
            {
              hint: `check that fingerprint with the server's administrator (ssh-keygen -lf on its host key), then add the key to ${file} (ssh-keyscan -p ${this.target.port} ${this.target.host})`,
            },
          );
        }
        if (trusted.some((l) => l.key.equals(key))) return undefined;
        return new RefusedError(
          `The host key of ${where} has CHANGED: it does not match ${file} (line ${trusted.map((l) => l.line).join(', ')}); ${offered(key)}. The connection was refused.`,
          {
            hint: 'if the server was really re-installed or re-keyed, check the new key with its administrator and replace its line; otherwise someone may be intercepting the connection',
          },
        );
      },
    };
  }

  private async credentials(): Promise<{ password?: string; privateKey?: Buffer }> {
    const auth: { password?: string; privateKey?: Buffer } = {};
    const password = this.target.password ?? this.settings.password;
    if (password !== undefined) auth.password = password;
    if (this.settings.identityFile !== undefined) {
      try {
        auth.privateKey = await fs.readFile(this.settings.identityFile);
      } catch (error) {
        throw new JobFailedError(
          `Cannot read the SSH key ${this.settings.identityFile} (CUPM_OFFSITE_IDENTITY): ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}.`,
        );
      }
    }
    if (auth.password === undefined && auth.privateKey === undefined) {
      throw new JobFailedError(
        `No credentials for ${this.display}: set CUPM_OFFSITE_IDENTITY (a private key file) or CUPM_OFFSITE_PASSWORD.`,
      );
    }
    return auth;
  }

  private connectFailure(error: unknown): JobFailedError {
    const where = `${this.target.host}:${this.target.port}`;
    const e = error as NodeJS.ErrnoException & { level?: string };
    if (e.level === 'client-authentication') {
      return new JobFailedError(
        `The SFTP server ${where} refused the login of "${this.target.username}": wrong password, or the key is not authorized.`,
        {
          hint: 'check CUPM_OFFSITE_PASSWORD / CUPM_OFFSITE_IDENTITY and the user in CUPM_OFFSITE',
        },
      );
    }
    if (e.code === 'ECONNREFUSED') return new JobFailedError(`No SSH server answers on ${where} (connection refused): is it down?`);
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')
      return new JobFailedError(`The SFTP host ${this.target.host} is not known to DNS (${e.code}).`);
    if (e.level === 'client-timeout' || e.code === 'ETIMEDOUT')
      return new JobFailedError(`The SFTP server ${where} did not answer in time (${e.code ?? 'timeout'}).`);
    return new JobFailedError(`Cannot connect to the SFTP server ${where}: ${messageOf(error)}.`, { cause: error });
  }
}

class SftpConnection implements DestinationConnection {
  private closed = false;

  constructor(
    private readonly client: Client,
    private readonly sftp: SFTPWrapper,
    private readonly dir: string,
    private readonly display: string,
  ) {
    client.once('close', () => {
      this.closed = true;
    });
  }

  private file(name: string): string {
    return this.dir === '' ? name : path.posix.join(this.dir, name);
  }

  /** The destination folder must exist: it is never created (a typo would scatter backups). */
  async checkFolder(): Promise<void> {
    const stats = await new Promise<{ isDirectory(): boolean }>((resolve, reject) =>
      this.sftp.stat(this.dir || '.', (error, s) => (error ? reject(error) : resolve(s))),
    ).catch((error: unknown) => {
      throw new JobFailedError(`The folder ${this.dir} on ${this.display} cannot be reached: ${this.describeError(error)}.`, {
        hint: 'the folder is never created: create it on the server, or fix the path in CUPM_OFFSITE',
      });
    });
    if (!stats.isDirectory()) throw new JobFailedError(`${this.dir} on ${this.display} is not a folder.`);
  }

  async list(): Promise<RemoteFile[]> {
    const entries = await this.call<Array<{ filename: string; attrs: { size: number; isFile(): boolean } }>>('list', (cb) =>
      this.sftp.readdir(this.dir || '.', cb),
    );
    return entries.filter((e) => e.attrs.isFile()).map((e) => ({ name: e.filename, size: e.attrs.size }));
  }

  async stat(name: string): Promise<RemoteFile | undefined> {
    try {
      const stats = await this.call<{ size: number; isFile(): boolean }>(`read ${name} in`, (cb) => this.sftp.stat(this.file(name), cb));
      return stats.isFile() ? { name, size: stats.size } : undefined;
    } catch (error) {
      if (((error as JobFailedError).cause as { code?: number } | undefined)?.code === NO_SUCH_FILE) return undefined;
      throw error;
    }
  }

  async upload(localFile: string, name: string, onBytes?: (done: number, total: number) => void): Promise<void> {
    // fastPut keeps several writes in flight: over a WAN, one write per round trip would crawl.
    await this.call(`write ${name} to`, (cb) =>
      this.sftp.fastPut(
        localFile,
        this.file(name),
        {
          mode: 0o600,
          concurrency: IN_FLIGHT,
          chunkSize: CHUNK_BYTES,
          step: (done, _chunk, total) => onBytes?.(done, total),
        },
        cb,
      ),
    );
  }

  createReadStream(name: string, range?: { start: number; end: number }): Readable {
    return readAheadStream(this.sftp, this.file(name), range);
  }

  async rename(from: string, to: string): Promise<void> {
    const src = this.file(from);
    const dst = this.file(to);
    try {
      // posix-rename replaces the target in one step; plain SFTP rename refuses an existing one.
      await this.call(`rename ${from} in`, (cb) => this.sftp.ext_openssh_rename(src, dst, cb));
    } catch (error) {
      if (!/does not support/.test(messageOf(error))) throw error;
      await this.remove(to);
      await this.call(`rename ${from} in`, (cb) => this.sftp.rename(src, dst, cb));
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.call(`delete ${name} from`, (cb) => this.sftp.unlink(this.file(name), cb));
    } catch (error) {
      if (((error as JobFailedError).cause as { code?: number } | undefined)?.code !== NO_SUCH_FILE) throw error;
    }
  }

  describeError(error: unknown): string {
    const code = (error as { code?: unknown }).code;
    if (code === NO_SUCH_FILE) return 'no such file or folder';
    if (code === PERMISSION_DENIED) return 'permission denied';
    return messageOf(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.client.once('close', () => resolve());
      this.client.end();
    });
  }

  private call<T = void>(what: string, start: (cb: (error: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        start((error, value) => {
          if (error)
            reject(
              new JobFailedError(`Cannot ${what} ${this.dir || 'the login folder'} on ${this.display}: ${this.describeError(error)}.`, {
                cause: error,
              }),
            );
          else resolve(value as T);
        });
      } catch (error) {
        reject(error);
      }
    });
  }
}

/**
 * Reads a remote file (or bytes [start, end) of it) in order, with several reads in flight. A
 * file that turns out shorter than it was (truncated meanwhile) simply ends early: whoever
 * measures the stream sees the missing bytes.
 */
function readAheadStream(sftp: SFTPWrapper, file: string, range?: { start: number; end: number }): Readable {
  let handle: Buffer | undefined;
  let position = range?.start ?? 0;
  let end = range?.end ?? -1;
  const inFlight: Array<{ at: number; length: number; data: Promise<Buffer> }> = [];
  const readAt = (at: number, length: number) =>
    new Promise<Buffer>((resolve, reject) =>
      sftp.read(handle!, Buffer.alloc(length), 0, length, at, (error, bytesRead, buffer) =>
        error ? reject(error) : resolve(buffer.subarray(0, bytesRead)),
      ),
    );
  const fill = () => {
    while (inFlight.length < IN_FLIGHT && position < end) {
      const length = Math.min(CHUNK_BYTES, end - position);
      const data = readAt(position, length);
      data.catch(() => {}); // awaited in order below; an early failure must not be "unhandled"
      inFlight.push({ at: position, length, data });
      position += length;
    }
  };
  return new Readable({
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- read() settles its own failures (destroy)
    async read() {
      try {
        if (!handle) {
          handle = await new Promise<Buffer>((resolve, reject) => sftp.open(file, 'r', (error, h) => (error ? reject(error) : resolve(h))));
          if (end < 0)
            end = await new Promise<number>((resolve, reject) =>
              sftp.fstat(handle!, (error, stats) => (error ? reject(error) : resolve(stats.size))),
            );
        }
        fill();
        const next = inFlight.shift();
        if (!next) {
          this.push(null);
          return;
        }
        let chunk = await next.data;
        let got = next.at;
        // A short read: the rest of this chunk comes before anything queued after it.
        while (chunk.length > 0) {
          got += chunk.length;
          if (got >= next.at + next.length) break;
          this.push(chunk);
          chunk = await readAt(got, next.at + next.length - got);
        }
        if (chunk.length === 0) {
          inFlight.length = 0; // the file ended early
          this.push(null);
          return;
        }
        this.push(chunk);
      } catch (error) {
        this.destroy(error as Error);
      }
    },
    destroy(error, callback) {
      if (handle) sftp.close(handle, () => callback(error));
      else callback(error);
    },
  });
}
