import path from 'node:path';
import { isUncPath, volumeOf } from '../system/windows-paths.js';
import { UPGRADE_TARGET_VERSION } from '../artifacts/install-log.js';

export interface ChecklistFacts {
  archive: string;
  /** The CUPM version the archive holds (the one being upgraded from). */
  cupmVersion: string | null;
  backupDir: string;
  installDir: string | undefined;
}

/** A group of checklist items: before the upgrade, after it, if it fails. */
export interface ChecklistSection {
  heading: string;
  items: string[];
}

/**
 * The upgrade checklist of the install guide (upgrade chapter), with this archive's facts filled in.
 * Its points (docs/cupm.md): the manual backup is separate from the installer's own and both are needed;
 * keep backups on another server (and a CD); after the upgrade, synchronize every call processor
 * and unified message processor before placing orders.
 */
export function upgradeChecklist(facts: ChecklistFacts): ChecklistSection[] {
  const quoted = /\s/.test(facts.archive) ? `"${facts.archive}"` : facts.archive;
  const before = [
    `This archive is the manual backup the install guide asks for before an upgrade. The installer makes a backup of its own during the upgrade (it asks for a folder): that one is separate, and you need both.`,
    offServerAdvice(facts, quoted),
    'If HTTPS is enabled, upgrade Win32 OpenSSL to the latest version listed on Cisco.com first.',
  ];
  const after = ['Synchronize all call processors.', 'Synchronize all unified message processors.', 'Run synchronization in all domains.'];
  if (facts.cupmVersion !== null && /^2\.1(\.|$)/.test(facts.cupmVersion)) {
    after.push('Coming from 2.1: run the Line to End-user Association utility (it restores the end-user associations of Line products).');
  }
  return [
    { heading: `Before the upgrade to CUPM ${UPGRADE_TARGET_VERSION}:`, items: before },
    { heading: 'After the upgrade, before placing any order:', items: after },
    {
      heading: 'If the upgrade fails:',
      items: [`cupm-backup upgrade rollback ${quoted} prints the whole way back: the clean-up, the version to reinstall, the restore.`],
    },
  ];
}

/** Numbered lines for the terminal. */
export function formatChecklist(sections: ChecklistSection[]): string[] {
  const lines: string[] = [];
  let n = 0;
  for (const section of sections) {
    lines.push(section.heading);
    for (const item of section.items) lines.push(`  ${++n}. ${item}`);
  }
  return lines;
}

function offServerAdvice(facts: ChecklistFacts, quoted: string): string {
  const copy = `Keep it off this server: copy ${quoted} to a file server (and burn it to a CD, as the install guide says), then check the copy with cupm-backup verify.`;
  if (isUncPath(facts.backupDir))
    return `The archive is on a file share (${facts.backupDir}), off this server. Also burn it to a CD, as the install guide says.`;
  const sameVolume =
    facts.installDir !== undefined && volumeOf(facts.backupDir) !== undefined && volumeOf(facts.backupDir) === volumeOf(facts.installDir);
  if (sameVolume) return `${copy} It is on the same drive as CUPM (${path.win32.parse(facts.backupDir).root}) now.`;
  return copy;
}
