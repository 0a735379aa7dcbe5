import { JobFailedError } from '../errors.js';
import { commandLine, outputOf, type CommandRunner } from './command-runner.js';
import { parseRegQuery, type RegKey } from './windows-output.js';

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
