import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../file-system.js';

/**
 * The crash record of a job that stops services (backup, nightly): which services this run
 * stopped, who runs it and how far it got. Written atomically before the first service stops,
 * kept up to date at each step, removed at the clean end. A record whose process is gone is a job
 * that was killed: the next job starts the services it names, `status` and `doctor` report it.
 * (A restore has its own, fuller record: the restore journal.)
 */
export const JOB_RECORD_FILE = 'cupm-backup.job.json';
const KIND = 'cupm-backup job record';

export interface JobRecord {
  kind: typeof KIND;
  version: 1;
  job: string;
  pid: number;
  host: string;
  startedAt: string;
  /** Services this run stopped and has not started again, in stop order. */
  servicesStopped: string[];
  /** When the first of them stopped, or null. */
  servicesStoppedAt: string | null;
  /** The step the run had reached (the progress word: stop, dump, start, archive, verify, offsite...). */
  step: string;
  updatedAt: string;
}

export function jobRecordPath(dir: string): string {
  return path.join(dir, JOB_RECORD_FILE);
}

/** The record in `dir`, or undefined when there is none or it cannot be read (a crash while it was first written). */
export async function readJobRecord(dir: string): Promise<JobRecord | undefined> {
  try {
    const record = JSON.parse(await fs.readFile(jobRecordPath(dir), 'utf8')) as JobRecord;
    return record.kind === KIND && Array.isArray(record.servicesStopped) ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Running: its process exists. A record of another host cannot be checked from here: it counts as running. */
export function jobIsRunning(record: { pid: number; host: string }): boolean {
  if (record.host !== os.hostname()) return true;
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** One line for people: what the interrupted job left down, and since when. */
export function describeJobRecord(record: JobRecord): string {
  const who = `${record.job} (pid ${record.pid} on ${record.host}, started ${record.startedAt})`;
  return record.servicesStopped.length > 0
    ? `a ${who} ended at step "${record.step}" with ${record.servicesStopped.join(', ')} stopped since ${record.servicesStoppedAt ?? record.updatedAt}`
    : `a ${who} ended at step "${record.step}" before it finished`;
}

/** Removes the record of a job that is over (whoever ran it). */
export async function removeJobRecord(dir: string): Promise<void> {
  await fs.rm(jobRecordPath(dir), { force: true });
}

/** Keeps the record of the running job. Nothing is written until a service is about to stop. */
export class JobRecorder {
  private record: JobRecord;
  private written = false;

  constructor(
    readonly dir: string,
    job: string,
  ) {
    const now = new Date().toISOString();
    this.record = {
      kind: KIND,
      version: 1,
      job,
      pid: process.pid,
      host: os.hostname(),
      startedAt: now,
      servicesStopped: [],
      servicesStoppedAt: null,
      step: 'start',
      updatedAt: now,
    };
  }

  /** Called before each service stops (withServicesStopped's onStopped): `stopped` names it already. */
  async servicesStopping(stopped: readonly string[]): Promise<void> {
    this.record.servicesStopped = [...stopped];
    this.record.servicesStoppedAt ??= new Date().toISOString();
    this.record.step = 'stop';
    await this.save();
  }

  /** The services are up again but `stillDown` (those that did not start). */
  async servicesBack(stillDown: readonly string[]): Promise<void> {
    if (!this.written) return;
    this.record.servicesStopped = [...stillDown];
    if (stillDown.length === 0) this.record.servicesStoppedAt = null;
    await this.save();
  }

  /** The step the job has reached; written only while the record exists. */
  async step(step: string): Promise<void> {
    this.record.step = step;
    if (this.written) await this.save();
  }

  get servicesDown(): readonly string[] {
    return this.record.servicesStopped;
  }

  /** The clean end: no service of ours is left down. A record naming services down stays for the next run. */
  async finish(): Promise<void> {
    if (!this.written || this.record.servicesStopped.length > 0) return;
    await removeJobRecord(this.dir);
    this.written = false;
  }

  private async save(): Promise<void> {
    this.record.updatedAt = new Date().toISOString();
    await writeFileAtomic(jobRecordPath(this.dir), JSON.stringify(this.record, null, 2) + '\n');
    this.written = true;
  }
}

/** The job guard of this async context, so deep code (the backup's service scope) finds its recorder. */
const current = new AsyncLocalStorage<JobRecorder>();

export function runWithRecorder<T>(recorder: JobRecorder, fn: () => Promise<T>): Promise<T> {
  return current.run(recorder, fn);
}

/** The recorder of the job this code runs in, if any. */
export function currentRecorder(): JobRecorder | undefined {
  return current.getStore();
}
