import fs from 'node:fs';

/**
 * The CUPM version recorded in install.log (an InstallAnywhere log), or null when the log does not
 * say. The log may be UTF-16 (with BOM), UTF-8 or a legacy code page (Japanese Windows): the
 * version itself is ASCII, so decoding only needs to keep ASCII intact. Line ends do not matter.
 */
export function readCupmVersion(file: string): string | null {
  return parseCupmVersion(decodeLog(fs.readFileSync(file)));
}

/** Decodes a log whatever its encoding, keeping ASCII intact. */
export function decodeLog(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return Buffer.from(bytes.subarray(2)).swap16().toString('utf16le');
  return bytes.toString('latin1');
}

const VERSION = String.raw`(\d+\.\d+(?:\.\d+){0,2})`;
const PATTERNS = [
  // "Product Version: 8.5" / "Version=8.5.0" on a line of its own.
  new RegExp(String.raw`^\s*(?:product\s*)?version\s*[:=]\s*${VERSION}`, 'im'),
  // "Cisco Unified Provisioning Manager 8.5" / "Provisioning Manager version 2.2"
  new RegExp(String.raw`provisioning\s+manager\s+(?:version\s+)?${VERSION}`, 'i'),
  // "CUPM 8.5" / "CUPM_8.5"
  new RegExp(String.raw`\bCUPM[\s_-]*(?:version\s+)?${VERSION}`, 'i'),
];

/** The version in an install.log text, or null. */
export function parseCupmVersion(text: string): string | null {
  for (const pattern of PATTERNS) {
    const match = pattern.exec(text);
    if (match?.[1]) return match[1];
  }
  return null;
}

/** True when two CUPM versions name the same release ("8.5" and "8.5.0" do). */
export function sameCupmVersion(a: string, b: string): boolean {
  const norm = (v: string) =>
    v
      .split('.')
      .map(Number)
      .join('.')
      .replace(/(\.0)+$/, '');
  return norm(a) === norm(b);
}

/** The release the install guide's upgrade goes to; its clean-up rolls back to 2.1 or 2.2 (docs/cupm.md). */
export const UPGRADE_TARGET_VERSION = '8.5';

/** True for a version older than the upgrade's target: the 2.1 / 2.2 a rollback reinstalls. */
export function isOldCupmVersion(version: string | null): boolean {
  if (version === null || sameCupmVersion(version, UPGRADE_TARGET_VERSION)) return false;
  const parts = (v: string) => v.split('.').map((n) => Number(n) || 0);
  const [a, b] = [parts(version), parts(UPGRADE_TARGET_VERSION)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}
