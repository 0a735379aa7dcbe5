import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { decodeScOutput } from '../../src/system/windows-output.js';
import { commandLine, type CommandResult, type CommandRunner } from '../../src/system/command-runner.js';
import { PROFILE_LIST_KEY } from '../../src/system/windows-system.js';
import { UNINSTALL_KEYS } from '../../src/system/installed-programs.js';
import type { FakeSc } from './fake-sc/fake-sc.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/system/', import.meta.url));

/** The CUPM uninstaller as CUPM's InstallAnywhere registers it. */
export const CUPM_UNINSTALLER = 'C:\\CUPM\\Uninstall_Cisco Unified Provisioning Manager\\Uninstall Cisco Unified Provisioning Manager.exe';
export const PG82_PRODUCT_CODE = '{B823632F-3B72-4514-8861-B961CE263224}';
export const PG90_PRODUCT_CODE = '{1F701DBD-1660-4108-B10A-FB435EA63BF0}';

/** What an uninstaller does when the recorded machine runs it. */
export interface UninstallerBehaviour {
  exitCode: number;
  /** Registry keys (last path part, e.g. the product code) it removes from Add or Remove Programs. */
  unregisters?: string[];
  /** Windows folders it deletes (a failing uninstaller may delete some and stop). */
  removes?: string[];
}

export interface RecordedWindowsOptions {
  os: '2003' | '2008';
  locale?: 'en' | 'ja';
  /** Local users that exist. */
  users?: string[];
  /** The services' Service Control Manager (the fake sc.exe the ServiceManager drives too). */
  sc: FakeSc;
  /** By what the uninstaller is run with: the product code for msiexec, else the program path. */
  uninstallers?: Record<string, UninstallerBehaviour>;
  /** `net user X /delete` answers "System error 5" (not elevated). */
  deleteUserDenied?: boolean;
}

/** A call the system driver made, as the command line a person would type. */
export interface RecordedCall {
  command: string;
  exitCode: number;
}

/**
 * A Windows server for the system port's tests: `reg`, `net`, `sc delete` and uninstallers answer
 * with recorded real output (test/fixtures/system/, CRLF and code pages kept), and what they do
 * changes what later commands answer, so a second clean-up run sees the first one's work. Its
 * folders are a real tree under a temp dir (`C:\CUPM` -> `<root>/C/CUPM`). Every command is kept,
 * in order, for the tests to check.
 */
