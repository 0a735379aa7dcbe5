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
  return wrapperBin(
    parent,
    'bin-slow',
    realBinDir,
    `"$REAL" "$@" | head -c 1000\ntouch "$(dirname "$0")/started"\nsleep ${seconds}\n"$REAL" "$@" >/dev/null`,
  );
}

/**
 * pg_dumpall whose dump starts with `megabytes` MB of random SQL comment lines: a dump larger
 * than the databases (a full disk while spooling) and slow to deflate (the archive is still being
 * written well after pg_dumpall exited). A write that fails fails it (exit 1).
 */
export function paddedDumpallBin(parent: string, realBinDir: string, megabytes: number): Promise<string> {
  return wrapperBin(
    parent,
    `bin-padded-${megabytes}`,
    realBinDir,
    `set -o pipefail\nhead -c ${megabytes * 750_000} /dev/urandom | base64 -w 72 | sed 's/^/-- /' || exit 1\nexec "$REAL" "$@"`,
  );
}
