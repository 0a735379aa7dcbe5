import fs from 'node:fs/promises';
import path from 'node:path';
import { quote } from 'shell-quote';
import { commandLine, environment, otherPids } from '../../src/sandbox/proc.js';

/**
 * Watches every process of the machine while a command runs: reads /proc/<pid>/cmdline of each
 * one, over and over, and keeps those that hold one of `secrets`. It also says what it saw, so a
 * test can tell it was looking while the processes of interest lived.
 */
export function watchProcesses(secrets: string[]) {
  const seen = new Map<number, string>();
  const leaks: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const pid of otherPids()) {
        const args = commandLine(pid);
        if (args.length === 0) continue;
        const cmdline = args.join(' ').trim();
        seen.set(pid, cmdline);
        for (const secret of secrets) if (cmdline.includes(secret)) leaks.push(`${pid}: ${cmdline}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { leaks, commandLines: [...seen.values()] };
    },
  };
}

/**
 * A CUPM_PG_BIN whose psql, pg_dumpall and pg_dump record what they were started with — their
 * own /proc/self/cmdline, and whether PGPASSWORD is in their environment (where it belongs) —
 * in `<dir>/calls.log`, then exec the real tool.
 */
export async function recordingPgBin(realBin: string, dir: string): Promise<{ bin: string; calls: () => Promise<string[]> }> {
  const bin = path.join(dir, 'recording-bin');
  const log = path.join(dir, 'calls.log');
  await fs.mkdir(bin, { recursive: true });
  for (const tool of ['psql', 'pg_dumpall', 'pg_dump']) {
    const script = [
      '#!/bin/bash',
      // $$ is this process; after exec it is the tool itself, with the very same argv.
      `{ printf 'argv:'; tr '\\0' ' ' < /proc/$$/cmdline; printf '\\n'; } >> ${quote([log])}`,
      `if tr '\\0' '\\n' < /proc/$$/environ | grep -q '^PGPASSWORD='; then echo 'environ:PGPASSWORD set' >> ${quote([log])}; fi`,
      `exec ${quote([path.join(realBin, tool)])} "$@"`,
    ].join('\n');
    await fs.writeFile(path.join(bin, tool), script + '\n', { mode: 0o755 });
  }
  return { bin, calls: async () => (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean) };
}

/**
 * The pids of pg_dumpall runs against the cluster on `port` (their environment says PGPORT), and of
 * wrapper scripts under `wrapperDir` that will start one: what a killed backup leaves running.
 */
export async function dumpsOf(port: string, wrapperDir?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of otherPids()) {
    const argv = commandLine(pid);
    if (wrapperDir && argv.some((a) => a.startsWith(wrapperDir + path.sep))) {
      pids.push(pid);
      continue;
    }
    if (path.basename(argv[0] ?? '') !== 'pg_dumpall') continue;
    if (environment(pid).includes(`PGPORT=${port}`)) pids.push(pid);
  }
  return pids;
}
