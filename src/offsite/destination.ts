import type { Readable } from 'node:stream';

/** A file in a destination folder. */
export interface RemoteFile {
  name: string;
  size: number;
}

/**
 * An open connection to one off-site destination folder: just what copying, checking and pruning
 * need, by file name inside that folder. Drivers: folder (a mounted share) and sftp.
 */
export interface DestinationConnection {
  /** The regular files of the destination folder. */
  list(): Promise<RemoteFile[]>;
  /** Size of a file, or undefined when there is no such file. */
  stat(name: string): Promise<RemoteFile | undefined>;
  /** Writes a local file as `name` (replacing one of that name), mode 0600 where the destination has modes. */
  upload(localFile: string, name: string, onBytes?: (done: number, total: number) => void): Promise<void>;
  /** Reads the file, or bytes [start, end) of it. */
  createReadStream(name: string, range?: { start: number; end: number }): Readable;
  /** Renames, replacing `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  remove(name: string): Promise<void>;
  /**
   * Stores that write an object in one step (it appears whole or not at all) and report a checksum
   * of what they hold (S3's ETag): copies go straight to their name and are checked by comparing
   * that checksum with one computed from the local file, instead of being read back.
   */
  readonly checksum?: {
    label: string;
    local(localFile: string): Promise<string>;
    /** undefined when there is no such file. */
    remote(name: string): Promise<string | undefined>;
  };
  /** A stream or call error of this driver in words a person can act on. */
  describeError(error: unknown): string;
  close(): Promise<void>;
}

/** A configured destination; `connect` fails with an error that says what is wrong and where. */
export interface Destination {
  readonly kind: 'folder' | 'sftp' | 's3';
  /** Shown in logs, records and messages: never holds a password. */
  readonly display: string;
  connect(): Promise<DestinationConnection>;
  /**
   * Checks what only the configuration can fix (a missing bucket, wrong keys) before a run starts:
   * throws a ConfigError for those, and a JobFailedError when the destination cannot be reached.
   */
  preflight?(): Promise<void>;
}

/** Runs fn with an open connection and always closes it. */
export async function withConnection<T>(destination: Destination, fn: (connection: DestinationConnection) => Promise<T>): Promise<T> {
  const connection = await destination.connect();
  try {
    return await fn(connection);
  } finally {
    await connection.close().catch(() => {});
  }
}
