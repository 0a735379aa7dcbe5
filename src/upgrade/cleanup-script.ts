import path from 'node:path';
import { ConfigError } from '../errors.js';
import { writeFileAtomic } from '../file-system.js';
import { UNINSTALL_KEYS } from '../system/installed-programs.js';
import { PROFILE_LIST_KEY } from '../system/windows-system.js';
import { SERVICES_KEY } from '../system/windows-output.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import { UPGRADE_TARGET_VERSION } from '../artifacts/install-log.js';
import type { CleanupTarget } from './cleanup-plan.js';
import { ZERO_G_REGISTRY } from './target.js';

/**
 * `upgrade cleanup --script FILE`: the clean-up of a failed upgrade (the same steps as
 * `buildCleanupPlan`, docs/cupm.md) as a cmd.exe batch file, for a CUPM server on Windows Server
 * 2003/2008 that Node cannot run on. Only what those systems have: cmd.exe, reg.exe, sc.exe,
 * net.exe, msiexec, ping (2003 has no timeout.exe), no PowerShell.
 *
 * Every step looks before it acts (reg query before an uninstaller runs, sc query before sc
 * delete, `if exist` before rd) and looks again after, so a second run says "already absent" for
 * each finished step and "Nothing to do" at the end. Everything it prints also goes to a log next
 * to the script (`cleanup.log` for `cleanup.cmd`). Exit status 0 when every step is done or
 * already absent, 1 when one failed (the rest still ran).
 *
 * Quoting: every path is inside double quotes (which protect `&`, `(`, `)`, `^` and spaces from
 * cmd.exe) with `%` doubled (percent expansion happens inside quotes too). Paths from the
 * settings are written into the script literally, never through `set` or `call`, which would
 * expand them a second time. Values read at run time (registry data) are only ever used quoted.
 */
export interface CleanupScriptOptions {
  /** Seconds a service may take to stop (CUPM_SERVICE_TIMEOUT). */
  serviceTimeoutSeconds: number;
  /** The CUPM server the script is meant for (CUPM_SERVER), for its header and its check. */
  server?: string | undefined;
  /** When the script was written (its header). */
  now?: Date;
}

export interface CleanupScript {
  file: string;
  /** The log the script writes next to itself. */
  log: string;
  /** The steps in the script, in order. */
  steps: string[];
}

/**
 * Writes the batch file (atomically, CRLF line ends as cmd.exe expects; written under no lock, so
 * the temp files of killed writes of it are removed once stale) and says where its log goes.
 */
export async function writeCleanupScript(file: string, target: CleanupTarget, options: CleanupScriptOptions): Promise<CleanupScript> {
  const { text, steps } = cleanupScriptText(target, options);
  await writeFileAtomic(file, Buffer.from(text, 'latin1'), { mode: 0o644, uid: null, gid: null }, { removeStaleTemps: true });
  return { file, log: scriptLogPath(file), steps };
}

/** Where the script writes its log: next to it, same name, `.log` (`%~dpn0.log`). */
export function scriptLogPath(file: string): string {
  const dir = path.dirname(file);
  const ext = path.extname(file);
  return path.join(dir, `${path.basename(file, ext)}.log`);
}

