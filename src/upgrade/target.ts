import { sameCupmVersion } from '../artifacts/install-log.js';

/** The release the seed's upgrade goes to; its clean-up rolls back to 2.1 or 2.2. */
export const UPGRADE_TARGET_VERSION = '8.5';

/** The label `upgrade prepare` gives its backup; retention never deletes archives with it. */
export const PRE_UPGRADE_LABEL = 'pre-upgrade';

/** The services the seed's clean-up deletes, as the seed spells them (matched case-insensitively). */
export const CLEANUP_SERVICES = ['Apache2', 'cupm JbossService', 'cupm NICEService', 'pgsql-8.2'] as const;

/** The Windows user the CUPM installer creates by default (another name when changed at install). */
export const DEFAULT_WINDOWS_USER = 'cupmuser';

/** InstallAnywhere's own registry, which a failed upgrade leaves behind. */
export const ZERO_G_REGISTRY = 'Zero G Registry';

/** Add or Remove Programs entries of CUPM itself (2.x and 8.5 alike). */
export function isCupmProgram(displayName: string): boolean {
  return /provisioning\s+manager/i.test(displayName) || /^\s*CUPM\b/i.test(displayName);
}

/** The PostgreSQL CUPM installed: 8.2 only, never another PostgreSQL on the same machine. */
export function isPostgres82Program(displayName: string): boolean {
  return /^\s*PostgreSQL\s+8\.2(?:\b|$)/i.test(displayName);
}

/**
 * True for a version older than the upgrade's target: the 2.1 / 2.2 a rollback reinstalls. (Not a
 * type guard: false says nothing of null, a newer version is a string too.)
 */
export function isOldCupmVersion(version: string | null): boolean {
  if (version === null || sameCupmVersion(version, UPGRADE_TARGET_VERSION)) return false;
  const parts = (v: string) => v.split('.').map((n) => Number(n) || 0);
  const [a, b] = [parts(version), parts(UPGRADE_TARGET_VERSION)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}
