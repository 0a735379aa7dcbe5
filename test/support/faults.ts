import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quote } from 'shell-quote';
import type { SandboxServer } from '../../src/sandbox/sandbox-server.js';
import { statFields } from '../../src/sandbox/proc.js';

const BIN = path.dirname(fileURLToPath(import.meta.url)) + '/bin';

/** Polls until `check` returns a value (no timing is asserted: this only waits for a state). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, seconds = 120): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** True while a process exists (and is not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return statFields(pid)?.[0] !== 'Z';
}

/**
 * A CUPM_PG_BIN holding the real pg_dumpall and pg_dump and a psql that pauses the next load once
 * it has passed `marker` (test/support/bin/pausing-psql.mjs).
 */
export async function pausingPgBin(realBin: string, dir: string) {
  const bin = path.join(dir, 'bin');
  const control = path.join(dir, 'control');
  await fs.mkdir(bin, { recursive: true });
  await fs.mkdir(control, { recursive: true });
  for (const tool of ['pg_dumpall', 'pg_dump']) await fs.symlink(path.join(realBin, tool), path.join(bin, tool));
  await fs.writeFile(
    path.join(bin, 'psql'),
    `#!/bin/sh\nexec ${quote([process.execPath, path.join(BIN, 'pausing-psql.mjs'), path.join(realBin, 'psql'), control])} "$@"\n`,
    { mode: 0o755 },
  );
  return {
    bin,
    /** The next load pauses once the dump text `marker` has gone through. */
    arm: (marker: string) => fs.writeFile(path.join(control, 'armed'), marker),
    /** Waits for the pause; returns the pid of the paused psql wrapper. */
    paused: () =>
      waitFor('psql to pause', async () => {
        const text = await fs.readFile(path.join(control, 'paused'), 'utf8').catch(() => undefined);
        return text ? Number(text) : undefined;
      }),
    release: () => fs.writeFile(path.join(control, 'release'), ''),
    reset: async () => {
      for (const name of ['armed', 'paused', 'release']) await fs.rm(path.join(control, name), { force: true });
    },
  };
}

/**
 * Settings that make the sandbox's PostgreSQL a service of the `command` manager, named
 * `pgsql-8.2` as on CUPM, next to the stand-ins (test/support/bin/services-with-postgres.mjs).
 */
export async function postgresAsService(server: SandboxServer, service = 'pgsql-8.2') {
  const config = path.join(server.services.dir, 'postgres-service.json');
  await fs.writeFile(
    config,
    JSON.stringify({
      service,
      binDir: server.cluster.binDir,
      dataDir: server.cluster.dataDir,
      logFile: path.join(server.cluster.dir, 'server.log'),
    }),
  );
  const template = (verb: string) =>
    `${quote([process.execPath, path.join(BIN, 'services-with-postgres.mjs'), verb])} {service} ${quote([server.services.dir, config])}`;
  const world = server.services.dir;
  return {
    env: {
      CUPM_PG_SERVICE: service,
      CUPM_SERVICE_COMMAND_STOP: template('stop'),
      CUPM_SERVICE_COMMAND_START: template('start'),
      CUPM_SERVICE_COMMAND_STATUS: template('status'),
    },
    /** The next stop of PostgreSQL hangs until the restore that asked for it dies. */
    pauseNextStop: () => fs.writeFile(path.join(world, `${service}.pause-stop`), ''),
    paused: () =>
      waitFor('the PostgreSQL stop to pause', async () => {
        const text = await fs.readFile(path.join(world, `${service}.paused`), 'utf8').catch(() => undefined);
        return text ? Number(text) : undefined;
      }),
    reset: () => fs.rm(path.join(world, `${service}.paused`), { force: true }),
  };
}
