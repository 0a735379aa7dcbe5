import type { Config } from '../config/config.js';
import { silentReporter, type Reporter } from '../jobs/reporter.js';
import type { RestoreOptions } from '../restore/prepare.js';
import { restore, type RestoreResult } from '../restore/restore.js';
import type { PortProbe } from '../restore/ports.js';

/** The only CUPM version the install guide moves to a new server (Windows 2003 -> 2008, docs/cupm.md). */
export const MIGRATABLE_VERSION = '8.5';

export interface MigrateOptions extends Omit<RestoreOptions, 'migration' | 'noFiles'> {
  /** The database host the CUPM on this server will use (required). */
  dbHost: string;
  /** Move ports held by other programs to free ones, rewriting dfc.properties. */
  autoPorts?: boolean;
  /** For tests: how ports are looked at. */
  portProbe?: PortProbe;
}

/**
 * Moves a CUPM server onto this one: a restore of the archive (database and files) with the checks
 * and defaults of a new server: only CUPM 8.5 moves, the ports of the restored configuration must
 * be free here (or --auto-ports moves them), the database host is rewritten, and the old NICE host
 * defaults to the address the old server had (when the manifest recorded exactly one).
 */
export async function migrate(
  config: Config,
  archive: string,
  options: MigrateOptions,
  reporter: Reporter = silentReporter,
): Promise<RestoreResult> {
  const { autoPorts, portProbe, ...rest } = options;
  return restore(
    config,
    archive,
    {
      ...rest,
      migration: {
        requiredVersion: MIGRATABLE_VERSION,
        autoPorts: autoPorts ?? false,
        niceHostFromManifest: true,
        portProbe,
      },
    },
    reporter,
  );
}
