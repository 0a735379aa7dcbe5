import fs from 'node:fs/promises';
import path from 'node:path';
import { JobFailedError, messageOf } from '../errors.js';
import { commandLine, execaRunner, outputOf, type CommandResult, type CommandRunner, type RunOptions } from './command-runner.js';
import { programsFromRegistry, uninstallCommand, UNINSTALL_KEYS, type InstalledProgram } from './installed-programs.js';
import { readNetUser } from './net-user.js';
import { expandWindowsEnv, queryRegistryTree } from './registry.js';
import type { UninstallResult, WindowsSystem } from './system.js';
import {
  parseGetKeyName,
  parseScError,
  regValue,
  scDeleteOutcome,
  scErrorCode,
  scFailureText,
  WIN32_ERROR,
  type DeleteOutcome,
} from './windows-output.js';
import { comparable, isWindowsAbsolute } from './windows-paths.js';

export const PROFILE_LIST_KEY = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';

/** Where profiles live when the registry does not say: Windows Server 2003, then 2008. */
const DEFAULT_PROFILE_ROOTS = ['%SystemDrive%\\Documents and Settings', '%SystemDrive%\\Users'];

export interface WindowsSystemOptions {
  runner?: CommandRunner;
  /** For %SystemDrive% and friends in registry values (process.env on the server). */
  env?: Record<string, string | undefined>;
  /**
   * Where a Windows path is on this host's file system: the path itself on Windows; tests relocate
   * `C:\...` into a temp dir so the real fs code runs on a real tree.
   */
  localPath?: (windowsPath: string) => string;
  regExe?: string;
  netExe?: string;
  scExe?: string;
  /** How long an uninstaller may run (default 30 minutes). */
  uninstallTimeoutMs?: number;
}

/** msiexec exit codes (Windows Installer error codes). */
const MSI = { success: 0, rebootInitiated: 1641, rebootRequired: 3010, unknownProduct: 1605, anotherInstall: 1618 } as const;

/**
 * How sc.exe and net.exe run here: shielded (RunOptions.shielded), as the service drivers run
 * theirs, so a terminal's Ctrl-C does not kill a `sc.exe delete` or `net user NAME /delete` half
 * way (the clean-up lets the step finish, then stops), and a run the Ctrl-C caught as it was
 * forked, before it ran, is run again. Each is safe to run twice: getkeyname and `net user NAME`
 * only read; a second `sc.exe delete` answers 1072 or 1060 (marked, absent), a second
 * `net user NAME /delete` NERR_UserNotFound (2221): both read as such (scDeleteOutcome,
 * readNetUser). What they print (one service, one user) is far below a shielded run's 64 KiB.
 */
const SHIELDED: RunOptions = { shielded: true };

/** The real machine: reg.exe, net.exe and sc.exe through a command runner, folders through fs. */
export class WindowsSystemDriver implements WindowsSystem {
  readonly kind = 'windows';
  private readonly runner: CommandRunner;
  private readonly env: Record<string, string | undefined>;
  private readonly localPath: (windowsPath: string) => string;
  private readonly regExe: string;
  private readonly netExe: string;
  private readonly scExe: string;
  private readonly uninstallTimeoutMs: number;

  constructor(options: WindowsSystemOptions = {}) {
    this.runner = options.runner ?? execaRunner;
    this.env = options.env ?? process.env;
    this.localPath = options.localPath ?? ((p) => p);
    this.regExe = options.regExe ?? 'reg.exe';
    this.netExe = options.netExe ?? 'net.exe';
    this.scExe = options.scExe ?? 'sc.exe';
    this.uninstallTimeoutMs = options.uninstallTimeoutMs ?? 30 * 60_000;
  }

  async installedPrograms(): Promise<InstalledProgram[]> {
    const programs: InstalledProgram[] = [];
    const seen = new Set<string>();
    for (const key of UNINSTALL_KEYS) {
      for (const program of programsFromRegistry(await queryRegistryTree(this.runner, this.regExe, key))) {
        if (seen.has(program.key.toLowerCase())) continue;
        seen.add(program.key.toLowerCase());
        programs.push(program);
      }
    }
    return programs;
  }

