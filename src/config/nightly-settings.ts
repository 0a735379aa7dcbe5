/** How many archives each rule keeps (CUPM_KEEP_*, prune --keep-*); src/schedule/retention.ts applies it. */
export interface RetentionPolicy {
  last?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
}

/** Retention, the status threshold and the log (CUPM_KEEP_*, CUPM_MAX_AGE_HOURS, CUPM_LOG_MAX_BYTES). */
export interface NightlySettings {
  /** What `nightly` keeps; empty (no rule) means it deletes nothing. */
  retention: RetentionPolicy;
  /** `status` fails when the newest verified backup is older than this. */
  maxAgeHours: number;
  /** The run log is rotated when it grows past this. */
  logMaxBytes: number;
}

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

export const NIGHTLY_VARIABLES = [
  'CUPM_KEEP_LAST',
  'CUPM_KEEP_DAILY',
  'CUPM_KEEP_WEEKLY',
  'CUPM_KEEP_MONTHLY',
  'CUPM_MAX_AGE_HOURS',
  'CUPM_LOG_MAX_BYTES',
];

export const DEFAULT_MAX_AGE_HOURS = 26;
export const DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024;

/** Reads the nightly settings; problems are pushed. */
export function parseNightlySettings(get: Get, where: Where, problems: string[]): NightlySettings {
  const retention: RetentionPolicy = {};
  for (const [rule, name] of [
    ['last', 'CUPM_KEEP_LAST'],
    ['daily', 'CUPM_KEEP_DAILY'],
    ['weekly', 'CUPM_KEEP_WEEKLY'],
    ['monthly', 'CUPM_KEEP_MONTHLY'],
  ] as const) {
    const text = get(name);
    if (text === undefined) continue;
    const count = parseCount(text);
    if (count === undefined) problems.push(`${where(name)} must be a whole number of archives (0 or more), got "${text}".`);
    else retention[rule] = count;
  }
  let maxAgeHours = DEFAULT_MAX_AGE_HOURS;
  const ageText = get('CUPM_MAX_AGE_HOURS');
  if (ageText !== undefined) {
    maxAgeHours = Number(ageText);
    if (!/^\d+(\.\d+)?$/.test(ageText) || maxAgeHours <= 0)
      problems.push(`${where('CUPM_MAX_AGE_HOURS')} must be a positive number of hours, got "${ageText}".`);
  }
  let logMaxBytes = DEFAULT_LOG_MAX_BYTES;
  const logText = get('CUPM_LOG_MAX_BYTES');
  if (logText !== undefined) {
    const bytes = parseCount(logText);
    if (bytes === undefined || bytes < 4096)
      problems.push(`${where('CUPM_LOG_MAX_BYTES')} must be a number of bytes, at least 4096, got "${logText}".`);
    else logMaxBytes = bytes;
  }
  return { retention, maxAgeHours, logMaxBytes };
}

function parseCount(text: string): number | undefined {
  return /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;
}
