import { JobFailedError } from '../errors.js';
import { commandLine, outputOf, type CommandRunner } from './command-runner.js';

/** One value of a registry key as `reg query` prints it. */
export interface RegValue {
  name: string;
  type: string;
  data: string;
}

/** One key of `reg query` output with its values; value names are looked up case-insensitively. */
export interface RegKey {
  path: string;
  values: RegValue[];
}

/** The value `name` of a key (case-insensitive, as the registry compares names), or undefined. */
export function regValue(key: RegKey, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return key.values.find((v) => v.name.toLowerCase() === wanted)?.data;
}

const HIVE = /^(HKEY_[A-Z_]+|HKLM|HKCU|HKCR|HKU|HKCC)(\\.*)?$/;
// Windows Vista and later separate name, type and data with four spaces; reg.exe 3.0 (Windows
// Server 2003, XP) with a tab. Names and data may hold single spaces of their own.
const VALUE = /^[ \t]+(.*?)(?:\t|[ \t]{2,})(REG_[A-Z0-9_]+)(?:(?:\t|[ \t]{2,})(.*))?$/;

/**
 * Parses `reg query KEY [/s]` output of every Windows version: the `! REG.EXE VERSION 3.0` banner of
 * Windows Server 2003, tab or four-space separators, `(Default)` / `<NO NAME>`, CRLF or LF, and
 * the `End of search` line of `/f` searches.
 */
export function parseRegQuery(text: string): RegKey[] {
  const keys: RegKey[] = [];
  let current: RegKey | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('! REG.EXE') || /^End of search:/i.test(line)) continue;
    if (HIVE.test(line)) {
      current = { path: line.trimEnd(), values: [] };
      keys.push(current);
      continue;
    }
    const value = VALUE.exec(line);
    if (value && current) {
      const name = value[1]!.trim();
      current.values.push({
        name: name === '(Default)' || name === '<NO NAME>' ? '' : name,
        type: value[2]!,
        data: (value[3] ?? '').replace(/\s+$/, ''),
      });
    }
  }
  return keys;
}

/** reg.exe's word for a key that is not there, whatever the display language is (exit 1). */
function isMissingKey(out: { exitCode: number; stdout: string; stderr: string }): boolean {
  // English text on every version; other languages still exit 1 with nothing on stdout.
  return out.exitCode === 1 && (/unable to find the specified registry key/i.test(outputOf(out)) || out.stdout.trim() === '');
}

/**
 * `reg query KEY /s`: the key and everything below it, or [] when the key does not exist (the
 * Wow6432Node keys are absent on 32-bit Windows Server 2003).
 */
export async function queryRegistryTree(runner: CommandRunner, regExe: string, key: string): Promise<RegKey[]> {
  const args = ['query', key, '/s'];
  const out = await runner.run(regExe, args);
  if (out.exitCode === 0) return parseRegQuery(out.stdout);
  if (isMissingKey(out)) return [];
  throw new JobFailedError(`${commandLine(regExe, args)} failed (exit ${out.exitCode}): ${outputOf(out) || 'no output'}.`, {
    hint: 'run the command by hand from an elevated prompt to see why',
  });
}

/** Expands %NAME% references the way Windows does for REG_EXPAND_SZ data (names case-insensitive). */
export function expandWindowsEnv(text: string, env: Record<string, string | undefined>): string {
  const lower = new Map(Object.entries(env).map(([k, v]) => [k.toLowerCase(), v]));
  return text.replace(/%([^%]+)%/g, (whole, name: string) => lower.get(name.toLowerCase()) ?? whole);
}
