import type { CommandResult } from './command-runner.js';

/**
 * NERR_UserNotFound. `net.exe` prints its message in the display language ("The user name could
 * not be found." / 「ユーザー名が見つかりません。」) but always names the number in "NET HELPMSG 2221".
 */
export const NERR_USER_NOT_FOUND = 2221;

/** What a `net user` run said. */
export type NetUserAnswer = { kind: 'ok' } | { kind: 'not-found' } | { kind: 'error'; systemError: number | undefined; message: string };

/** Reads `net user NAME` / `net user NAME /delete` output and exit status. */
export function readNetUser(out: CommandResult): NetUserAnswer {
  const text = `${out.stdout}\n${out.stderr}`;
  if (out.exitCode === 0) return { kind: 'ok' };
  if (new RegExp(`NET\\s+HELPMSG\\s+${NERR_USER_NOT_FOUND}\\b`, 'i').test(text)) return { kind: 'not-found' };
  // "System error 5 has occurred." / 「システム エラー 5 が発生しました。」: the number is what counts.
  const systemError = /(?:System error|システム\s*エラー)\s+(\d+)/i.exec(text)?.[1];
  return {
    kind: 'error',
    systemError: systemError === undefined ? undefined : Number(systemError),
    message: text.replace(/\s+/g, ' ').trim() || `net.exe exited with ${out.exitCode}`,
  };
}

/** The "User profile" / "Home directory" lines of `net user NAME` (English output only; empty when unset). */
export function netUserField(out: CommandResult, field: 'User profile' | 'Home directory'): string | undefined {
  const match = new RegExp(`^${field}[ \\t]+(\\S.*?)[ \\t]*$`, 'mi').exec(out.stdout.replace(/\r/g, ''));
  return match?.[1] || undefined;
}
