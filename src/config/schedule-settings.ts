/** Which scheduler `schedule install` uses; `auto` picks by platform (see src/schedule/install/). */
export const SCHEDULER_KINDS = ['auto', 'schtasks', 'systemd', 'cron'] as const;
export type SchedulerKind = (typeof SCHEDULER_KINDS)[number];

/** A time of day, local to the host. */
export interface TimeOfDay {
  hour: number;
  minute: number;
}

/** CUPM_SCHEDULE_AT and CUPM_SCHEDULER. */
export interface ScheduleSettings {
  /** When the nightly run starts (CUPM_SCHEDULE_AT, default 02:00); `--at` overrides it. */
  at: TimeOfDay;
  scheduler: SchedulerKind;
}

export const DEFAULT_SCHEDULE_AT: TimeOfDay = { hour: 2, minute: 0 };

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

/** Reads the schedule settings; problems are pushed. */
export function parseScheduleSettings(get: Get, where: Where, problems: string[]): ScheduleSettings {
  let at = DEFAULT_SCHEDULE_AT;
  const atText = get('CUPM_SCHEDULE_AT');
  if (atText !== undefined) {
    const parsed = parseTimeOfDay(atText);
    if (parsed === undefined) problems.push(`${where('CUPM_SCHEDULE_AT')} must be a time HH:MM (00:00 to 23:59), got "${atText}".`);
    else at = parsed;
  }
  let scheduler: SchedulerKind = 'auto';
  const schedulerText = get('CUPM_SCHEDULER');
  if (schedulerText !== undefined) {
    if ((SCHEDULER_KINDS as readonly string[]).includes(schedulerText.toLowerCase()))
      scheduler = schedulerText.toLowerCase() as SchedulerKind;
    else problems.push(`${where('CUPM_SCHEDULER')} must be one of ${SCHEDULER_KINDS.join(', ')}, got "${schedulerText}".`);
  }
  return { at, scheduler };
}

/** "2:05" or "02:05" -> { hour: 2, minute: 5 }; undefined when it is not a time of day. */
export function parseTimeOfDay(text: string): TimeOfDay | undefined {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match) return undefined;
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  if (hour > 23 || minute > 59) return undefined;
  return { hour, minute };
}

/** { hour: 2, minute: 5 } -> "02:05" */
export function formatTimeOfDay(time: TimeOfDay): string {
  return `${String(time.hour).padStart(2, '0')}:${String(time.minute).padStart(2, '0')}`;
}
