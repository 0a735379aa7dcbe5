import type { ExitCode } from '../errors.js';

/**
 * Thrown by a command that has already told the user everything (its one JSON object, or its
 * report) and only needs the process to end with `code`. main.ts prints nothing more for it.
 */
export class ExitWith extends Error {
  /** `value`: what the command found (a fleet run shows it for this server: status --all). */
  constructor(readonly code: ExitCode, readonly value?: unknown) {
    super(`exit ${code}`);
  }
}
