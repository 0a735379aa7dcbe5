import fs from 'node:fs';
import os from 'node:os';

/**
 * Lowers this process's CPU priority until the returned function is called, which puts it back
 * as far as the system allows. While the services are down, pg_dumpall and its server should
 * get the CPU they want: on a 2-core server, an archive writer deflating at the same priority
 * takes about half of it and doubles the outage. Linux sets a priority per thread, so every
 * thread is lowered (threads started meanwhile inherit it from the main thread); Windows sets
 * it for the process. Best effort: a priority that cannot be changed stays as it is.
 */
export function lowerCpuPriority(): () => void {
  const own = threadIds();
  const before = new Map<number, number>();
  for (const tid of own) {
    try {
      before.set(tid, os.getPriority(tid));
      os.setPriority(tid, os.constants.priority.PRIORITY_LOW);
    } catch {
      // gone, or not ours to change: it keeps its priority
    }
  }
  return () => {
    const normal = before.get(own[0]!) ?? os.constants.priority.PRIORITY_NORMAL;
    for (const tid of threadIds()) {
      try {
        os.setPriority(tid, before.get(tid) ?? normal);
      } catch {
        // raising it again needs the right to (root has it): the rest of the archive runs low
      }
    }
  };
}

/** The process (pid 0 on Windows: the whole process), or on Linux every thread of it, main first. */
function threadIds(): number[] {
  if (process.platform !== 'linux') return [0];
  try {
    const tasks = fs
      .readdirSync('/proc/self/task')
      .map(Number)
      .filter((tid) => tid !== process.pid);
    return [process.pid, ...tasks];
  } catch {
    return [0];
  }
}
