import path from 'node:path';

/**
 * Paths on the CUPM server are Windows paths whatever host runs the tool (a review on Linux of the
 * clean-up plan, the tests): they are handled with path.win32, compared case-insensitively.
 */
const win = path.win32;

/** `C:\CUPM`, `c:/cupm`, `\\server\share\dir`: absolute in Windows terms. */
export function isWindowsAbsolute(p: string): boolean {
  return /^[A-Za-z]:[\\/]/.test(p) || isUncPath(p);
}

/**
 * A path only Windows has: a drive letter, or a UNC path with backslashes. (`//x/y` is a POSIX
 * path too, so it does not count here.)
 */
export function looksLikeWindowsPath(p: string): boolean {
  return /^[A-Za-z]:[\\/]/.test(p) || /^\\\\[^\\]+\\[^\\]+/.test(p);
}

/** `\\server\share\...` (also `//server/share`). */
export function isUncPath(p: string): boolean {
  return /^[\\/]{2}[^\\/?.][^\\/]*[\\/][^\\/]+/.test(p);
}

/** The volume a Windows path lives on: `C:` or `\\server\share`, lower-cased; undefined for relative paths. */
export function volumeOf(p: string): string | undefined {
  const drive = /^([A-Za-z]:)/.exec(p);
  if (drive) return drive[1]!.toLowerCase();
  const unc = /^[\\/]{2}([^\\/]+)[\\/]([^\\/]+)/.exec(p);
  if (unc) return `\\\\${unc[1]!.toLowerCase()}\\${unc[2]!.toLowerCase()}`;
  return undefined;
}

/** Normalized for comparison: backslashes, no trailing separator, lower case (NTFS compares names so). */
export function comparable(p: string): string {
  const normalized = win.normalize(p).replace(/[\\/]+$/, '');
  return (normalized === '' ? p : normalized).toLowerCase();
}

/** True when `inner` is `outer` or lies inside it (Windows rules: case-insensitive, either slash). */
export function isWithin(inner: string, outer: string): boolean {
  const a = comparable(inner);
  const b = comparable(outer);
  return a === b || a.startsWith(b.endsWith('\\') ? b : `${b}\\`);
}

/** Folders whose removal would wreck Windows, whatever a setting says. */
const NEVER_DELETE = ['windows', 'program files', 'program files (x86)', 'users', 'documents and settings', 'programdata'];

/**
 * Why deleting this folder must be refused: a drive or share root, a relative path, or a folder
 * Windows itself lives in. undefined when it is an ordinary folder.
 */
export function tooBroadToDelete(p: string): string | undefined {
  if (!isWindowsAbsolute(p)) return `${p} is not an absolute Windows path`;
  const normalized = win.normalize(p).replace(/[\\/]+$/, '');
  const root = win.parse(win.normalize(p)).root.replace(/[\\/]+$/, '');
  if (normalized.toLowerCase() === root.toLowerCase() || comparable(p) === volumeOf(p)) return `${p} is the root of a drive or share`;
  const rest = normalized
    .slice(root.length)
    .replace(/^[\\/]+/, '')
    .toLowerCase();
  if (NEVER_DELETE.includes(rest)) return `${p} is a folder Windows itself needs`;
  if (/^windows[\\/]/.test(rest)) return `${p} is inside the Windows folder`;
  return undefined;
}

/**
 * An argument of a printed command line (messages, hints, the commands a report tells people to
 * type), for cmd.exe or a POSIX shell alike: double quotes when it is empty or has blanks or
 * operators. The one quoter: `commandLine` (command-runner.ts) quotes each word with it.
 */
export function quoteArg(arg: string): string {
  return arg === '' || /[\s"&|<>^()]/.test(arg) ? `"${arg.replace(/"/g, '""')}"` : arg;
}
