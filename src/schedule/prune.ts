import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { listArchives } from '../archive/catalog.js';
import type { ArchiveKeys } from '../archive/encryption.js';
import { labelKey, safeNamePart } from '../archive/format.js';
import type { NameFacts } from '../archive/names.js';
import { verifyArchive } from '../archive/verify.js';
import type { Config } from '../config/config.js';
import { archiveKeys } from '../config/encryption-settings.js';
import type { RetentionPolicy } from '../config/nightly-settings.js';
import { ConfigError, CupmError, messageOf } from '../errors.js';
import { withLock } from '../jobs/lock.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import { withConnection, type Destination } from '../offsite/destination.js';
import { configuredDestinations } from '../offsite/index.js';
import { listRemoteArchives } from '../offsite/remote-catalog.js';
import { readHistory } from './history.js';
import {
  describePolicy,
  hasRules,
  planRetention,
  PRE_UPGRADE_LABEL,
  type RetentionCandidate,
  type RetentionDecision,
} from './retention.js';

export interface PruneOptions {
  policy: RetentionPolicy;
  /** Decide and report, delete nothing. */
  dryRun?: boolean;
  /** Whose archives are pruned (default: this host's name). */
  host?: string;
  /** Local archive names known to have verified (nightly's new one): not read again. */
  verified?: readonly string[];
  /** More reasons to keep local archives, by name (nightly: copies still owed to a destination). */
  hold?: ReadonlyMap<string, string[]>;
  /** The destinations to prune too (default: every configured one). */
  destinations?: readonly Destination[];
}

/** What prune did (or would do) in one place: the backup dir or one destination. */
export interface PruneLocation {
  location: string;
  kind: 'local' | 'folder' | 'sftp' | 's3';
  decisions: RetentionDecision[];
  /** Deleted (or, with dryRun, to be deleted). */
  deleted: string[];
  /** Archives that could not be read or did not verify: kept and reported. */
  unreadable: Array<{ name: string; problem: string }>;
  /** The place could not be pruned (unreachable, a delete failed). */
  error?: string;
}

export interface PruneResult {
  dryRun: boolean;
  policy: RetentionPolicy;
  host: string;
  locations: PruneLocation[];
}

/** Prunes the backup dir and every destination under the lock of the backup dir. */
export async function prune(config: Config, options: PruneOptions, reporter: Reporter = silentReporter): Promise<PruneResult> {
  return withLock(config.backupDir, options.dryRun ? 'prune --dry-run' : 'prune', () => pruneLocked(config, options, reporter));
}

/**
 * Retention for a caller that holds the lock. The backup dir first (a failure there throws), then
 * each destination: one that cannot be reached or pruned is recorded and the others go on.
 */
export async function pruneLocked(config: Config, options: PruneOptions, reporter: Reporter = silentReporter): Promise<PruneResult> {
  if (!hasRules(options.policy)) {
    throw new ConfigError('No retention rule is set, so nothing would be kept by rule: prune refuses to guess.', {
      state: 'nothing was deleted',
      hint: 'give --keep-last/--keep-daily/--keep-weekly/--keep-monthly, or set CUPM_KEEP_*',
    });
  }
  const host = options.host ?? os.hostname();
  const result: PruneResult = { dryRun: options.dryRun ?? false, policy: options.policy, host, locations: [] };
  reporter.info(`Retention (${describePolicy(options.policy)}) for ${host}'s archives${options.dryRun ? ', dry run' : ''}`);
  result.locations.push(await pruneBackupDir(config, { ...options, host }, reporter));
  for (const destination of options.destinations ?? configuredDestinations(config.offsite)) {
    result.locations.push(await pruneDestination(destination, { ...options, host, keys: archiveKeys(config.encryption) }, reporter));
  }
  return result;
}