  async uninstall(program: InstalledProgram): Promise<UninstallResult> {
    const command = uninstallCommand(program);
    if (!command) {
      return {
        outcome: 'absent',
        detail: `"${program.displayName}" is listed without an uninstall command: nothing to run (a stale entry)`,
      };
    }
    const file = expandWindowsEnv(command.file, this.env);
    if (isWindowsAbsolute(file) && !(await this.exists(file))) {
      return { outcome: 'absent', detail: `"${program.displayName}" is still listed, but its uninstaller ${file} is gone (a stale entry)` };
    }
    const line = commandLine(file, command.args);
    // Not shielded (RunOptions.shielded), unlike sc.exe and net.exe: a shielded run ends when the
    // program exits, not its output, and an uninstaller may hand its work to a child and exit (NSIS
    // ones copy themselves to %TEMP% to delete their own folder): the clean-up would go on while it
    // still removes files. A half-run uninstaller is not known to be safe to run again, and a
    // terminal's Ctrl-C must still reach a hung or interactive one. One the Ctrl-C stopped fails
    // its step, and the clean-up stops after it (cleanup-runner.ts).
    const out = await this.runner.run(file, command.args, { timeoutMs: this.uninstallTimeoutMs });
    if (command.mode === 'msi') {
      switch (out.exitCode) {
        case MSI.success:
          return { outcome: 'done', detail: `${line}: removed` };
        case MSI.rebootRequired:
        case MSI.rebootInitiated:
          return { outcome: 'done', detail: `${line}: removed; Windows asks for a reboot to finish` };
        case MSI.unknownProduct:
          return { outcome: 'absent', detail: `${line}: Windows Installer no longer knows the product (error 1605)` };
        case MSI.anotherInstall:
          throw new JobFailedError(`${line} failed: another installation is in progress (Windows Installer error 1618).`, {
            hint: 'wait for the other installation to finish (or reboot), then run upgrade cleanup again',
          });
        default:
          throw new JobFailedError(
            `${line} failed with Windows Installer error ${out.exitCode}${outputOf(out) ? `: ${outputOf(out)}` : ''}.`,
            {
              hint: `look the code up (msiexec error ${out.exitCode}), or remove "${program.displayName}" in Add or Remove Programs by hand`,
            },
          );
      }
    }
    if (out.exitCode !== 0) {
      throw new JobFailedError(
        `The uninstaller of "${program.displayName}" failed (exit ${out.exitCode}): ${line}${outputOf(out) ? `: ${outputOf(out)}` : ''}.`,
        {
          hint: 'the install guide says: when the standard uninstall fails, remove the rest by hand; the next steps do exactly that',
        },
      );
    }
    return {
      outcome: 'done',
      detail: `${line}: finished${command.mode === 'plain' ? ' (it has no silent mode; it may have shown a window)' : ''}`,
    };
  }

  async userExists(name: string): Promise<boolean> {
    const out = await this.net(['user', name]);
    const answer = readNetUser(out);
    if (answer.kind === 'ok') return true;
    if (answer.kind === 'not-found') return false;
    throw this.netFailure(['user', name], answer.message, answer.systemError);
  }

  async deleteUser(name: string): Promise<Exclude<DeleteOutcome, 'marked-for-deletion'>> {
    const args = ['user', name, '/delete'];
    const answer = readNetUser(await this.net(args));
    if (answer.kind === 'ok') return 'deleted';
    if (answer.kind === 'not-found') return 'absent';
    throw this.netFailure(args, answer.message, answer.systemError);
  }