/** The script's text and its step titles. Refuses (exit 2) what cmd.exe cannot carry safely. */
export function cleanupScriptText(target: CleanupTarget, options: CleanupScriptOptions): { text: string; steps: string[] } {
  const problems: string[] = [];
  for (const [what, value] of [
    ['the install dir', target.installDir],
    ['the Windows user', target.windowsUser],
  ] as const) {
    // cmd.exe reads a batch file in the console's code page: only ASCII means the same on every server.
    if (/[^\x20-\x7e]/.test(value))
      problems.push(`${what} "${value}" has characters outside ASCII, which cmd.exe reads in the server's own code page`);
    if (value.includes('"')) problems.push(`${what} "${value}" has a double quote`);
  }
  if (/[%!^&]/.test(target.windowsUser))
    problems.push(`the Windows user "${target.windowsUser}" has a character (% ! ^ &) the script cannot pass to net.exe safely`);
  if (problems.length > 0) {
    throw new ConfigError('The clean-up script cannot be written:', {
      problems,
      state: 'nothing was written',
      hint: 'run the clean-up steps by hand (cupm-backup upgrade cleanup --dry-run lists them)',
    });
  }
  const b = new ScriptBuilder(Math.max(1, Math.round(options.serviceTimeoutSeconds)));
  const titles: string[] = [];
  const step = (title: string, emit: () => void) => {
    titles.push(title);
    b.stepHeader(titles.length, title);
    emit();
  };

  step('Run the CUPM uninstaller, where it is still registered', () => b.uninstall('cupm', 'CUPM'));
  step('Remove PostgreSQL 8.2, where it is still installed', () => b.uninstall('pg82', 'PostgreSQL 8.2'));
  for (const service of target.services) step(`Stop, then delete the service ${service}`, () => b.service(service));
  step(`Delete the Windows user ${target.windowsUser}`, () => b.user(target.windowsUser));
  step(`Delete the home folder of ${target.windowsUser}`, () => b.homeFolders(target.windowsUser));
  step(`Delete the install dir ${target.installDir}`, () => b.folders([quoted(target.installDir)]));
  step(`Delete ${ZERO_G_REGISTRY} under Program Files`, () =>
    b.folders([`"%ProgramFiles%\\${ZERO_G_REGISTRY}"`, `"%ProgramFiles(x86)%\\${ZERO_G_REGISTRY}"`], true),
  );

  const header = [
    '@echo off',
    `rem ${TOOL_NAME} ${TOOL_VERSION}: the clean-up of a failed upgrade to CUPM ${UPGRADE_TARGET_VERSION} (the install guide's steps),`,
    `rem written ${(options.now ?? new Date()).toISOString()}${options.server ? ` for the CUPM server ${options.server.replace(/[^\w.-]/g, '')}` : ''}.`,
    'rem Run it ON the CUPM server, from a command prompt opened with Run as administrator.',
    'rem It needs only cmd.exe, reg.exe, sc.exe and net.exe (Windows Server 2003 and 2008, no PowerShell).',
    'rem Each step looks first and says "already absent" when there is nothing to do: run it again after a failure.',
    'rem Everything it prints also goes to the .log file next to it.',
    'setlocal',
    'set "LOG=%~dpn0.log"',
    'set "DONE=0"',
    'set "FAILED=0"',
    '>>"%LOG%" echo ==== %DATE% %TIME%: clean-up started on %COMPUTERNAME%',
    'echo Log: "%LOG%"',
  ];
  const footer = [
    ':finish',
    'echo.',
    '>>"%LOG%" echo.',
    'if %FAILED% GTR 0 goto finish_failed',
    'if %DONE% GTR 0 goto finish_done',
    ...b.sayLines('Nothing to do: everything the clean-up removes is already gone.'),
    '>>"%LOG%" echo ==== %DATE% %TIME%: nothing to do',
    'exit /b 0',
    ':finish_done',
    ...b.sayLines('Clean-up finished: %DONE% thing(s) removed; the rest was already gone.', true),
    ...b.sayLines(
      `Next: reinstall the CUPM version you upgraded from (2.1 or 2.2) into the same install dir, then restore its archive with ${TOOL_NAME} restore.`,
    ),
    '>>"%LOG%" echo ==== %DATE% %TIME%: finished',
    'exit /b 0',
    ':finish_failed',
    ...b.sayLines(
      'The clean-up is NOT complete: %FAILED% part(s) failed (see the FAILED lines above and in the log); the other steps are finished.',
      true,
    ),
    ...b.sayLines(
      'Fix what the FAILED lines say (a reboot frees files a service held), then run this script again: finished steps say already absent.',
    ),
    '>>"%LOG%" echo ==== %DATE% %TIME%: %FAILED% step(s) failed',
    'exit /b 1',
  ];
  const lines = [...header, ...b.body, 'goto finish', '', ...b.subroutines(), ...footer, ''];
  return { text: lines.join('\r\n'), steps: titles };
}

