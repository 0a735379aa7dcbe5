import path from 'node:path';
import { regValue, type RegKey } from './windows-output.js';

/** Where Windows lists installed programs (Add or Remove Programs): 64-bit view, then 32-bit view. */
export const UNINSTALL_KEYS = [
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
  'HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
] as const;

/** A program registered under an Uninstall key. */
export interface InstalledProgram {
  /** The registry key, e.g. HKEY_LOCAL_MACHINE\SOFTWARE\...\Uninstall\{GUID}. */
  key: string;
  displayName: string;
  displayVersion: string | undefined;
  publisher: string | undefined;
  uninstallString: string | undefined;
  quietUninstallString: string | undefined;
  installLocation: string | undefined;
  /** A Windows Installer (MSI) product: its product code when it has one. */
  msiProductCode: string | undefined;
}

/** The programs in `reg query <Uninstall key> /s` output: subkeys with a DisplayName. */
export function programsFromRegistry(keys: RegKey[]): InstalledProgram[] {
  const programs: InstalledProgram[] = [];
  for (const key of keys) {
    const displayName = regValue(key, 'DisplayName');
    if (!displayName) continue;
    const subkey = path.win32.basename(key.path);
    const uninstallString = regValue(key, 'UninstallString') || undefined;
    const productCode =
      GUID.exec(subkey)?.[0] ??
      (uninstallString ? /msiexec(?:\.exe)?\s+\/[ix]\s*(\{[0-9A-F-]{36}\})/i.exec(uninstallString)?.[1] : undefined);
    const isMsi = regValue(key, 'WindowsInstaller') === '0x1' || /msiexec/i.test(uninstallString ?? '');
    programs.push({
      key: key.path,
      displayName,
      displayVersion: regValue(key, 'DisplayVersion') || undefined,
      publisher: regValue(key, 'Publisher') || undefined,
      uninstallString,
      quietUninstallString: regValue(key, 'QuietUninstallString') || undefined,
      installLocation: regValue(key, 'InstallLocation') || undefined,
      msiProductCode: isMsi ? productCode : undefined,
    });
  }
  return programs;
}

const GUID = /^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$/i;

/** How an uninstaller is run without questions. */
export interface UninstallCommand {
  file: string;
  args: string[];
  /** msi: msiexec /x /qn; installanywhere: `-i silent`; quiet: the program's own QuietUninstallString; plain: as registered (may show a window). */
  mode: 'msi' | 'installanywhere' | 'quiet' | 'plain';
}

/**
 * The silent form of a program's uninstaller: MSI products through `msiexec /x {code} /qn`
 * (PostgreSQL 8.2 was an MSI package), the QuietUninstallString where the program registered one,
 * InstallAnywhere uninstallers (CUPM's, next to its Zero G registry) with `-i silent`, else the
 * UninstallString as registered. undefined when there is nothing to run.
 */
export function uninstallCommand(program: InstalledProgram): UninstallCommand | undefined {
  if (program.msiProductCode) {
    return { file: 'msiexec.exe', args: ['/x', program.msiProductCode, '/qn', '/norestart'], mode: 'msi' };
  }
  if (program.quietUninstallString) {
    const [file, ...args] = splitWindowsCommandLine(program.quietUninstallString);
    if (file) return { file, args, mode: 'quiet' };
  }
  if (!program.uninstallString) return undefined;
  const [file, ...args] = splitWindowsCommandLine(program.uninstallString);
  if (!file) return undefined;
  if (isInstallAnywhere(file) && !args.some((a) => /^-i$/i.test(a)))
    return { file, args: [...args, '-i', 'silent'], mode: 'installanywhere' };
  return { file, args, mode: 'plain' };
}

/** InstallAnywhere writes its uninstaller as <install>\Uninstall_<Product>\Uninstall <Product>.exe. */
function isInstallAnywhere(file: string): boolean {
  const dir = path.win32.basename(path.win32.dirname(file));
  return /^Uninstall_/i.test(dir) && /\.exe$/i.test(file);
}

/**
 * Splits a registered command line into program and arguments the way Windows does: the program
 * is either quoted, or runs up to `.exe` (unquoted paths with spaces, `C:\Program Files\x\un.exe /S`,
 * are common in Uninstall keys), or up to the first blank; arguments follow CommandLineToArgvW.
 */
export function splitWindowsCommandLine(commandLine: string): string[] {
  const text = commandLine.trim();
  let program: string;
  let rest: string;
  if (text.startsWith('"')) {
    const end = text.indexOf('"', 1);
    program = end < 0 ? text.slice(1) : text.slice(1, end);
    rest = end < 0 ? '' : text.slice(end + 1);
  } else {
    const exe = /^(.*?\.exe)(?=\s|$)/i.exec(text);
    const cut = exe ? exe[1]!.length : text.search(/\s/) < 0 ? text.length : text.search(/\s/);
    program = text.slice(0, cut);
    rest = text.slice(cut);
  }
  return program ? [program, ...splitArguments(rest)] : splitArguments(rest);
}

/** CommandLineToArgvW's rules for the arguments after the program name. */
function splitArguments(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let inQuotes = false;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      let slashes = 0;
      while (text[i] === '\\') {
        slashes++;
        i++;
      }
      if (text[i] === '"') {
        current += '\\'.repeat(Math.floor(slashes / 2));
        if (slashes % 2 === 1) current += '"';
        else inQuotes = !inQuotes;
      } else {
        current += '\\'.repeat(slashes);
        i--;
      }
      started = true;
    } else if (c === '"') {
      // "" inside quotes is a literal quote.
      if (inQuotes && text[i + 1] === '"') {
        current += '"';
        i++;
      } else {
        inQuotes = !inQuotes;
      }
      started = true;
    } else if (/\s/.test(c) && !inQuotes) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}
