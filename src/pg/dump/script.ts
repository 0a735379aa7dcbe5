/** Facts about pg_dumpall scripts, shared by backup, verify, import and restore. */

/** pg_dumpall's first comment, within the first HEADER_LINES lines of a script. */
export const CLUSTER_HEADER = '-- PostgreSQL database cluster dump';
export const HEADER_LINES = 5;

/** The last comment pg_dumpall writes; a dump without it was cut short. */
export const DUMP_TRAILER = '-- PostgreSQL database cluster dump complete';

/** How many bytes of a dump's end are enough to find the trailer. */
export const TRAILER_WINDOW = 4096;

/**
 * True when the end of a dump holds the trailer. Only blank lines, bare `--` comment lines and
 * `\unrestrict KEY` lines (PostgreSQL 15.14+/16.10+/17.6+) may follow it.
 */
export function endsWithTrailer(tail: string): boolean {
  const lines = tail.split(/\r?\n/);
  while (lines.length > 0) {
    const last = (lines[lines.length - 1] ?? '').trim();
    if (last === '' || last === '--' || /^\\unrestrict\b/.test(last)) lines.pop();
    else return last === DUMP_TRAILER;
  }
  return false;
}