/** A literal path for the script: in double quotes, `%` doubled. */
function quoted(value: string): string {
  return `"${value.replaceAll('%', '%%')}"`;
}

/** Text outside quotes for `echo`: cmd.exe's operators escaped with ^; `%` doubled unless `%VAR%` is meant. */
function plain(text: string, variables = false): string {
  const escaped = text.replace(/[\^&|<>()]/g, (c) => `^${c}`);
  return variables ? escaped : escaped.replaceAll('%', '%%');
}

class ScriptBuilder {
  readonly body: string[] = [];
  private label = 0;

  constructor(private readonly timeoutSeconds: number) {}

  /** `echo` to the console and the log; `text` is static (operators escaped here), with `%VAR%` expanded when `variables`. */
  sayLines(text: string, variables = false): string[] {
    const safe = plain(text, variables);
    return [`echo ${safe}`, `>>"%LOG%" echo ${safe}`];
  }

  /** Lines saying `text` followed by a quoted value (a literal path from `quoted`, or "%VAR%"). */
  private sayQuoted(text: string, value: string, after = ''): string[] {
    const line = `${plain(text)} ${value}${after ? ` ${plain(after)}` : ''}`;
    return [`echo ${line}`, `>>"%LOG%" echo ${line}`];
  }

  private next(prefix: string): string {
    this.label += 1;
    return `${prefix}_${this.label}`;
  }

  stepHeader(n: number, title: string): void {
    this.body.push('', `rem ---- step ${n}`, 'echo.', ...this.sayLines(`[${n}] ${title}`));
  }

  /** The uninstallers of the programs a matcher picks, in both registry views. */
  uninstall(kind: 'cupm' | 'pg82', what: string): void {
    const none = this.next('uninstall_none');
    const end = this.next('uninstall_end');
    this.body.push(`set "KIND=${kind}"`, 'set "HITS=0"');
    for (const key of UNINSTALL_KEYS) this.body.push(`for /f "delims=" %%K in ('reg query "${key}" 2^>nul') do call :program "%%K"`);
    this.body.push(
      `if "%HITS%"=="0" goto ${none}`,
      `goto ${end}`,
      `:${none}`,
      ...this.sayLines(`      already absent: ${what} is not listed in Add or Remove Programs`),
      `:${end}`,
    );
  }

  /** Stops a service (key name or display name), waits until it is stopped, deletes it. */
  service(name: string): void {
    this.body.push(`set "SVC=${name.replaceAll('%', '%%')}"`, 'call :service');
  }

  /** `net user NAME`, then `net user NAME /delete`. */
  user(name: string): void {
    this.body.push(`set "CUPMUSER=${name}"`, 'call :user');
  }

  /** The profile folders of the user: what the profile list records, and the default places of 2003 and 2008. */
  homeFolders(user: string): void {
    const found = this.next('homes_found');
    this.body.push(
      `set "CUPMUSER=${user}"`,
      `set "LEN=${user.length + 1}"`,
      'set "HOMES=0"',
      `for /f "tokens=1,2,*" %%A in ('reg query "${PROFILE_LIST_KEY}" /s /v ProfileImagePath 2^>nul') do if /i "%%A"=="ProfileImagePath" call :home "%%C"`,
      'call :home "%SystemDrive%\\Documents and Settings\\%CUPMUSER%"',
      'call :home "%SystemDrive%\\Users\\%CUPMUSER%"',
      `if "%HOMES%"=="1" goto ${found}`,
      ...this.sayLines('      already absent: no home folder of %CUPMUSER%', true),
      `:${found}`,
    );
  }

