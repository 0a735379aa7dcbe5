/**
 * What the Windows console tools print, read in one place for the service driver
 * (src/services/windows.ts) and the system driver (windows-system.ts): output decoded from the
 * console code page, `sc.exe query|getkeyname` and its `[SC] ... FAILED` reports with the Win32
 * errors they carry, and `reg.exe query` output of every Windows version.
 */

/** The services' states as people and the ServiceManager port name them. */
export type ScServiceState = 'running' | 'stopped' | 'pending';

/** dwCurrentState values: `sc.exe query` prints them as `STATE : <number>  <WORD>`. */
export const SC_STATE = {
  stopped: 1,
  startPending: 2,
  stopPending: 3,
  running: 4,
  continuePending: 5,
  pausePending: 6,
  paused: 7,
} as const;

const STATES = new Map<number, { state: ScServiceState; label: string }>([
  [SC_STATE.stopped, { state: 'stopped', label: 'STOPPED' }],
  [SC_STATE.startPending, { state: 'pending', label: 'START_PENDING' }],
  [SC_STATE.stopPending, { state: 'pending', label: 'STOP_PENDING' }],
  [SC_STATE.running, { state: 'running', label: 'RUNNING' }],
  [SC_STATE.continuePending, { state: 'pending', label: 'CONTINUE_PENDING' }],
  [SC_STATE.pausePending, { state: 'pending', label: 'PAUSE_PENDING' }],
  // Paused is settled, but it is neither running nor stopped: the tool must act on it.
  [SC_STATE.paused, { state: 'pending', label: 'PAUSED' }],
]);

/** The Win32 error codes sc.exe prints as `[SC] <call> FAILED <code>:` and exits with. */
export const WIN32_ERROR = {
  accessDenied: 5,
  dependentServicesRunning: 1051,
  notStoppable: 1052,
  requestTimeout: 1053,
  alreadyRunning: 1056,
  disabled: 1058,
  doesNotExist: 1060,
  cannotAcceptControl: 1061,
  notActive: 1062,
  markedForDelete: 1072,
  /** The server is not reachable over RPC (remote sc.exe). */
  rpcServerUnavailable: 1722,
  /** No such host, or its file and printer sharing is off (remote sc.exe). */
  networkPathNotFound: 53,
} as const;

/** What a delete came to: it went, it is marked and goes once the last handle to it closes (a service only), or there was nothing to delete. */
export type DeleteOutcome = 'deleted' | 'marked-for-deletion' | 'absent';

/** What `sc.exe query` says about one service. */
export interface ScStatus {
  /** The SERVICE_NAME line: sc.exe echoes the name it was given. */
  serviceName: string | undefined;
  /** dwCurrentState, 1 to 7. */
  code: number;
  state: ScServiceState;
  /** The English word for `code` (STOP_PENDING ...), for messages; taken from the number, not the printed word. */
  label: string;
  win32ExitCode: number | undefined;
  serviceExitCode: number | undefined;
}

/** Parses `sc.exe query|stop|start` output; undefined when it holds no known STATE line. */
export function parseScQuery(text: string): ScStatus | undefined {
  const lines = unixLines(text);
  // The number, not the word: it is what Windows guarantees, whatever the display language.
  const stateMatch = /^[ \t]*STATE[ \t]*:[ \t]*(\d+)\b/m.exec(lines);
  if (!stateMatch) return undefined;
  const code = Number(stateMatch[1]);
  const known = STATES.get(code);
  if (!known) return undefined;
  return {
    serviceName: /^[ \t]*SERVICE_NAME:[ \t]*(.*?)[ \t]*$/m.exec(lines)?.[1],
    code,
    ...known,
    win32ExitCode: numberField(lines, 'WIN32_EXIT_CODE'),
    serviceExitCode: numberField(lines, 'SERVICE_EXIT_CODE'),
  };
}

function numberField(lines: string, field: string): number | undefined {
  const match = new RegExp(`^[ \\t]*${field}[ \\t]*:[ \\t]*(\\d+)`, 'm').exec(lines);
  return match ? Number(match[1]) : undefined;
}

/** An `[SC] <call> FAILED <code>:` report. */
export interface ScFailure {
  /** The Win32 call that failed, e.g. `ControlService` or `EnumQueryServicesStatus:OpenService`. */
  operation: string;
  code: number;
  /** The system message (localized on non-English Windows). */
  message: string;
}

/** Parses an `[SC] <call> FAILED <code>:` report; undefined when the output holds none. */
export function parseScError(text: string): ScFailure | undefined {
  const lines = unixLines(text);
  const match = /^\[SC\][ \t]*(\S.*?)[ \t]+FAILED[ \t]+(\d+):?[ \t]*$/m.exec(lines);
  if (!match) return undefined;
  const message = lines
    .slice(match.index + match[0].length)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(' ');
  return { operation: match[1]!, code: Number(match[2]), message };
}

/** An `[SC]` report as messages quote it: `OpenService FAILED 5: Access is denied.` */
export function scFailureText(failure: ScFailure): string {
  return `${failure.operation} FAILED ${failure.code}${failure.message ? `: ${failure.message}` : ''}`;
}

