/**
 * Typed errors. Every error the tool raises on purpose is a CupmError carrying the exit code of
 * docs/design.md, so that src/cli/ (the only place that exits) can map it without guessing.
 */

/** Exit codes (docs/design.md, contract). */
export const EXIT = {
  done: 0,
  /** Failed, and everything it changed was put back. */
  failed: 1,
  /** Usage or configuration error. */
  usage: 2,
  /** Archive invalid: corrupt, truncated, unsupported, tampered. */
  archiveInvalid: 3,
  /** Refused by a safety check: lock held, live connections, version or port conflict, disk. */
  refused: 4,
  /** Failed and could NOT put everything back. */
  dirty: 5,
  /**
   * Partly done: the main work succeeded but a secondary part did not (`nightly`: the backup is
   * verified and kept, an off-site copy or retention failed; `prune`: a destination failed).
   */
  partial: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface CupmErrorOptions {
  /** Individual problems, shown as a bulleted list under the message. */
  problems?: string[];
  /** The state things are in now ("nothing was changed", "services are running again"). */
  state?: string;
  /** What the reader should do next. */
  hint?: string;
  cause?: unknown;
}

/** Base class: a message for humans plus the exit code it maps to. */
export class CupmError extends Error {
  readonly exitCode: ExitCode;
  readonly problems: string[];
  readonly state: string | undefined;
  readonly hint: string | undefined;

  constructor(exitCode: ExitCode, message: string, options: CupmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.problems = options.problems ?? [];
    this.state = options.state;
    this.hint = options.hint;
  }

  /**
   * This error told again with another state: a new error of the same class (exit code, type,
   * message, problems, hint, cause, stack and its own fields kept), the one thrown left as it was
   * made. For code that rethrows an error it did not create and knows more of the state now.
   */
  withState(state: string): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.defineProperties(copy, { ...Object.getOwnPropertyDescriptors(this), state: { value: state, writable: true, enumerable: true } });
    return copy;
  }

  /** The whole text a person reads: message, problems, state, what to do next. */
  describe(): string {
    const lines = [this.message];
    for (const problem of this.problems) lines.push(`  - ${problem}`);
    if (this.state) lines.push(`State: ${this.state}`);
    if (this.hint) lines.push(`Next: ${this.hint}`);
    return lines.join('\n');
  }
}

/** Bad command line or configuration (exit 2). */
export class ConfigError extends CupmError {
  constructor(message: string, options?: CupmErrorOptions) {
    super(EXIT.usage, message, options);
  }
}

/** An operation failed; whatever it changed was put back (exit 1). */
export class JobFailedError extends CupmError {
  constructor(message: string, options?: CupmErrorOptions) {
    super(EXIT.failed, message, options);
  }
}

/** The archive cannot be trusted: corrupt, truncated, unsupported or tampered (exit 3). */
export class ArchiveInvalidError extends CupmError {
  constructor(message: string, options?: CupmErrorOptions) {
    super(EXIT.archiveInvalid, message, options);
  }
}

/** A safety check refused to go on (exit 4). */
export class RefusedError extends CupmError {
  constructor(message: string, options?: CupmErrorOptions) {
    super(EXIT.refused, message, options);
  }
}

/** Failed, and the undo failed too: the message says what state is left (exit 5). */
export class DirtyStateError extends CupmError {
  constructor(message: string, options?: CupmErrorOptions) {
    super(EXIT.dirty, message, options);
  }
}

/** The message of any thrown value, for wrapping foreign errors. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Partly done: the main work succeeded, a secondary part failed; the message says which (exit 6). */
export class PartialError extends CupmError {
  constructor(message: string, options?: CupmErrorOptions) {
    super(EXIT.partial, message, options);
  }
}
