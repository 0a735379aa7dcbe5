/** The label `upgrade prepare` gives its backup; retention never deletes archives with it. */
export const PRE_UPGRADE_LABEL = 'pre-upgrade';

/** The services the install guide's clean-up deletes, as it spells them (matched case-insensitively; docs/cupm.md). */
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
