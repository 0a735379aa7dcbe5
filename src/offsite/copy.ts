import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PARTIAL_SUFFIX } from '../archive/format.js';
import { MeasureStream, Measurer, type Measurement } from '../archive/measure.js';
import { readRange } from '../file-system.js';
import { CupmError, JobFailedError, RefusedError, messageOf } from '../errors.js';
import type { DestinationConnection } from './destination.js';

export interface CopyResult {
  archive: string;
  size: number;
  sha256: string;
  /** The destination already held this exact archive (a retry after a lost record): not sent again. */
  alreadyThere: boolean;
  /** How the copy was checked, for the log: "read back and matched (SHA-256 ...)", "size and ETag matched (...)". */
  check: string;
}

export interface CopyOptions {
  onBytes?: (done: number, total: number) => void;
  /**
   * Called once the upload is written under its temp name, before it is read back. Tests use it
   * to damage what arrived, the way a share that drops a write-behind cache would.
   */
  afterUpload?: (connection: DestinationConnection, tempName: string) => Promise<void>;
}

/**
 * Copies a local archive to a destination: written as `<name>.partial`, read back from the
 * destination and checked (size and SHA-256 against what was sent), then renamed to its final
 * name. A copy that does not check out is removed and never renamed into place.
 */
export async function copyArchive(
  connection: DestinationConnection,
  display: string,
  localFile: string,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const name = path.basename(localFile);
  const temp = name + PARTIAL_SUFFIX;

  // What is sent is what the local file holds; measured first, since drivers send it their own way.
  const sent = await measureLocal(localFile);
  if (connection.checksum) return copyChecked(connection, connection.checksum, display, localFile, sent, options);
  const check = `read back and matched (SHA-256 ${sent.sha256.slice(0, 16)}...)`;
  const existing = await connection.stat(name);
  if (existing && existing.size === sent.size) {
    const remote = await measureRemote(connection, display, name);
    if (remote.sha256 === sent.sha256) return { archive: name, size: sent.size, sha256: sent.sha256, alreadyThere: true, check };
  }

  await upload(connection, display, localFile, temp, options, {
    cleanUp: () => connection.remove(temp).catch(() => {}),
    state: 'the partial copy was removed; the local archive is intact',
  });
  try {
    await options.afterUpload?.(connection, temp);
    const arrived = await measureRemote(connection, display, temp);
    if (arrived.size !== sent.size || arrived.sha256 !== sent.sha256) {
      const what =
        arrived.size < sent.size
          ? `arrived short: ${arrived.size} of ${sent.size} bytes`
          : arrived.size !== sent.size
            ? `arrived with ${arrived.size} bytes instead of ${sent.size}`
            : 'arrived with different content (SHA-256 differs)';
      throw new JobFailedError(`The copy of ${name} on ${display} ${what}.`, {
        state: 'the bad copy was removed and not renamed into place; the local archive is intact',
      });
    }
    await connection.rename(temp, name);
  } catch (error) {
    await connection.remove(temp).catch(() => {});
    throw error;
  }
  return { archive: name, size: sent.size, sha256: sent.sha256, alreadyThere: false, check };
}

/**
 * A copy to a store that writes objects atomically and reports their checksum (S3): sent straight
 * to its name, then its size and checksum compared with what the local file gives; a copy that
 * does not check out is deleted.
 */
async function copyChecked(
  connection: DestinationConnection,
  checksum: NonNullable<DestinationConnection['checksum']>,
  display: string,
  localFile: string,
  sent: Measurement,
  options: CopyOptions,
): Promise<CopyResult> {
  const name = path.basename(localFile);
  const expected = await checksum.local(localFile);
  const check = `size and ${checksum.label} matched (${checksum.label} ${expected})`;
  const result = { archive: name, size: sent.size, sha256: sent.sha256, check };
  const existing = await connection.stat(name);
  if (existing) {
    if (existing.size === sent.size && (await checksum.remote(name)) === expected) return { ...result, alreadyThere: true };
    // Copies go straight to their name here: never over an object that holds something else.
    throw new RefusedError(
      `${display} already holds an object named ${name} with other content (${existing.size} bytes); it was not overwritten.`,
      {
        state: 'nothing was sent; the local archive is intact',
        hint: 'two servers writing to one prefix collide like this: give each server its own prefix (s3://bucket/cupm/<server>); if that object is a damaged copy of this archive, delete it and the next run copies again',
      },
    );
  }
  await upload(connection, display, localFile, name, options, {
    state: 'no copy was stored under that name (an upload appears only when complete); the local archive is intact',
  });
  try {
    await options.afterUpload?.(connection, name);
    const arrived = await connection.stat(name);
    const remote = arrived ? await checksum.remote(name) : undefined;
    if (!arrived || arrived.size !== sent.size || remote !== expected) {
      const what = !arrived
        ? 'is missing after the upload'
        : arrived.size !== sent.size
          ? `holds ${arrived.size} bytes instead of ${sent.size}`
          : `has ${checksum.label} ${remote}, not ${expected} as computed from the local file`;
      throw new JobFailedError(`The copy of ${name} on ${display} ${what}.`, {
        state: 'the bad copy was deleted; the local archive is intact',
      });
    }
  } catch (error) {
    await connection.remove(name).catch(() => {});
    throw error;
  }
  return { ...result, alreadyThere: false };
}

/** Sends the file as `as`; a failure says what is left (after `cleanUp`) in the driver's words. */
async function upload(
  connection: DestinationConnection,
  display: string,
  localFile: string,
  as: string,
  options: CopyOptions,
  after: { cleanUp?: () => Promise<void>; state: string },
): Promise<void> {
  try {
    await connection.upload(localFile, as, options.onBytes);
  } catch (error) {
    await after.cleanUp?.();
    if (error instanceof CupmError) throw error;
    throw new JobFailedError(
      `Copying ${path.basename(localFile)} to ${display} failed while writing: ${connection.describeError(error)}.`,
      {
        state: after.state,
        cause: error,
      },
    );
  }
}

/** Reads a file back from the destination and measures it. */
async function measureRemote(connection: DestinationConnection, display: string, name: string): Promise<Measurement> {
  const measure = new MeasureStream();
  try {
    await pipeline(connection.createReadStream(name), measure, discard());
  } catch (error) {
    if (error instanceof CupmError) throw error;
    throw new JobFailedError(`Cannot read ${name} back from ${display}: ${connection.describeError(error)}.`, { cause: error });
  }
  return measure.measurement;
}

/** The local archive's size and SHA-256, read through one reused buffer (no garbage: see readRange). */
async function measureLocal(file: string): Promise<Measurement> {
  const measurer = new Measurer();
  try {
    const handle = await fsp.open(file, 'r');
    try {
      await readRange(handle, { start: 0 }, Buffer.allocUnsafe(256 * 1024), (chunk) => measurer.update(chunk));
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new JobFailedError(`Cannot read ${file}: ${messageOf(error)}.`, { cause: error });
  }
  return measurer.finish();
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
