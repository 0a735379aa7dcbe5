import fs from 'node:fs';

/**
 * What Linux's /proc says about other processes: the one scan of it that the stand-in services,
 * the benchmark and its tests share. Synchronous: the reads are of the kernel's memory, and the
 * benchmark samples from a timer. Where there is no /proc there are no processes to find.
 */

/** A live process and its arguments (argv[0] first). */
export interface ProcessEntry {
  pid: number;
  args: string[];
}

/** The pids of the live processes other than this one (a listing of /proc; [] where there is none). */
export function otherPids(): number[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return names
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** The arguments of a live process; [] once it is gone, and for a zombie (whose command line is empty). */
export function commandLine(pid: number): string[] {
  return nulSeparated(pid, 'cmdline');
}

/** The environment a live process started with (`NAME=value` entries); [] once it is gone or is not ours to read. */
export function environment(pid: number): string[] {
  return nulSeparated(pid, 'environ');
}

/** A /proc/<pid> file of NUL-terminated strings, as a list; [] when it is empty or cannot be read. */
function nulSeparated(pid: number, file: 'cmdline' | 'environ'): string[] {
  let raw: string;
  try {
    raw = fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return [];
  }
  return raw === '' ? [] : raw.replace(/\0$/, '').split('\0');
}

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses),
 * so from field 3 (the state) on: [0] is the state, [1] the parent's pid, [11] utime, [12] stime.
 * Undefined once the process is gone.
 */
export function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * The processes (other than this one) whose command line names `dir`: an argument that is `dir`,
 * or with `under` also one that is a path below it, alone or as an option's value
 * (`-D /tmp/x/data`, `--pwfile=/tmp/x/pw`).
 */
export function processesNaming(dir: string, options: { under?: boolean } = {}): ProcessEntry[] {
  const below = dir.endsWith('/') ? dir : `${dir}/`;
  const names = (arg: string) => arg === dir || (options.under === true && arg.startsWith(below));
  const found: ProcessEntry[] = [];
  for (const pid of otherPids()) {
    const args = commandLine(pid);
    if (args.some((arg) => names(arg) || names(arg.slice(arg.indexOf('=') + 1)))) found.push({ pid, args });
  }
  return found;
}

/** The pids of the live processes whose parent is `parent`. */
export function childrenOf(parent: number): number[] {
  return otherPids().filter((pid) => Number(statFields(pid)?.[1]) === parent);
}
