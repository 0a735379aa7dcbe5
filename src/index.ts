/**
 * cupm-backup as a library, for scripts (a nightly job in Node, a deployment tool): the same jobs
 * the command line runs, with the same checks, undo and exit codes, minus the printing.
 *
 *   import { loadConfig, backup, verify, CupmError } from 'cupm-backup';
 *   const config = loadConfig();                 // the environment, ./cupm-backup.env, or { envFile }
 *   const result = await backup(config, { label: 'nightly' });
 *   const report = await verify(result.archive); // report.ok, report.problems
 *
 * Every job throws a CupmError on failure: `exitCode` (the CLI's), `problems`, `state` (what is left
 * as it was, what is not) and `hint` (what to do next). Jobs take an optional Reporter for progress.
 * Everything else in dist/ is internal and may change in any release.
 */
export { loadConfig, type Config, type LoadConfigOptions } from './config/config.js';
export { backup, type BackupOptions, type BackupResult } from './backup/backup.js';
export { verifyArchive as verify, type VerifyOptions, type VerifyReport } from './archive/verify.js';
export { restore, type RestoreOptions, type RestoreResult } from './restore/restore.js';
export { migrate, type MigrateOptions } from './migrate/migrate.js';
export type { ArchiveKeys } from './archive/encryption.js';
export type { Manifest } from './archive/format.js';
export { silentReporter, type Reporter } from './jobs/reporter.js';
export {
  EXIT,
  CupmError,
  ConfigError,
  JobFailedError,
  ArchiveInvalidError,
  RefusedError,
  DirtyStateError,
  PartialError,
  type ExitCode,
  type CupmErrorOptions,
} from './errors.js';
export { TOOL_VERSION } from './version.js';
