import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { corruptCopyOf } from './archive-edit.js';
import { alive, waitFor } from './faults.js';
import { backupOf, createOldAndNewServers, normalizedDump } from './servers.js';

/** The journal a restore keeps in the backup folder while it runs. */
export const JOURNAL = 'cupm-backup.restore-journal.json';

/** What the restore tests read of a journal. */
export interface JournalView {
  pid: number;
  steps: Array<{ id: string; status: string }>;
  finishing: Array<{ id: string; status: string }>;
  live?: { outage: boolean };
  servicesKeptStopped?: { services: string[] };
}

/** The journal in `server`'s backup folder, as the restore left it. */
export async function journalOf(server: SandboxServer): Promise<JournalView> {
  return JSON.parse(await fs.readFile(path.join(server.backupDir, JOURNAL), 'utf8')) as JournalView;
}

/**
 * The stage of the restore stories: the old server and its archive (the dump as it was, a copy
 * with 64 bytes overwritten in the middle, which verify refuses) and the new server to restore onto.
 */
export interface RestoreStage {
  old: SandboxServer;
  target: SandboxServer;
  archive: string;
  /** The old server's cupm database, normalized (servers.ts normalizedDump). */
  sourceDump: string;
  corrupt: string;
  /** A temp folder for the test's own files. */
  work: string;
  destroy(): Promise<void>;
}

/**
 * `beforeBackup` changes the old server before its backup is made (what the archive must hold);
 * `sourceDump` is read after it.
 */
export async function createRestoreStage(
  prefix: string,
  options: { beforeBackup?: (old: SandboxServer) => Promise<void> } = {},
): Promise<RestoreStage> {
  const { old, new: target } = await createOldAndNewServers();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  const destroy = async () => {
    await old.destroy();
    await target.destroy();
    await fs.rm(work, { recursive: true, force: true });
  };
  try {
    await options.beforeBackup?.(old);
    const archive = await backupOf(old);
    const sourceDump = await normalizedDump(old.cluster, 'cupm');
    const corrupt = await corruptCopyOf(archive, path.join(work, 'corrupt.zip'));
    return { old, target, archive, sourceDump, corrupt, work, destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Waits for a paused service command (a restore killed in it) to end. */
export async function serviceCommandEnded(pid: number): Promise<void> {
  await waitFor('the service command to end', async () => ((await alive(pid)) ? undefined : true));
}
