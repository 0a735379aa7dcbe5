/**
 * What Windows console tools print, as the system driver and the service driver read it: output
 * decoded from the console code page, and the sc.exe reports both parse.
 */

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
