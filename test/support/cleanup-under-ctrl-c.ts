// The tool's side of a Ctrl-C during the upgrade clean-up: what `cupm-backup upgrade cleanup --yes`
// does once past its platform check (which refuses a real run off Windows), with the CLI's own
// Ctrl-C handling (interruptSignal) and its error for an unfinished clean-up (cleanupFailure), on
// the machine described in CUPM_TEST_CLEANUP (JSON, a CleanupSpec): the Windows tools to run and
// where C:\ is on this host. Prints one JSON line on stdout (a CleanupUnderCtrlC).
//   CUPM_TEST_CLEANUP='{...}' node --import tsx cleanup-under-ctrl-c.ts
import path from 'node:path';
import { interruptSignal } from '../../src/cli/common.js';
import { loadConfig } from '../../src/config/config.js';
import { CupmError } from '../../src/errors.js';
import { silentReporter, type Reporter } from '../../src/jobs/reporter.js';
import { WindowsServiceManager } from '../../src/services/windows.js';
import { WindowsSystemDriver } from '../../src/system/windows-system.js';
import { cleanupFailure, upgradeCleanup } from '../../src/upgrade/cleanup.js';
import type { CleanupReport } from '../../src/upgrade/cleanup-runner.js';

/** The machine the clean-up runs on. */
export interface CleanupSpec {
  /** The tools the clean-up's WindowsSystemDriver runs (one may be a gated stand-in). */
  scExe: string;
  regExe: string;
  netExe: string;
  /** The sc.exe (and reg.exe) the services are stopped with. */
  serviceScExe: string;
  /** The folder C:\ is on this host. */
  driveC: string;
  backupDir: string;
}

/** What the clean-up came to. */
export interface CleanupUnderCtrlC {
  steps: CleanupReport[];
  cancelled: boolean;
  ok: boolean;
  /** The error the CLI ends with (exit code and its text), when it does not finish. */
  error: { exitCode: number; text: string } | undefined;
  /** The reporter's lines (info and warnings). */
  lines: string[];
}

const spec = JSON.parse(process.env.CUPM_TEST_CLEANUP ?? '') as CleanupSpec;
const windowsEnv = { SystemDrive: 'C:', SystemRoot: 'C:\\windows', ProgramFiles: 'C:\\Program Files' };
const signal = interruptSignal({ doing: 'letting the step under way finish' });
const lines: string[] = [];
const reporter: Reporter = { ...silentReporter, info: (line: string) => lines.push(line), warn: (line: string) => lines.push(line) };
const config = loadConfig({
  env: { CUPM_INSTALL_DIR: 'C:\\CUPM', CUPM_BACKUP_DIR: spec.backupDir, CUPM_SERVICE_MANAGER: 'none' },
  cwd: spec.backupDir,
  platform: 'linux',
});
const result = await upgradeCleanup(
  config,
  {
    noBackupCheck: true,
    system: new WindowsSystemDriver({
      scExe: spec.scExe,
      regExe: spec.regExe,
      netExe: spec.netExe,
      env: windowsEnv,
      localPath: (windowsPath) =>
        path.join(
          spec.driveC,
          ...windowsPath
            .replace(/^C:\\?/i, '')
            .split('\\')
            .filter(Boolean),
        ),
    }),
    serviceManager: new WindowsServiceManager({ timeoutSeconds: 60, scExe: spec.serviceScExe, regExe: spec.regExe, pollMs: 100 }),
    env: windowsEnv,
    signal,
  },
  reporter,
);
const error: CupmError | undefined = result.ok ? undefined : cleanupFailure(result);
const outcome: CleanupUnderCtrlC = {
  steps: result.steps,
  cancelled: result.cancelled,
  ok: result.ok,
  error: error ? { exitCode: error.exitCode, text: error.describe() } : undefined,
  lines,
};
process.stdout.write(`${JSON.stringify(outcome)}\n`);