/** The Win32 error of a failed sc.exe run, from its `[SC]` report or else its exit status; undefined on success. */
export function scErrorCode(out: { exitCode: number; text: string }): number | undefined {
  if (out.exitCode === 0) return undefined;
  return parseScError(out.text)?.code ?? out.exitCode;
}

/**
 * What an `sc.exe delete` run came to, read from its Win32 error: success is 'deleted' (Windows
 * removes the service at once unless a handle keeps it: the caller that must know asks again),
 * 1072 'marked-for-deletion' (someone deleted it before and a handle keeps it), 1060 'absent';
 * undefined for a failure.
 */
export function scDeleteOutcome(code: number | undefined): DeleteOutcome | undefined {
  if (code === undefined) return 'deleted';
  if (code === WIN32_ERROR.markedForDelete) return 'marked-for-deletion';
  if (code === WIN32_ERROR.doesNotExist) return 'absent';
  return undefined;
}

/** Parses `sc.exe getkeyname` output (`Name = KEYNAME`); undefined when it holds no name. */
export function parseGetKeyName(text: string): string | undefined {
  const lines = unixLines(text);
  if (!/GetServiceKeyName[ \t]+SUCCESS/.test(lines)) return undefined;
  return /^[ \t]*Name[ \t]*=[ \t]*(.*?)[ \t]*$/m.exec(lines)?.[1] || undefined;
}

/**
 * Decodes sc.exe output. It is in the console's OEM code page (cp932 on Japanese Windows), which
 * Node cannot ask for; parsing needs only ASCII, so decoding just has to keep messages readable.
 */
export function decodeScOutput(bytes: Uint8Array | string | undefined): string {
  if (bytes === undefined) return '';
  if (typeof bytes === 'string') return bytes;
  for (const encoding of ['utf-8', 'shift_jis']) {
    try {
      return new TextDecoder(encoding, { fatal: true }).decode(bytes);
    } catch {
      // Not this encoding, or a Node built without this ICU codec: try the next.
    }
  }
  return new TextDecoder('latin1').decode(bytes);
}

/** The text with its line ends (CRLF, or a lone CR) made LF. */
export function unixLines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** One value of a registry key as `reg query` prints it. */
export interface RegValue {
  name: string;
  type: string;
  data: string;
}

/** One key of `reg query` output with its values; value names are looked up case-insensitively. */
export interface RegKey {
  path: string;
  values: RegValue[];
}

/** The value `name` of a key (case-insensitive, as the registry compares names), or undefined. */
export function regValue(key: RegKey, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return key.values.find((v) => v.name.toLowerCase() === wanted)?.data;
}

// A remote query (`reg.exe query \\HOST\HKLM\...`) names the keys with the host in front.
const HIVE = /^(?:\\\\[^\\]+\\)?(HKEY_[A-Z_]+|HKLM|HKCU|HKCR|HKU|HKCC)(\\.*)?$/;
// Windows Vista and later separate name, type and data with four spaces; reg.exe 3.0 (Windows
// Server 2003, XP) with a tab. Names and data may hold single spaces of their own.
const VALUE = /^[ \t]+(.*?)(?:\t|[ \t]{2,})(REG_[A-Z0-9_]+)(?:(?:\t|[ \t]{2,})(.*))?$/;

/**
 * Parses `reg query KEY [/s]` output of every Windows version: the `! REG.EXE VERSION 3.0` banner of
 * Windows Server 2003, tab or four-space separators, `(Default)` / `<NO NAME>`, CRLF or LF, and
 * the `End of search` line of `/f` searches.
 */
export function parseRegQuery(text: string): RegKey[] {
  const keys: RegKey[] = [];
  let current: RegKey | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('! REG.EXE') || /^End of search:/i.test(line)) continue;
    if (HIVE.test(line)) {
      current = { path: line.trimEnd(), values: [] };
      keys.push(current);
      continue;
    }
    const value = VALUE.exec(line);
    if (value && current) {
      const name = value[1]!.trim();
      current.values.push({
        name: name === '(Default)' || name === '<NO NAME>' ? '' : name,
        type: value[2]!,
        data: (value[3] ?? '').replace(/\s+$/, ''),
      });
    }
  }
  return keys;
}

/** Where the Service Control Manager keeps its services: one subkey per key name. */
export const SERVICES_KEY = 'HKLM\\SYSTEM\\CurrentControlSet\\Services';

/** One service as the registry lists it: its key name and display name. */
export interface RegistryService {
  keyName: string;
  displayName: string;
}

/**
 * Reads `reg.exe query <SERVICES_KEY> /s /v DisplayName` (local or `\\HOST\...`): the direct
 * subkeys of Services with their DisplayName; deeper keys (`...\Parameters`) and the localized
 * summary line do not count.
 */
export function parseRegDisplayNames(text: string): RegistryService[] {
  const found: RegistryService[] = [];
  for (const key of parseRegQuery(text)) {
    const keyName = /^(?:\\\\[^\\]+\\)?HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\([^\\]+)$/i.exec(key.path)?.[1];
    const displayName = key.values.find((v) => v.name.toLowerCase() === 'displayname' && /^REG_(?:EXPAND_)?SZ$/.test(v.type))?.data;
    if (keyName !== undefined && displayName !== undefined) found.push({ keyName, displayName });
  }
  return found;
}
