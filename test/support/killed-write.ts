import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { STALE_TEMP_MS } from '../../src/file-system.js';
import { REPO } from './cli.js';
import { expect } from './expect.js';
import { alive, waitFor } from './faults.js';

/** A write killed -9 between its temp file and its rename: the temp file it left, and the writer's pid. */
export interface KilledWrite {
  temp: string;
  pid: number;
}

/**
 * Runs `code` (the body of an ES module, under tsx, in the repository; it imports the sources and
 * writes a file through them) in a child process in which every fsync of a file hangs: its first
 * atomic write (src/file-system.ts: temp file written, fsynced, renamed) stops there, its temp file
 * written but not renamed, and the child is killed -9 at that moment, as a kill in the middle of a
 * write leaves it.
 */
export async function killMidWrite(code: string): Promise<KilledWrite> {
  const script = `
    const fs = await import('node:fs');
    const fsp = await import('node:fs/promises');
    const os = await import('node:os');
    const probe = await fsp.open(os.devNull);
    const FileHandle = Object.getPrototypeOf(probe);
    await probe.close();
    FileHandle.sync = function () {
      globalThis.hungHandle = this; // kept open: not closed by the garbage collector before the kill
      process.stdout.write(fs.readlinkSync('/proc/self/fd/' + this.fd) + '\\n');
      setInterval(() => {}, 60_000);
      return new Promise(() => {});
    };
    ${code}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let exitCode: number | null | undefined;
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('exit', (code) => (exitCode = code));
  // A child under tsx starts slowly on a loaded machine: only waited for, never timed.
  const temp = await waitFor('the writer to reach the fsync of its temp file', async () => {
    if (out.includes('\n')) return out.slice(0, out.indexOf('\n'));
    if (exitCode !== undefined) throw new Error(`the writer ended (exit ${exitCode}) before it fsynced a temp file`);
    return undefined;
  });
  child.kill('SIGKILL');
  await exited;
  const pid = child.pid!;
  await waitFor('the writer to be gone', async () => ((await alive(pid)) ? undefined : true));
  return { temp, pid };
}

/** Makes `file` look last written longer ago than any atomic write can take (STALE_TEMP_MS, and a minute). */
export async function ageFile(file: string): Promise<void> {
  const at = new Date(Date.now() - STALE_TEMP_MS - 60_000);
  await fs.utimes(file, at, at);
}

/** A file written under no lock, as its writer writes it: by a process killed -9 midway, and here. */
export interface UnlockedWriter {
  file: string;
  /** The writer in another process, killed -9 between its temp file and its rename (killMidWrite). */
  killedWrite(): Promise<KilledWrite>;
  /** A later write of the same file, here. */
  write(): Promise<void>;
}

const sortedNames = async (dir: string) => (await fs.readdir(dir)).sort();

/**
 * A killed write leaves the file as it was and its temp file (by writeFileAtomic's naming rule);
 * once that temp file is older than any write can take, the next write removes it, and nothing
 * else (another file's temp file, a file of the user's, as stale).
 */
export async function staleTempIsRemoved(writer: UnlockedWriter): Promise<void> {
  const dir = path.dirname(writer.file);
  const name = path.basename(writer.file);
  const before = await fs.readFile(writer.file).catch(() => undefined);
  const { temp, pid } = await writer.killedWrite();
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  expect(path.basename(temp)).to.match(new RegExp(`^\\.${escaped}\\.cupm-backup-${pid}-[0-9a-f]{8}\\.tmp$`));
  expect(await fs.readFile(writer.file).catch(() => undefined), 'the file as it was before the killed write').to.deep.equal(before);
  const notOurs = [`.other-${name}.cupm-backup-${pid}-0a1b2c3d.tmp`, `${name}.tmp`];
  for (const other of notOurs) await fs.writeFile(path.join(dir, other), 'left');
  const others = (await sortedNames(dir)).filter((n) => n !== path.basename(temp));
  for (const file of [temp, ...notOurs.map((other) => path.join(dir, other))]) await ageFile(file);

  await writer.write();
  expect(await sortedNames(dir)).to.deep.equal([...new Set([...others, name])].sort());
}

/** A temp file of a write that may still be running (here or on another host: it is fresh) is kept by the next write. */
export async function freshTempIsKept(writer: UnlockedWriter): Promise<void> {
  const { temp } = await writer.killedWrite();
  await writer.write();
  expect(await sortedNames(path.dirname(writer.file))).to.include.members([path.basename(temp), path.basename(writer.file)]);
}
