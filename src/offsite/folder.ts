import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { JobFailedError, messageOf } from '../errors.js';
import type { Destination, DestinationConnection, RemoteFile } from './destination.js';
import type { FolderTarget } from './targets.js';

/**
 * A folder destination: a mounted file share or any directory. The folder is never created: a
 * share that is not mounted often leaves an empty mount point behind, and writing there would
 * put the "off-site" copy on the local disk.
 */
export class FolderDestination implements Destination {
  readonly kind = 'folder';
  readonly display: string;

  constructor(private readonly target: FolderTarget) {
    this.display = target.display;
  }

  async connect(): Promise<DestinationConnection> {
    const dir = this.target.path;
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(dir);
    } catch (error) {
      throw new JobFailedError(`The off-site folder ${dir} cannot be reached: ${describeFsError(error)}.`, {
        hint: 'check that the share is mounted (or the folder exists) and that this account may write to it; the folder is never created',
      });
    }
    if (!stat.isDirectory()) throw new JobFailedError(`The off-site destination ${dir} is not a folder.`);
    return new FolderConnection(dir);
  }
}

class FolderConnection implements DestinationConnection {
  constructor(private readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  async list(): Promise<RemoteFile[]> {
    const files: RemoteFile[] = [];
    for (const entry of await this.wrap('list', fsp.readdir(this.dir, { withFileTypes: true }))) {
      if (!entry.isFile()) continue;
      const stat = await this.stat(entry.name);
      if (stat) files.push(stat);
    }
    return files;
  }

  async stat(name: string): Promise<RemoteFile | undefined> {
    try {
      const stat = await fsp.stat(this.file(name));
      return stat.isFile() ? { name, size: stat.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.failure(`read ${name} in`, error);
    }
  }

  async upload(localFile: string, name: string, onBytes?: (done: number, total: number) => void): Promise<void> {
    const { size } = await fsp.stat(localFile);
    let done = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        done += chunk.length;
        onBytes?.(done, size);
        callback(null, chunk);
      },
    });
    // flush: the data is on the share's disk (as far as the share says) before we read it back.
    await pipeline(fs.createReadStream(localFile), count, fs.createWriteStream(this.file(name), { mode: 0o600, flush: true }));
  }

  createReadStream(name: string, range?: { start: number; end: number }) {
    // fs ranges are inclusive at the end; ours are not.
    const options = range ? { start: range.start, end: range.end - 1 } : {};
    return fs.createReadStream(this.file(name), options);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.wrap(`rename ${from} in`, fsp.rename(this.file(from), this.file(to)));
  }

  async remove(name: string): Promise<void> {
    await this.wrap(`delete ${name} from`, fsp.rm(this.file(name), { force: true }));
  }

  async close(): Promise<void> {}

  describeError(error: unknown): string {
    return describeFsError(error);
  }

  private async wrap<T>(what: string, promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  private failure(what: string, error: unknown): JobFailedError {
    return new JobFailedError(`Cannot ${what} the off-site folder ${this.dir}: ${describeFsError(error)}.`, { cause: error });
  }
}

/** A file system error in words a person can act on. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'it does not exist (is the share mounted?)';
    case 'EROFS':
      return 'it is read-only (EROFS)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'ENOSPC':
      return 'the disk is full (ENOSPC)';
    case 'EDQUOT':
      return 'the disk quota is exceeded (EDQUOT)';
    default:
      return code ? `${code}: ${messageOf(error)}` : messageOf(error);
  }
}