async function pruneBackupDir(config: Config, options: PruneOptions & { host: string }, reporter: Reporter): Promise<PruneLocation> {
  const dir = config.backupDir;
  const location: PruneLocation = { location: dir, kind: 'local', decisions: [], deleted: [], unreadable: [] };
  const keys = archiveKeys(config.encryption);
  const archives = await listArchives(dir, keys);
  const known = await knownVerified(dir, options.verified ?? []);
  const candidates: RetentionCandidate[] = archives.map((a) => ({
    name: a.name,
    ...(a.manifest
      ? {
          createdAt: a.manifest.createdAt,
          label: a.manifest.label,
          host: a.manifest.source.hostname,
          verified: known.get(a.name) === a.size,
          imported: a.manifest.imported === true,
        }
      : a.locked && a.nameFacts
        ? { ...byName(a.nameFacts, options.host), verified: known.get(a.name) === a.size }
        : { problem: firstLine(a.error ?? (a.locked ? `${a.locked}, and its name is not one cupm-backup writes` : 'unreadable')) }),
    hold: options.hold?.get(a.name) ?? [],
  }));
  const locked = archives.filter((a) => a.locked && a.nameFacts).length;
  if (locked > 0)
    reporter.info(`${locked} encrypted archive(s) judged by the host, time and label in their names (no identity opens them here)`);

  // The newest verified archive is never deleted: find it, reading archives newest first until
  // one verifies. One that fails is kept and reported, like an unreadable one.
  const countable = candidates
    .filter(
      (c) => c.problem === undefined && labelKey(c.label) !== PRE_UPGRADE_LABEL && c.host?.toLowerCase() === options.host.toLowerCase(),
    )
    // Real backups first: an import never stands in for the newest verified backup (retention.ts).
    .sort((a, b) => Number(a.imported === true) - Number(b.imported === true) || Date.parse(b.createdAt!) - Date.parse(a.createdAt!));
  for (const candidate of countable) {
    if (candidate.verified) break;
    reporter.info(`Verifying ${candidate.name} (the newest archive not yet known to be verified)`);
    const report = await verifyArchive(path.join(dir, candidate.name), { keys });
    if (report.ok) {
      candidate.verified = true;
      break;
    }
    candidate.problem = report.needsIdentity
      ? 'encrypted, and not known to be verified: no identity opens it here (nightly records the archives it verified; or pass --identity)'
      : `failed verification: ${report.problems[0] ?? 'unknown problem'}`;
  }
  return decideAndDelete(location, candidates, options, reporter, (name) => fs.rm(path.join(dir, name)));
}

async function pruneDestination(
  destination: Destination,
  options: PruneOptions & { host: string; keys?: ArchiveKeys },
  reporter: Reporter,
): Promise<PruneLocation> {
  const location: PruneLocation = { location: destination.display, kind: destination.kind, decisions: [], deleted: [], unreadable: [] };
  try {
    await withConnection(destination, async (connection) => {
      const archives = await listRemoteArchives(connection, destination.display, options.keys ?? {});
      // Off-site copies only get their final name after they were read back and matched: a
      // readable one there is a checked one (an encrypted one too, judged by its name).
      const candidates: RetentionCandidate[] = archives.map((a) => ({
        name: a.name,
        ...(a.manifest
          ? {
              createdAt: a.manifest.createdAt,
              label: a.manifest.label,
              host: a.manifest.source.hostname,
              verified: true,
              imported: a.manifest.imported === true,
            }
          : a.locked && a.nameFacts
            ? { ...byName(a.nameFacts, options.host), verified: true }
            : { problem: firstLine(a.error ?? (a.locked ? `${a.locked}, and its name is not one cupm-backup writes` : 'unreadable')) }),
      }));
      await decideAndDelete(location, candidates, options, reporter, (name) => connection.remove(name));
    });
  } catch (error) {
    location.error = error instanceof CupmError ? error.message : messageOf(error);
    reporter.warn(`Retention on ${destination.display} failed: ${location.error}`);
  }
  return location;
}

async function decideAndDelete(
  location: PruneLocation,
  candidates: RetentionCandidate[],
  options: PruneOptions & { host: string },
  reporter: Reporter,
  remove: (name: string) => Promise<unknown>,
): Promise<PruneLocation> {
  location.decisions = planRetention(candidates, options.policy, { host: options.host });
  for (const c of candidates) {
    if (c.problem !== undefined) {
      location.unreadable.push({ name: c.name, problem: c.problem });
      reporter.warn(`${c.name} in ${location.location} cannot be judged (${c.problem}); it is kept: remove it by name if it is garbage`);
    }
  }
  for (const decision of location.decisions) {
    if (decision.keep) continue;
    if (options.dryRun) {
      location.deleted.push(decision.name);
      continue;
    }
    try {
      await remove(decision.name);
      location.deleted.push(decision.name);
      reporter.info(`Deleted ${decision.name} from ${location.location}`);
    } catch (error) {
      location.error = `cannot delete ${decision.name}: ${error instanceof CupmError ? error.message : messageOf(error)}`;
      reporter.warn(`Retention in ${location.location}: ${location.error}`);
    }
  }
  return location;
}

/** Archives a nightly run verified, by name -> size then, so a file changed since does not count. */
async function knownVerified(dir: string, fresh: readonly string[]): Promise<Map<string, number>> {
  const known = new Map<string, number>();
  for (const record of await readHistory(dir).catch(() => [])) {
    if (record.verified && record.archive) known.set(record.archive.name, record.archive.size);
  }
  for (const name of fresh) {
    const size = await fs.stat(path.join(dir, name)).then(
      (s) => s.size,
      () => -1,
    );
    known.set(name, size);
  }
  return known;
}

/**
 * The retention facts of an encrypted archive no identity opens here, from its name (written by
 * the tool with the manifest's createdAt, host and label). The name holds the host made file-name
 * safe: it counts as this host's when it is this host's name made safe the same way.
 */
function byName(facts: NameFacts, host: string): Pick<RetentionCandidate, 'createdAt' | 'label' | 'host'> {
  const ours = safeNamePart(host).toLowerCase() === facts.hostname.toLowerCase();
  return { createdAt: facts.createdAt, label: facts.label, host: ours ? host : facts.hostname };
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
