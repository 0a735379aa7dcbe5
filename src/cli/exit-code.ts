import type { CupmError, ExitCode } from '../errors.js';

/**
 * Thrown by a command that has already told the user everything (its one JSON object, or its
 * report) and only needs the process to end with `code`. main.ts prints nothing more for it.
 */
export class ExitWith extends Error {
  /** `value`: what the command found (a fleet run shows it for this server: status --all). */
  constructor(
    readonly code: ExitCode,
    readonly value?: unknown,
  ) {
    super(`exit ${code}`);
  }
}

/**
 * A failure whose --json object also carries the command's own report (verify's problems, prune's
 * places, the clean-up's steps). main.ts reports it like any other CupmError (the words on stderr,
 * with --json one object with `ok: false`, `exitCode` and `error`), the report's fields merged in.
 */
export class FailedWithReport extends Error {
  constructor(
    readonly error: CupmError,
    readonly report: object,
  ) {
    super(error.message, { cause: error });
  }
}
