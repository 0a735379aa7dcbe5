/**
 * When a pg_dumpall script was made, from what it says of itself: `-- Started on` (pg_dumpall
 * -v; 8.2 writes it too) or `-- Completed on`, which pg_dump prints with strftime's
 * `%Y-%m-%d %H:%M:%S %Z`. The zone is an abbreviation ("JST", "UTC") or on Windows a long name
 * ("Tokyo Standard Time"); only unambiguous ones are trusted.
 */

const STAMP = /^-- (Started|Completed|Dumped[^\n]*?) on (\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?: ([^\r\n]+?))?\s*$/m;

/** Offsets in minutes of zone names a dump may carry and that mean one thing. */
const ZONES: Record<string, number> = {
  UTC: 0,
  GMT: 0,
  Z: 0,
  JST: 540,
  'Tokyo Standard Time': 540,
  KST: 540,
  CET: 60,
  CEST: 120,
  'W. Europe Standard Time': 60,
  'W. Europe Daylight Time': 120,
  EST: -300,
  EDT: -240,
  'Eastern Standard Time': -300,
  'Eastern Daylight Time': -240,
  CST: -360,
  CDT: -300,
  'Central Standard Time': -360,
  'Central Daylight Time': -300,
  PST: -480,
  PDT: -420,
  'Pacific Standard Time': -480,
  'Pacific Daylight Time': -420,
};

export interface DumpDate {
  at: Date;
  /** Where the date came from, for the manifest and the user. */
  source: 'dump' | 'file-time';
}

/**
 * The time a dump was made: its own time stamp when it has one in a known zone; else the file's
 * modification time (a stamp in an unknown zone is used only to confirm the file time's day).
 */
export function dumpDate(head: string, tail: string, fileTime: Date): DumpDate {
  const match = STAMP.exec(head) ?? STAMP.exec(tail);
  if (match) {
    const [, , year, month, day, hour, minute, second, zone] = match;
    const local = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
    const offset = zone === undefined ? undefined : (ZONES[zone.trim()] ?? numericOffset(zone.trim()));
    if (offset !== undefined && !Number.isNaN(local)) return { at: new Date(local - offset * 60_000), source: 'dump' };
    // Unknown zone: the file time is exact if it is within a day of the stamp (a copy keeps it).
    if (!Number.isNaN(local) && Math.abs(fileTime.getTime() - local) > 26 * 3_600_000) return { at: new Date(local), source: 'dump' };
  }
  return { at: fileTime, source: 'file-time' };
}

/** "+09", "+0900", "-05:00" -> minutes. */
function numericOffset(zone: string): number | undefined {
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (!m) return undefined;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}
