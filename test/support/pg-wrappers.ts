import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Folders to point CUPM_PG_BIN at, whose pg_dumpall wraps the real one to misbehave in a
 * controlled way. Real processes: the tool sees a real exit status or signal.
 */
async function wrapperBin(parent: string, name: string, realBinDir: string, body: string): Promise<string> {
  const dir = path.join(parent, name);
  await fs.mkdir(dir, { recursive: true });
  const script = [
    '#!/bin/bash',
    `REAL=${JSON.stringify(path.join(realBinDir, 'pg_dumpall'))}`,
    'if [ "$1" = "--version" ]; then exec "$REAL" --version; fi',
    body,
  ].join('\n');
  await fs.writeFile(path.join(dir, 'pg_dumpall'), script + '\n', { mode: 0o755 });
  for (const tool of ['psql', 'pg_dump']) {
    await fs.symlink(path.join(realBinDir, tool), path.join(dir, tool)).catch(() => {});
  }
  return dir;
}

/** pg_dumpall that writes `bytes` of the real dump, then dies of SIGKILL. */
export function killedDumpallBin(parent: string, realBinDir: string, bytes: number): Promise<string> {
  return wrapperBin(parent, 'bin-killed', realBinDir, `"$REAL" "$@" | head -c ${bytes}\nkill -9 $$`);
}

/** pg_dumpall that writes the start of the dump, marks that it started, then hangs for `seconds`. */
export function slowDumpallBin(parent: string, realBinDir: string, seconds: number): Promise<string> {
  return wrapperBin(parent, 'bin-slow', realBinDir, `"$REAL" "$@" | head -c 1000\ntouch "$(dirname "$0")/started"\nsleep ${seconds}\n"$REAL" "$@" >/dev/null`);
}
