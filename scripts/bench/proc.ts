import fs from 'node:fs';
import { execa } from 'execa';
import { childrenOf, statFields } from '../../src/sandbox/proc.js';

/** What Linux says about processes and CPUs (/proc, taskset): the benchmark's measurements and --cpus. */

/** /proc/stat and /proc/<pid>/stat count in clock ticks of 1/100 s (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

/**
 * Busy CPU time of the whole machine since boot, in ms: user, nice, system, irq and softirq. Not
 * idle or iowait, and not steal either: on a VM that is time the host gave to someone else.
 */
export function machineBusyMs(): number {
  const fields = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return (user + nice + system + irq + softirq) * TICK_MS;
}

/** User + system CPU time of a live process in ms (0 once it is gone). */
export function processCpuMs(pid: number | undefined): number {
  const fields = pid ? statFields(pid) : undefined;
  // utime and stime, fields 14 and 15 of /proc/<pid>/stat.
  return fields ? (Number(fields[11]) + Number(fields[12])) * TICK_MS : 0;
}

/** VmHWM of a live process in bytes (0 once it is gone). */
export function vmHwm(pid: number | undefined): number {
  const kb = statusField(pid, 'VmHWM');
  return kb === undefined ? 0 : Number.parseInt(kb, 10) * 1024;
}

/** Where the time of the server process that did a load went, from the kernel's own accounting. */
export interface BackendTimes {
  /** From the first sample that saw it to the last (SAMPLE_MS apart), and at least its time on and waiting for a core. */
  aliveMs: number;
  /** On a core. */
  cpuMs: number;
  /** Runnable, waiting for a core (other processes had them). */
  runqueueMs: number;
  /** Neither: waiting for its client's input, for I/O or for a lock. */
  waitingMs: number;
}

const SAMPLE_MS = 100;
/** The postmaster's children that are not sessions (PostgreSQL 15 names them so in `ps`). */
const AUXILIARY = /: (?:checkpointer|background writer|walwriter|autovacuum|logical replication|archiver|stats|parallel worker|startup)/;

/**
 * Samples /proc/<pid>/schedstat of the sessions of a PostgreSQL server every SAMPLE_MS while a run
 * goes on; `stop` gives the times of the busiest one, the backend that loaded (undefined when no
 * session used a core). It separates what the tool feeding a load can change (the backend waiting
 * for input) from what it cannot (the backend waiting for a core on a busy machine), which wall
 * times alone mix. `dataDir` names the server: its postmaster.pid is read when the watch starts.
 */
export function watchBusiestBackend(dataDir: string): { stop(): BackendTimes | undefined } {
  const postmaster = Number(fs.readFileSync(`${dataDir}/postmaster.pid`, 'latin1').split('\n')[0]);
  const seen = new Map<number, { first: number; last: number; cpuNs: number; runqueueNs: number }>();
  const sample = () => {
    const now = Date.now();
    for (const pid of childrenOf(postmaster)) {
      try {
        if (AUXILIARY.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'))) continue;
        const [cpuNs = 0, runqueueNs = 0] = fs.readFileSync(`/proc/${pid}/schedstat`, 'latin1').trim().split(' ').map(Number);
        seen.set(pid, { first: seen.get(pid)?.first ?? now, last: now, cpuNs, runqueueNs });
      } catch {
        // gone between the listing and the read
      }
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const busiest = [...seen.values()].sort((a, b) => b.cpuNs - a.cpuNs)[0];
      if (!busiest || busiest.cpuNs === 0) return undefined;
      const cpuMs = busiest.cpuNs / 1e6;
      const runqueueMs = busiest.runqueueNs / 1e6;
      // The samples miss up to SAMPLE_MS at either end; the kernel's own counts are exact.
      const aliveMs = Math.max(busiest.last - busiest.first, cpuMs + runqueueMs);
      return { aliveMs, cpuMs, runqueueMs, waitingMs: Math.max(0, aliveMs - cpuMs - runqueueMs) };
    },
  };
}

/**
 * Writes the page cache back to disk (sync(1)). The clusters run with fsync off, and with 24 GB
 * of memory the kernel starts writing back only at gigabytes of dirty pages: a run that starts
 * with the 1.2-1.8 GB its predecessor left dirty pays for their writeback (measured: the live
 * restore's backend blocked 1.2-1.4 s more). Every measured run starts with none.
 */
export async function syncPageCache(): Promise<void> {
  await execa('sync');
}

/** Cpus_allowed_list of a live process ("0-1", "0,2-3"). */
export function cpusAllowed(pid: number): string {
  const list = statusField(pid, 'Cpus_allowed_list');
  if (list === undefined) throw new Error(`/proc/${pid}/status has no Cpus_allowed_list (is the process gone?)`);
  return list;
}

/** One field of /proc/<pid>/status ("VmHWM" -> "12345 kB"); undefined once the process is gone. */
function statusField(pid: number | undefined, name: string): string | undefined {
  if (!pid) return undefined;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    return new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(status)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/**
 * --cpus: how the gap to the bare tools changes with the number of cores, measured on one machine.
 * The bench pins itself (every thread) to the first `count` CPUs it may use; whatever it starts
 * afterwards (initdb, pg_ctl and so the PostgreSQL server, cupm-backup, pg_dumpall, psql) inherits
 * that affinity. Linux only (taskset, /proc).
 */
export async function pinToCpus(count: number): Promise<string> {
  // parseBenchOptions refused a count above os.availableParallelism(), the length of this list.
  const list = expandCpuList(cpusAllowed(process.pid)).slice(0, count).join(',');
  await execa('taskset', ['--all-tasks', '--pid', '--cpu-list', list, String(process.pid)]);
  return list;
}

/** "0-2,5" -> [0, 1, 2, 5]. */
export function expandCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
}