export class RecordedWindows implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  readonly env: Record<string, string>;
  private readonly users: Set<string>;
  private readonly unregistered = new Set<string>();

  private constructor(
    readonly root: string,
    private readonly options: RecordedWindowsOptions,
  ) {
    this.users = new Set((options.users ?? []).map((u) => u.toLowerCase()));
    this.env =
      options.os === '2003'
        ? { SystemDrive: 'C:', SystemRoot: 'C:\\WINDOWS', ProgramFiles: 'C:\\Program Files' }
        : {
            SystemDrive: 'C:',
            SystemRoot: 'C:\\Windows',
            ProgramFiles: 'C:\\Program Files',
            'ProgramFiles(x86)': 'C:\\Program Files (x86)',
          };
  }

  static async create(options: RecordedWindowsOptions): Promise<RecordedWindows> {
    return new RecordedWindows(await mkdtemp(path.join(tmpdir(), 'cupm-recorded-windows-')), options);
  }

  /** Where a Windows path of this machine is on the test host. */
  localPath = (windowsPath: string): string => {
    const normalized = path.win32.normalize(windowsPath);
    const drive = /^([A-Za-z]):\\?(.*)$/.exec(normalized);
    if (drive) return path.join(this.root, drive[1]!.toUpperCase(), ...drive[2]!.split('\\').filter(Boolean));
    const unc = /^\\\\([^\\]+)\\(.*)$/.exec(normalized);
    if (unc) return path.join(this.root, 'UNC', unc[1]!, ...unc[2]!.split('\\').filter(Boolean));
    throw new Error(`not a Windows path: ${windowsPath}`);
  };

  /** Creates files (with a line of content) at these Windows paths. */
  async createFiles(windowsPaths: string[]): Promise<void> {
    for (const file of windowsPaths) {
      const local = this.localPath(file);
      await mkdir(path.dirname(local), { recursive: true });
      await writeFile(local, `${path.win32.basename(file)}\r\n`);
    }
  }

  /** The commands run so far, as typed. */
  commands(): string[] {
    return this.calls.map((c) => c.command);
  }

  hasUser(name: string): boolean {
    return this.users.has(name.toLowerCase());
  }

  async run(file: string, args: readonly string[]): Promise<CommandResult> {
    const result = await this.answer(file.toLowerCase(), [...args]);
    this.calls.push({ command: commandLine(file, args), exitCode: result.exitCode });
    return result;
  }

  async cleanup(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  private async answer(file: string, args: string[]): Promise<CommandResult> {
    if (file === 'reg.exe' && args[0] === 'query' && args[2] === '/s') return this.regQuery(args[1]!);
    if (file === 'net.exe' && args[0] === 'user') return this.netUser(args[1]!, args.slice(2));
    if (file === 'sc.exe' && args[0] === 'delete') return this.scDelete(args[1]!);
    if (file === 'sc.exe' && args[0] === 'getkeyname') {
      // The real fake Service Control Manager answers: the ServiceManager's view and ours agree.
      const out = await execa(this.options.sc.scExe, args, { reject: false, encoding: 'buffer' });
      return { exitCode: out.exitCode ?? 1, stdout: decodeScOutput(out.stdout), stderr: decodeScOutput(out.stderr) };
    }
    if (file === 'msiexec.exe') return this.uninstaller(args[1] ?? '');
    if (file.endsWith('.exe')) return this.uninstaller(file);
    throw new Error(`the recorded Windows has no answer for: ${commandLine(file, args)}`);
  }

  private async regQuery(key: string): Promise<CommandResult> {
    const os = this.options.os;
    const fixture =
      key === UNINSTALL_KEYS[0]
        ? `reg/uninstall-${os === '2003' ? '2003' : '2008-native'}.txt`
        : key === UNINSTALL_KEYS[1]
          ? os === '2003'
            ? undefined
            : 'reg/uninstall-2008-wow64.txt'
          : key === PROFILE_LIST_KEY
            ? `reg/profilelist-${os}.txt`
            : undefined;
    if (!fixture) return { exitCode: 1, stdout: '', stderr: await text(`reg/key-not-found${os === '2003' ? '-2003' : ''}.stderr.txt`) };
    return { exitCode: 0, stdout: withoutKeys(await text(fixture), this.unregistered), stderr: '' };
  }

  private async netUser(name: string, rest: string[]): Promise<CommandResult> {
    const ja = this.options.locale === 'ja' ? 'ja/' : '';
    const notFound = async () => ({ exitCode: 2, stdout: '', stderr: await text(`net/${ja}user-not-found.stderr.txt`) });
    if (rest.length === 0) {
      if (!this.hasUser(name)) return notFound();
      return { exitCode: 0, stdout: (await text('net/user-cupmuser.txt')).replaceAll('cupmuser', name), stderr: '' };
    }
    if (rest.length === 1 && rest[0] === '/delete') {
      if (this.options.deleteUserDenied) return { exitCode: 2, stdout: '', stderr: await text(`net/${ja}access-denied.stderr.txt`) };
      if (!this.hasUser(name)) return notFound();
      this.users.delete(name.toLowerCase());
      return { exitCode: 0, stdout: await text(`net/${ja}command-completed.txt`), stderr: '' };
    }
    throw new Error(`the recorded Windows has no answer for: net user ${[name, ...rest].join(' ')}`);
  }

  private async scDelete(name: string): Promise<CommandResult> {
    const dir = path.join(this.options.sc.root, 'state', 'services');
    const file = (await readdir(dir)).find((f) => f.toLowerCase() === `${name.toLowerCase()}.json`);
    let result: CommandResult;
    if (file) {
      await rm(path.join(dir, file));
      result = { exitCode: 0, stdout: await text('sc/delete-success.txt'), stderr: '' };
    } else {
      result = { exitCode: 1060, stdout: await text('sc/delete-1060.txt'), stderr: '' };
    }
    // One log of every sc.exe run, the ServiceManager's and ours, in order.
    await appendFile(
      path.join(this.options.sc.root, 'state', 'calls.jsonl'),
      JSON.stringify({ args: ['delete', name], exitCode: result.exitCode, state: null }) + '\n',
    );
    return result;
  }

  private async uninstaller(match: string): Promise<CommandResult> {
    const behaviour = Object.entries(this.options.uninstallers ?? {}).find(([key]) => key.toLowerCase() === match.toLowerCase())?.[1];
    if (!behaviour) throw new Error(`the recorded Windows has no uninstaller behaviour for ${match}`);
    for (const folder of behaviour.removes ?? []) await rm(this.localPath(folder), { recursive: true, force: true });
    if (behaviour.exitCode === 0 || behaviour.exitCode === 3010)
      for (const key of behaviour.unregisters ?? []) this.unregistered.add(key.toLowerCase());
    return { exitCode: behaviour.exitCode, stdout: '', stderr: '' };
  }
}

/** A recorded fixture, decoded as the driver decodes console output. */
async function text(name: string): Promise<string> {
  return decodeScOutput(await readFile(path.join(FIXTURES, name)));
}

/** `reg query /s` output without the blocks of the keys an uninstaller removed. */
function withoutKeys(output: string, removed: Set<string>): string {
  if (removed.size === 0) return output;
  const lines = output.split('\r\n');
  const kept: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (/^HKEY_/.test(line)) dropping = removed.has(path.win32.basename(line).toLowerCase());
    if (!dropping) kept.push(line);
  }
  return kept.join('\r\n');
}