  /** Deletes folders written as quoted expressions (literal paths, or "%ProgramFiles%\..."). */
  folders(folders: string[], mayBeUndefined = false): void {
    const stepFound = this.next('folders_found');
    this.body.push('set "FOUND=0"');
    for (const folder of folders) {
      const skip = this.next('folder_skip');
      const failed = this.next('folder_failed');
      // "%X%\" with X undefined is just "\": the root of the current drive, which is never deleted.
      if (mayBeUndefined) this.body.push(`if ${folder.replace(/\\[^\\]*"$/, '"')}=="" goto ${skip}`);
      this.body.push(
        `if not exist ${folder.replace(/"$/, '\\"')} goto ${skip}`,
        'set "FOUND=1"',
        `rd /s /q ${folder}`,
        `if exist ${folder.replace(/"$/, '\\"')} goto ${failed}`,
        'set /a DONE+=1',
        ...this.sayQuoted('      done: deleted', folder),
        `goto ${skip}`,
        `:${failed}`,
        'set /a FAILED+=1',
        ...this.sayQuoted(
          '      FAILED: could not delete',
          folder,
          '- a program still uses files there (a service of CUPM may hold them until a reboot): reboot, then run this script again',
        ),
        `:${skip}`,
      );
    }
    this.body.push(
      `if "%FOUND%"=="1" goto ${stepFound}`,
      ...this.sayLines(`      already absent: ${folders.length === 1 ? 'the folder is' : 'the folders are'} not there`),
      `:${stepFound}`,
    );
  }

