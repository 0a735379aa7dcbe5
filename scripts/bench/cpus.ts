import fsp from 'node:fs/promises';
import { execa } from 'execa';

/**
 * --cpus: how the gap to the bare tools changes with the number of cores, measured on one machine.
 * The bench pins itself (every thread) to the first `count` CPUs it may use; whatever it starts
 * afterwards (initdb, pg_ctl and so the PostgreSQL server, cupm-backup, pg_dumpall, psql) inherits
 * that affinity. Linux only (taskset, /proc).
 */
export async function pinToCpus(count: number): Promise<string> {
  // parseBenchOptions refused a count above os.availableParallelism(), the length of this list.
  const list = expandCpuList(await cpusAllowed(process.pid)).slice(0, count).join(',');
  await execa('taskset', ['--all-tasks', '--pid', '--cpu-list', list, String(process.pid)]);
  return list;
}

/** Cpus_allowed_list of a process ("0-1", "0,2-3"). */
export async function cpusAllowed(pid: number): Promise<string> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no Cpus_allowed_list`);
  return match[1]!;
}

/** "0-2,5" -> [0, 1, 2, 5]. */
export function expandCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
}
