import readline from 'node:readline/promises';
import { ConfigError } from '../errors.js';
import { printErr } from './output.js';

/** Asks before a destructive command: a prompt on a terminal, --yes otherwise (no terminal: exit 2). */
export type Confirm = (question: string, details: string[]) => Promise<boolean>;

export function confirmer(yes: boolean | undefined, command: string): Confirm {
  if (yes) return async () => true;
  return async (question, details) => {
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw new ConfigError(
        `${command} replaces this server's database and files, and needs a confirmation: there is no terminal to ask on.`,
        {
          state: 'nothing was changed',
          hint: `pass --yes to confirm (run with --dry-run first to see what it will do)`,
        },
      );
    }
    printErr(`\n${details.join('\n')}\n\n`);
    const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await prompt.question(`${question} Type "yes" to go on: `);
      return answer.trim().toLowerCase() === 'yes';
    } finally {
      prompt.close();
    }
  };
}
