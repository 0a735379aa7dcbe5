import fsp from 'node:fs/promises';
import path from 'node:path';
import { RefusedError, messageOf } from '../errors.js';
import type { StepReport } from '../jobs/plan.js';
import { writeFileAtomic } from '../file-system.js';
import type { RolesBefore } from './roles.js';

/** The journal's name in the backup dir, next to the lock. */
export const JOURNAL_FILE = 'cupm-backup.restore-journal.json';
const KIND = 'cupm-backup restore journal';

/** A file the restore writes: where, what it was (a copy in the snapshot dir) and what it will be. */
export interface JournalFile {
  relativePath: string;
  target: string;
  /** The new content, staged in the snapshot dir. */
  staged: string;
  /** The copy of the file as it was, or null when there was none. */
  before: string | null;
  mode: number;
  uid: number | null;
  gid: number | null;
}

/**
 * Everything a later run needs to finish or undo a restore that was killed: written atomically
 * (0600) at every step change and before every change to the server, so what it says has either
 * happened or is about to (undo checks the real state before acting).
 */
export interface RestoreJournal {
  kind: typeof KIND;
  version: 1;
  command: 'restore' | 'migrate';
  archive: string;
  pid: number;
  host: string;
  startedAt: string;
  /** The application database, role, and the admin role the tool connects as. */
  database: string;
  dbRole: string;
  adminRole: string;
  /** 0700 folder holding the roles snapshot, the files' copies and the staged files. */
  snapshotDir: string;
  services: { configured: string[]; wereRunning: string[] };
  /** The PostgreSQL service restarted at the end, or null: the app role's sessions are ended instead. */
  pgService: string | null;
  /** Databases the dump creates. */
  dumpDatabases: string[];
  /** Databases moved aside (planned before each move). */
  renames: Array<{ from: string; to: string }>;
  roles: RolesBefore | null;
  /** The databases there were before anything was moved (the snapshot records them). */
  databasesBefore: string[] | null;
  files: JournalFile[];
  purge: { host: string; deleted: number | null } | null;
  keepPrevious: boolean;
  /** ANALYZE each restored database once the services are back (autovacuum does not here). Absent in older journals: no. */
  analyze?: boolean;
  adminPasswordFromBackup: boolean;
  /** The admin password (hash) the dump holds, once the load has read it. */
  adminPassword: string | null;
  /** The psql loading the dump: a killed run leaves it running until it reads the end of its input. */
  psqlPid: number | null;
  /** psql sessions loading the dump (--jobs): the main one and helpers. Absent in older journals: one. */
  loadSessions?: number;
  /** The helpers' psqls of a parallel load (--jobs). Absent in older journals: none. */
  helperPsqlPids?: number[];
  steps: StepReport[];
  /**
   * The undo could not finish, so the CUPM services were left stopped (the database is not whole):
   * which and why. The run that finishes the undo starts them (those in services.wereRunning).
   */
  servicesKeptStopped?: { services: string[]; reason: string };
  /** Steps after the services are back: drop the previous databases, ANALYZE, apply the admin password. */
  finishing: StepReport[];
  /**
   * A live restore (--live): the dump loads into the incoming databases while CUPM runs, and only
   * the swap (name -> previous, incoming -> name) happens while the services are stopped.
   * `outage` is set before the first service stops: a run killed earlier never stopped CUPM.
   */
  live?: { incoming: Array<{ name: string; incoming: string }>; outage: boolean };
}

/** A live restore's held-back role statements (they hold password hashes: in the 0700 snapshot dir). */
export function heldRolesFile(journal: RestoreJournal): string {
  return path.join(journal.snapshotDir, 'held-roles.sql');
}

export function journalPath(dir: string): string {
  return path.join(dir, JOURNAL_FILE);
}

export function newJournal(fields: Omit<RestoreJournal, 'kind' | 'version'>): RestoreJournal {
  return { kind: KIND, version: 1, ...fields };
}

/** The journal a restore left in `dir`, or undefined when there is none. Unreadable: exit 4. */
export async function readJournal(dir: string): Promise<RestoreJournal | undefined> {
  const file = journalPath(dir);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const journal = JSON.parse(text) as RestoreJournal;
    if (journal.kind !== KIND || journal.version !== 1) throw new Error(`not a version 1 restore journal`);
    return journal;
  } catch (error) {
    throw new RefusedError(`A restore journal exists but cannot be read: ${file} (${messageOf(error)}).`, {
      state: 'a restore was interrupted; the tool cannot tell how far it got',
      hint: `look at the server (databases named *__previous_*, the CUPM files), finish by hand, then delete ${file}`,
    });
  }
}

export async function writeJournal(dir: string, journal: RestoreJournal): Promise<void> {
  await writeFileAtomic(journalPath(dir), Buffer.from(JSON.stringify(journal, null, 2) + '\n'), { mode: 0o600, uid: null, gid: null });
}

/** Removes the journal and the snapshot dir it names: the job is over. */
export async function removeJournal(dir: string, journal: RestoreJournal): Promise<void> {
  await fsp.rm(journal.snapshotDir, { recursive: true, force: true });
  await fsp.rm(journalPath(dir), { force: true });
}
