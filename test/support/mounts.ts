import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** A real tmpfs: a small disk that fills up, or a read-only one (root only, as CI runs). */
export interface TestMount {
  dir: string;
  unmount(): Promise<void>;
}

export async function mountTmpfs(options: { sizeBytes: number; readOnly?: boolean; prefix?: string }): Promise<TestMount> {
  if (process.getuid?.() !== 0) throw new Error('these tests mount a tmpfs: run them as root (CI does)');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), options.prefix ?? 'cupm-tmpfs-'));
  const flags = [`size=${options.sizeBytes}`, 'mode=0755', ...(options.readOnly ? ['ro'] : [])].join(',');
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', flags, 'tmpfs', dir], { reject: false });
  if (mounted.exitCode !== 0) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs failed (this test needs a real small or read-only file system): ${mounted.stderr}`);
  }
  return {
    dir,
    async unmount() {
      await execa('umount', [dir], { reject: false });
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `dir` made read-only where it is, by a read-only bind mount of itself (root only, as CI runs):
 * root's writes fail there too (EROFS), as on a read-only volume. `unmount` makes it writable again.
 */
export async function bindReadOnly(dir: string): Promise<{ unmount(): Promise<void> }> {
  if (process.getuid?.() !== 0) throw new Error('this test bind-mounts a folder read-only: run it as root (CI does)');
  await execa('mount', ['--bind', dir, dir]);
  const remounted = await execa('mount', ['-o', 'remount,bind,ro', dir, dir], { reject: false });
  if (remounted.exitCode !== 0) {
    await execa('umount', [dir], { reject: false });
    throw new Error(`mount -o remount,bind,ro failed: ${remounted.stderr}`);
  }
  return {
    async unmount() {
      await execa('umount', [dir]);
    },
  };
}
