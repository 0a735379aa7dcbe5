import { jobIsRunning, jobRecordPath, readJobRecord } from '../jobs/job-record.js';
import { journalPath, readJournal } from '../restore/journal.js';
import { describeJournal } from '../restore/outcome.js';

/** A job that stops services and was killed: what its crash record says (`status --json`, `doctor --json`). */
export interface InterruptedJob {
  job: string;
  pid: number;
  host: string;
  startedAt: string;
  /** Services it stopped and did not start again. */
  servicesStopped: string[];
  servicesStoppedAt: string | null;
  step: string;
  record: string;
}

/** A restore (or migrate) that was killed: its journal is there, its process gone. */
export interface InterruptedRestore {
  job: 'restore' | 'migrate';
  pid: number;
  host: string;
  startedAt: string;
  archive: string;
  /** The title of the last step it reached, or null before its first. */
  step: string | null;
  servicesStopped: string[];
  journal: string;
  /** What state it left and what the next run does with it (as restore --dry-run says it). */
  outcome: string[];
}

export interface InterruptedJobs {
  job: InterruptedJob | null;
  restore: InterruptedRestore | null;
  /** One line per finding, for status and doctor: what is down or half done, since when, what to run. */
  problems: string[];
}

/**
 * What killed jobs left in the backup folder: a crash record whose process is gone, a restore
 * journal whose process is gone. Reads two small files; changes nothing.
 */
export async function interruptedJobs(dir: string): Promise<InterruptedJobs> {
  const found: InterruptedJobs = { job: null, restore: null, problems: [] };
  const record = await readJobRecord(dir);
  if (record && !jobIsRunning(record)) {
    found.job = {
      job: record.job,
      pid: record.pid,
      host: record.host,
      startedAt: record.startedAt,
      servicesStopped: record.servicesStopped,
      servicesStoppedAt: record.servicesStoppedAt,
      step: record.step,
      record: jobRecordPath(dir),
    };
    if (record.servicesStopped.length > 0) {
      found.problems.push(
        `${record.servicesStopped.join(', ')} ${record.servicesStopped.length === 1 ? 'is' : 'are'} down since ${record.servicesStoppedAt ?? record.updatedAt}: ` +
          `a ${record.job} (pid ${record.pid}, started ${record.startedAt}) ended at step "${record.step}" without starting ${record.servicesStopped.length === 1 ? 'it' : 'them'}; ` +
          `the next backup or nightly starts ${record.servicesStopped.length === 1 ? 'it' : 'them'} (or start ${record.servicesStopped.length === 1 ? 'it' : 'them'} by hand)`,
      );
    }
  }
  // An unreadable journal is a restore interrupted too: say so rather than fail the report.
  const journal = await readJournal(dir).catch(() => null);
  if (journal === null) {
    found.problems.push(
      `a restore journal ${journalPath(dir)} exists but cannot be read: a restore was interrupted; see it before anything else`,
    );
  } else if (journal && !jobIsRunning(journal)) {
    const reached = [...journal.steps].reverse().find((s) => s.status !== 'not-run');
    found.restore = {
      job: journal.command,
      pid: journal.pid,
      host: journal.host,
      startedAt: journal.startedAt,
      archive: journal.archive,
      step: reached?.title ?? null,
      // A live restore killed before its outage never stopped a service.
      servicesStopped: journal.live?.outage === false ? [] : journal.services.wereRunning,
      journal: journalPath(dir),
      // Its first two lines say what the line below says already.
      outcome: describeJournal(journal, journalPath(dir)).slice(2),
    };
    found.problems.push(
      `${journal.command} interrupted at step "${reached?.title ?? 'before its first step'}" (pid ${journal.pid} on ${journal.host}, started ${journal.startedAt}); ` +
        `run "cupm-backup ${journal.command} ${journal.archive}" again to finish or undo: ${found.restore.outcome.join('; ')}`,
    );
  }
  return found;
}