  async profileFolders(user: string): Promise<string[]> {
    const keys = await queryRegistryTree(this.runner, this.regExe, PROFILE_LIST_KEY);
    const wanted = user.toLowerCase();
    const found: string[] = [];
    const roots: string[] = [];
    for (const key of keys) {
      const root = regValue(key, 'ProfilesDirectory');
      if (root) roots.push(root);
      const image = regValue(key, 'ProfileImagePath');
      if (!image) continue;
      const base = path.win32.basename(image).toLowerCase();
      // Windows names a second profile of the same user "cupmuser.HOST" (or .000).
      if (base === wanted || base.startsWith(`${wanted}.`)) found.push(image);
    }
    for (const root of roots.length > 0 ? roots : DEFAULT_PROFILE_ROOTS) found.push(path.win32.join(root, user));
    const unique = new Map<string, string>();
    for (const folder of found.map((f) => expandWindowsEnv(f, this.env)))
      if (!unique.has(comparable(folder))) unique.set(comparable(folder), folder);
    return [...unique.values()];
  }

  async deleteService(name: string): Promise<DeleteOutcome> {
    const first = await this.scDelete(name);
    if (first !== 'absent') return first;
    // `sc delete` takes key names only; the clean-up list names some services by display name.
    const out = await this.runner.run(this.scExe, ['getkeyname', name], SHIELDED);
    const keyName = out.exitCode === 0 ? parseGetKeyName(out.stdout) : undefined;
    if (keyName === undefined || keyName.toLowerCase() === name.toLowerCase()) return 'absent';
    return this.scDelete(keyName);
  }

  async exists(windowsPath: string): Promise<boolean> {
    try {
      await fs.stat(this.localPath(windowsPath));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      throw error;
    }
  }

  async removeFolder(windowsPath: string): Promise<Exclude<DeleteOutcome, 'marked-for-deletion'>> {
    if (!(await this.exists(windowsPath))) return 'absent';
    const local = this.localPath(windowsPath);
    try {
      // Retries: on Windows a file just closed by a stopped service is busy for a moment.
      await fs.rm(local, { recursive: true, force: false, maxRetries: 3, retryDelay: 500 });
      return 'deleted';
    } catch (error) {
      const left = await countEntries(local);
      throw new JobFailedError(`Could not delete ${windowsPath} completely: ${messageOf(error)}.`, {
        state: left === undefined ? undefined : `${left} file(s) and folder(s) are left in ${windowsPath}`,
        hint: 'a program still uses files there (the install guide: a running CUPM service may hold them until a reboot): reboot, then run upgrade cleanup again',
        cause: error,
      });
    }
  }

  private async scDelete(name: string): Promise<DeleteOutcome> {
    const args = ['delete', name];
    const out = await this.runner.run(this.scExe, args, SHIELDED);
    const code = scErrorCode({ exitCode: out.exitCode, text: out.stdout + out.stderr });
    const outcome = scDeleteOutcome(code);
    if (outcome !== undefined) return outcome;
    const failure = parseScError(out.stdout + out.stderr);
    throw new JobFailedError(
      `${commandLine(this.scExe, args)} failed: ${failure ? scFailureText(failure) : outputOf(out) || `exit ${out.exitCode}`}.`,
      {
        hint:
          code === WIN32_ERROR.accessDenied
            ? 'run cupm-backup from an elevated prompt (Run as administrator)'
            : `see the Windows event log (System), then try ${commandLine('sc.exe', args)} by hand`,
      },
    );
  }

  private net(args: string[]): Promise<CommandResult> {
    return this.runner.run(this.netExe, args, SHIELDED);
  }

  private netFailure(args: string[], message: string, systemError: number | undefined): JobFailedError {
    return new JobFailedError(`${commandLine(this.netExe, args)} failed: ${message}`, {
      hint:
        systemError === 5
          ? 'run cupm-backup from an elevated prompt (Run as administrator)'
          : `run ${commandLine('net', args)} by hand to see why`,
    });
  }
}

/** How many entries are left under a folder that could not be deleted (undefined when it cannot tell). */
async function countEntries(dir: string): Promise<number | undefined> {
  try {
    const entries = await fs.readdir(dir, { recursive: true });
    return entries.length;
  } catch {
    return undefined;
  }
}
