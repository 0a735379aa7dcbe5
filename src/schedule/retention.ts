import type { RetentionPolicy } from '../config/nightly-settings.js';

/**
 * Retention policy, pure: which archives to keep and why, restic's `forget` semantics.
 *
 * Archives are walked newest first. `last N` keeps the N newest. `daily N` keeps the newest
 * archive of each of the N most recent days that have an archive (days without one do not count),
 * and likewise `weekly` (ISO weeks, Monday first) and `monthly`. An archive kept by several rules
 * lists every one. Periods are taken in UTC from the manifest's createdAt: the same calendar the
 * archive names use (`..._20261125T020000Z.zip` is day 2026-11-25), whatever the time zone of the
 * machine that runs prune.
 */

import { labelKey } from '../archive/format.js';

export const RETENTION_RULES = ['last', 'daily', 'weekly', 'monthly'] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];

/** The label that keeps an archive until it is removed by name. */
export const PRE_UPGRADE_LABEL = 'pre-upgrade';

/** What prune knows about one archive. */
export interface RetentionCandidate {
  name: string;
  /** The manifest's createdAt; absent when the manifest cannot be read. */
  createdAt?: string;
  label?: string | null;
  /** The manifest's source.hostname. */
  host?: string;
  /** Why this archive cannot be judged: unreadable, or failed verification. It is kept. */
  problem?: string;
  /** Read whole and matched its manifest (or arrived checked, off-site). */
  verified?: boolean;
  /** Made by `import` from a manual dump: never "the newest verified archive" while a real backup is verified. */
  imported?: boolean;
  /** More reasons to keep it, e.g. "not yet copied to sftp://...". */
  hold?: string[];
}

export interface RetentionDecision {
  name: string;
  createdAt?: string;
  keep: boolean;
  /** Why it is kept (empty when it is deleted). */
  reasons: string[];
}

/** True when at least one rule asks to keep something: with none, prune deletes nothing. */
export function hasRules(policy: RetentionPolicy): boolean {
  return RETENTION_RULES.some((rule) => policy[rule] !== undefined);
}

/**
 * Decides for every candidate, newest first. Never deletes: the newest verified archive, an
 * archive with a problem, one labelled pre-upgrade, one held, one of another host. Only archives
 * of `host` (compared case-insensitively, as Windows names are) are counted and deleted.
 */
export function planRetention(
  candidates: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  options: { host: string },
): RetentionDecision[] {
  const host = options.host.toLowerCase();
  const decisions = new Map<string, RetentionDecision>();
  const decide = (c: RetentionCandidate, reasons: string[]) =>
    decisions.set(c.name, { name: c.name, ...(c.createdAt ? { createdAt: c.createdAt } : {}), keep: reasons.length > 0, reasons });

  const counted: RetentionCandidate[] = [];
  for (const c of candidates) {
    if (c.problem !== undefined || c.createdAt === undefined || Number.isNaN(Date.parse(c.createdAt))) {
      decide(c, [`cannot be judged: ${c.problem ?? 'no creation date'} (kept; remove it by name)`]);
    } else if (labelKey(c.label) === PRE_UPGRADE_LABEL) {
      decide(c, [`labelled ${PRE_UPGRADE_LABEL} (kept until removed by name)`]);
    } else if ((c.host ?? '').toLowerCase() !== host) {
      decide(c, [`an archive of another host (${c.host ?? 'unknown'}); only ${options.host}'s archives are pruned`]);
    } else {
      counted.push(c);
    }
  }

  counted.sort((a, b) => Date.parse(b.createdAt!) - Date.parse(a.createdAt!) || b.name.localeCompare(a.name));
  const remaining: Record<RetentionRule, number> = { last: 0, daily: 0, weekly: 0, monthly: 0 };
  for (const rule of RETENTION_RULES) remaining[rule] = policy[rule] ?? 0;
  const lastBucket: Partial<Record<RetentionRule, string>> = {};
  // An imported dump is dated by the dump, yet a real backup is what a restore should fall back to.
  const newestVerified = counted.find((c) => c.verified && !c.imported) ?? counted.find((c) => c.verified);

  for (const c of counted) {
    const reasons: string[] = [];
    const at = new Date(c.createdAt!);
    for (const rule of RETENTION_RULES) {
      if (remaining[rule] <= 0) continue;
      const bucket = rule === 'last' ? c.name : bucketOf(rule, at);
      if (bucket === lastBucket[rule]) continue;
      lastBucket[rule] = bucket;
      remaining[rule]--;
      reasons.push(rule === 'last' ? `last ${policy.last}` : `${rule} ${bucket}`);
    }
    if (c === newestVerified) reasons.push('the newest verified archive');
    reasons.push(...(c.hold ?? []));
    decide(c, reasons);
  }

  const order = (d: RetentionDecision) => (d.createdAt ? Date.parse(d.createdAt) : -Infinity);
  return [...decisions.values()].sort((a, b) => order(b) - order(a) || b.name.localeCompare(a.name));
}

/** The period an instant falls in, in UTC: `2026-11-25`, `2026-W48`, `2026-11`. */
export function bucketOf(rule: Exclude<RetentionRule, 'last'>, at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  if (rule === 'daily') return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  if (rule === 'monthly') return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}`;
  // ISO 8601 week: the week belongs to the year of its Thursday.
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${pad(week)}`;
}

/** "last 3, daily 7, weekly 4, monthly 6" */
export function describePolicy(policy: RetentionPolicy): string {
  const parts = RETENTION_RULES.filter((rule) => policy[rule] !== undefined).map((rule) => `${rule} ${policy[rule]}`);
  return parts.length > 0 ? parts.join(', ') : 'no rule';
}