  /** The subroutines the steps call; each ends with goto :eof. */
  subroutines(): string[] {
    const t = this.timeoutSeconds;
    // Messages with run-time values: echoed to the console and the log, values in quotes.
    const say = (text: string) => [`echo ${text}`, `>>"%LOG%" echo ${text}`];
    return [
      'rem ======== subroutines',
      'rem A key under an Uninstall key: the program it registers, when KIND picks it.',
      ':program',
      'set "K=%~1"',
      'if /i not "%K:~0,5%"=="HKEY_" goto :eof',
      'set "DN="',
      `for /f "tokens=1,2,*" %%A in ('reg query "%K%" /v DisplayName 2^>nul') do if /i "%%A"=="DisplayName" set "DN=%%C"`,
      'if not defined DN goto :eof',
      'set "M=0"',
      'call :matches_%KIND%',
      'if "%M%"=="0" goto :eof',
      'set /a HITS+=1',
      // Registry data is only ever handled through for-variables (%%C): substituted after cmd.exe has
      // read the line, so a quote, & or ( in a registered command line cannot break the script. The
      // command line to run is written to a one-line batch file and called.
      'set "HASU=0"',
      'set "HASQ=0"',
      'set "WI="',
      'set "LINE="',
      `for /f "tokens=1,2,*" %%A in ('reg query "%K%" 2^>nul') do (`,
      'if /i "%%A"=="UninstallString" set "HASU=1"',
      'if /i "%%A"=="UninstallString" set "LINE=%%C"',
      'if /i "%%A"=="QuietUninstallString" set "HASQ=1"',
      'if /i "%%A"=="WindowsInstaller" set "WI=%%C"',
      ')',
      // The program of the command line: between the first two quotes, or its first word. The quotes
      // become # first (inside the set's own quotes, so the line's & or ( cannot escape).
      'set "PROG="',
      'if not defined LINE goto program_prog_known',
      'set "LQ=%LINE:"=#%"',
      'if "%LQ:~0,1%"=="#" for /f "tokens=1 delims=#" %%P in ("%LQ%") do set "PROG=%%P"',
      'if not "%LQ:~0,1%"=="#" for /f "tokens=1" %%P in ("%LQ%") do set "PROG=%%P"',
      ':program_prog_known',
      'for %%F in ("%K%") do set "KN=%%~nxF"',
      'set "RUN=%TEMP%\\cupm-cleanup-uninstall.cmd"',
      'if exist "%RUN%" del /f /q "%RUN%"',
      'set "MSI=0"',
      'if "%WI%"=="0x1" set "MSI=1"',
      'if /i "%PROG:~-11%"=="msiexec.exe" set "MSI=1"',
      'if /i "%PROG%"=="msiexec" set "MSI=1"',
      'if "%MSI%"=="1" if "%KN:~0,1%"=="{" goto program_msi',
      'set "WHICH=UninstallString"',
      'if "%HASQ%"=="1" set "WHICH=QuietUninstallString"',
      'if "%HASQ%"=="0" if "%HASU%"=="0" goto program_no_command',
      'set "SILENT="',
      'if "%HASQ%"=="1" goto program_write',
      'for %%F in ("%PROG%") do set "PX=%%~xF"',
      // Still listed, but the program is gone (the install dir was deleted already): a stale entry.
      'if not "%PROG:~1,2%"==":\\" goto program_kind',
      'if exist "%PROG%" goto program_kind',
      'if /i "%PX%"==".exe" goto program_stale',
      'if /i "%PX%"==".cmd" goto program_stale',
      'if /i "%PX%"==".bat" goto program_stale',
      ':program_kind',
      // InstallAnywhere uninstallers (CUPM's) are <install>\\Uninstall_<Product>\\Uninstall <Product>.exe: -i silent.
      'for %%F in ("%PROG%\\..") do set "PP=%%~nxF"',
      'if /i "%PP:~0,10%"=="Uninstall_" if /i "%PX%"==".exe" set "SILENT= -i silent"',
      ':program_write',
      `for /f "tokens=1,2,*" %%A in ('reg query "%K%" 2^>nul') do if /i "%%A"=="%WHICH%" >"%RUN%" echo @%%C%SILENT%`,
      'goto program_run',
      ':program_msi',
      '>"%RUN%" echo @msiexec.exe /x %KN% /qn /norestart',
      'call :program_call',
      'if "%RC%"=="0" goto program_removed',
      'if "%RC%"=="3010" goto program_removed',
      'if "%RC%"=="1641" goto program_removed',
      'if "%RC%"=="1605" goto program_unknown',
      'set /a FAILED+=1',
      'if "%RC%"=="1618" goto program_msi_busy',
      ...say(
        '      FAILED: "%DN%": msiexec ended with Windows Installer error %RC%: look the code up, or remove it in Add or Remove Programs by hand',
      ),
      'goto :eof',
      ':program_msi_busy',
      ...say(
        '      FAILED: "%DN%": another installation is in progress - Windows Installer error 1618: wait for it or reboot, then run this script again',
      ),
      'goto :eof',
      ':program_unknown',
      ...say('      already absent: "%DN%" is still listed, but Windows Installer no longer knows it - error 1605'),
      'goto :eof',
      ':program_run',
      'call :program_call',
      'if not "%RC%"=="0" goto program_failed',
      ':program_removed',
      'set /a DONE+=1',
      'reg query "%K%" >nul 2>&1',
      'if not errorlevel 1 goto program_still_listed',
      ...say('      done: "%DN%" uninstalled - exit %RC%; it is no longer listed'),
      'goto :eof',
      ':program_still_listed',
      ...say(
        '      done: the uninstaller of "%DN%" finished - exit %RC% - but it is still listed in Add or Remove Programs; the next steps remove what it left',
      ),
      'goto :eof',
      ':program_failed',
      'set /a FAILED+=1',
      ...say(
        '      FAILED: the uninstaller of "%DN%" ended with exit %RC%: the install guide says to remove the rest by hand, which the next steps do',
      ),
      'goto :eof',
      ':program_stale',
      ...say('      already absent: "%DN%" is still listed, but its uninstaller "%PROG%" is gone - a stale entry'),
      'goto :eof',
      ':program_no_command',
      ...say('      already absent: "%DN%" is listed without an uninstall command - a stale entry'),
      'goto :eof',
      '',
      'rem Runs the one-line batch file RUN, saying what it runs; RC is its exit status.',
      ':program_call',
      'for /f "usebackq tokens=* delims=@" %%L in ("%RUN%") do echo       running: %%L',
      'for /f "usebackq tokens=* delims=@" %%L in ("%RUN%") do >>"%LOG%" echo       running: %%L',
      'call "%RUN%"',
      'set "RC=%errorlevel%"',
      'del /f /q "%RUN%" >nul 2>&1',
      'goto :eof',
      '',
      'rem CUPM itself, 2.x or 8.5: "...Provisioning Manager..." or "CUPM ..."',
      ':matches_cupm',
      'set "R="',
      'call set "R=%%DN:Provisioning Manager=%%"',
      'if /i not "%R%"=="%DN%" set "M=1"',
      'if /i "%DN:~0,4%"=="CUPM" if "%DN:~4,1%"=="" set "M=1"',
      'if /i "%DN:~0,4%"=="CUPM" if "%DN:~4,1%"==" " set "M=1"',
      'goto :eof',
      'rem PostgreSQL 8.2 only (8.2, 8.2.x), never another PostgreSQL on the same machine',
      ':matches_pg82',
      'if /i not "%DN:~0,14%"=="PostgreSQL 8.2" goto :eof',
      'set "N=%DN:~14,1%"',
      'set "M=1"',
      'for %%D in (0 1 2 3 4 5 6 7 8 9) do if "%N%"=="%%D" set "M=0"',
      'goto :eof',
      '',
      'rem A service by key name or display name: stopped (waited for), then deleted.',
      ':service',
      'set "KEY="',
      'sc query "%SVC%" >nul 2>&1',
      'if not errorlevel 1 set "KEY=%SVC%"',
      'if defined KEY goto service_found',
      // sc.exe takes key names only; CUPM's services are also known by display name.
      'set "CUR="',
      `for /f "delims=" %%L in ('reg query "${SERVICES_KEY}" /s /v DisplayName 2^>nul') do call :service_line "%%L"`,
      'if defined KEY goto service_found',
      `reg query "${SERVICES_KEY}\\%SVC%" >nul 2>&1`,
      'if errorlevel 1 goto service_absent',
      'set /a FAILED+=1',
      ...say(
        '      FAILED: the service "%SVC%" is in the registry, but sc query cannot open it: run this script from a prompt opened with Run as administrator',
      ),
      'goto :eof',
      ':service_absent',
      ...say('      already absent: no service "%SVC%"'),
      'goto :eof',
      ':service_found',
      'call :service_state',
      'set "STOPPED_NOW=0"',
      'if "%ST%"=="1" goto service_delete',
      'sc stop "%KEY%" >nul 2>&1',
      'set "STOPPED_NOW=1"',
      'set "WAITED=0"',
      ':service_wait',
      'call :service_state',
      'if "%ST%"=="1" goto service_delete',
      `if %WAITED% GEQ ${t} goto service_stuck`,
      'ping -n 2 127.0.0.1 >nul',
      'set /a WAITED+=1',
      'goto service_wait',
      ':service_stuck',
      'set /a FAILED+=1',
      ...say(
        `      FAILED: the service "%KEY%" did not stop within ${t} s - state %ST% - so it was NOT deleted: end its process, taskkill /F /FI "SERVICES eq %KEY%", or reboot, then run this script again`,
      ),
      'goto :eof',
      ':service_delete',
      'sc delete "%KEY%" >nul 2>&1',
      'set "RC=%errorlevel%"',
      'if "%RC%"=="1060" goto service_absent',
      'if "%RC%"=="1072" goto service_marked',
      'if not "%RC%"=="0" goto service_delete_failed',
      'sc query "%KEY%" >nul 2>&1',
      'if not errorlevel 1 goto service_marked',
      'set /a DONE+=1',
      'if "%STOPPED_NOW%"=="0" goto service_deleted_stopped',
      ...say('      done: "%SVC%" - key name "%KEY%" - stopped, then deleted'),
      'goto :eof',
      ':service_deleted_stopped',
      ...say('      done: "%SVC%" - key name "%KEY%" - deleted'),
      'goto :eof',
      ':service_marked',
      'set /a DONE+=1',
      ...say(
        '      done: "%SVC%" - key name "%KEY%" - is marked for deletion: Windows removes it once the Services console and other handles close, or at the next reboot',
      ),
      'goto :eof',
      ':service_delete_failed',
      'set /a FAILED+=1',
      'if "%RC%"=="5" goto service_denied',
      ...say('      FAILED: sc delete "%KEY%" ended with error %RC%: see the System event log, then try sc delete by hand'),
      'goto :eof',
      ':service_denied',
      ...say('      FAILED: sc delete "%KEY%": access denied - error 5: run this script from a prompt opened with Run as administrator'),
      'goto :eof',
      ':service_state',
      'set "ST="',
      `for /f "tokens=1,3" %%A in ('sc query "%KEY%" 2^>nul') do if /i "%%A"=="STATE" set "ST=%%B"`,
      'goto :eof',
      ':service_line',
      'set "L=%~1"',
      'if /i "%L:~0,5%"=="HKEY_" set "CUR=%L%"',
      'if /i "%L:~0,5%"=="HKEY_" goto :eof',
      'for /f "tokens=1,2,*" %%A in ("%L%") do if /i "%%A"=="DisplayName" if /i "%%C"=="%SVC%" for %%F in ("%CUR%") do set "KEY=%%~nxF"',
      'goto :eof',
      '',
      'rem The Windows user: it exists when net user answers and names it, in any display language.',
      ':user',
      'set "SEEN=0"',
      `for /f "delims=" %%L in ('net user "%CUPMUSER%" 2^>nul') do call :user_line "%%L"`,
      'if "%SEEN%"=="0" goto user_absent',
      'net user "%CUPMUSER%" /delete >nul 2>&1',
      'set "RC=%errorlevel%"',
      'if not "%RC%"=="0" goto user_failed',
      'set /a DONE+=1',
      ...say('      done: user "%CUPMUSER%" deleted'),
      'goto :eof',
      ':user_absent',
      ...say('      already absent: no user "%CUPMUSER%"'),
      'goto :eof',
      ':user_failed',
      'set /a FAILED+=1',
      ...say(
        '      FAILED: net user "%CUPMUSER%" /delete ended with exit %RC%: run this script from a prompt opened with Run as administrator',
      ),
      'goto :eof',
      ':user_line',
      'set "L=%~1"',
      'set "R="',
      'call set "R=%%L:%CUPMUSER%=%%"',
      'if /i not "%R%"=="%L%" set "SEEN=1"',
      'goto :eof',
      '',
      'rem A profile folder of the user: only a folder named after the user - cupmuser, cupmuser.HOST.',
      ':home',
      'set "H=%~1"',
      'if not defined H goto :eof',
      'for %%F in ("%H%") do set "B=%%~nxF"',
      'set "OK=0"',
      'if /i "%B%"=="%CUPMUSER%" set "OK=1"',
      'call set "BP=%%B:~0,%LEN%%%"',
      'if /i "%BP%"=="%CUPMUSER%." set "OK=1"',
      'if "%OK%"=="0" goto :eof',
      'if not exist "%H%\\" goto :eof',
      'set "HOMES=1"',
      'rd /s /q "%H%"',
      'if exist "%H%\\" goto home_failed',
      'set /a DONE+=1',
      ...say('      done: deleted "%H%"'),
      'goto :eof',
      ':home_failed',
      'set /a FAILED+=1',
      ...say('      FAILED: could not delete "%H%": the user may still be logged on: log it off or reboot, then run this script again'),
      'goto :eof',
      '',
    ];
  }
}
