import type { SchedulePlan, ScheduleRequest, SchedulerName } from './plan.js';

/** What `schedule status` found. */
export interface ScheduleStatus {
  scheduler: SchedulerName;
  name: string;
  installed: boolean;
  /** The time of day it runs, HH:MM, as the scheduler has it (when it could be read). */
  at: string | null;
  /** What it runs, as the scheduler has it. */
  runs: string | null;
  /** The scheduler's own word for the state: Ready, Running, Disabled; active/waiting ... */
  state: string | null;
  nextRun: string | null;
  lastRun: string | null;
  /** The last run's result, in words ("succeeded", "exit code 1: failed ..."). */
  lastResult: string | null;
  /** What is wrong with what is installed (out of date, pointing elsewhere, cron not running ...). */
  problems: string[];
  /** Where to look for the output of scheduled runs. */
  output: string | null;
}

/** One scheduler: plans (read-only; --print shows them) and status. Applying is generic (plan.ts). */
export interface ScheduleBackend {
  readonly name: SchedulerName;
  planInstall(request: ScheduleRequest): Promise<SchedulePlan>;
  planRemove(request: ScheduleRequest): Promise<SchedulePlan>;
  status(request: ScheduleRequest): Promise<ScheduleStatus>;
}

/** A status with nothing known yet. */
export function emptyStatus(scheduler: SchedulerName, name: string): ScheduleStatus {
  return {
    scheduler,
    name,
    installed: false,
    at: null,
    runs: null,
    state: null,
    nextRun: null,
    lastRun: null,
    lastResult: null,
    problems: [],
    output: null,
  };
}
