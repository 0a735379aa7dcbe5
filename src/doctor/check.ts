import { CupmError, messageOf } from '../errors.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One line of the doctor's report: what was checked, what was found, what to do about it. */
export interface CheckResult {
  /** Stable id for scripts: `postgres.connect`, `port.dfc.jboss.port`, ... */
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  /** What to do, for warn and fail. */
  hint?: string;
  /** The facts behind a finding, for --json (e.g. the crash record of an interrupted job). */
  record?: object;
}

/** A group of checks; it may throw, which the doctor turns into one failed line. */
export interface CheckGroup<C> {
  id: string;
  title: string;
  run(ctx: C): Promise<CheckResult[]>;
}

export const pass = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'pass', detail });
export const warn = (id: string, title: string, detail: string, hint?: string): CheckResult => ({
  id,
  title,
  status: 'warn',
  detail,
  ...(hint ? { hint } : {}),
});
export const fail = (id: string, title: string, detail: string, hint?: string): CheckResult => ({
  id,
  title,
  status: 'fail',
  detail,
  ...(hint ? { hint } : {}),
});

/** A failed check from an error: its message (and state) as detail, its hint as what to do. */
export function failFrom(id: string, title: string, error: unknown, hint?: string): CheckResult {
  if (error instanceof CupmError) {
    const detail = [error.message, ...error.problems.map((p) => `- ${p}`)].join(' ');
    return fail(id, title, detail, error.hint ?? hint);
  }
  return fail(id, title, messageOf(error), hint);
}
