/**
 * Client encodings whose multibyte characters can hold ASCII bytes (a backslash, a quote): psql
 * masks their trailing bytes before lexing (psqlscan), so the guard must read them masked too.
 */

import { NL } from '../bytes.js';

/** The length of the character at `at`, in one of those encodings. */
export type CharLength = (bytes: Buffer, at: number) => number;

const UNSAFE_ENCODINGS: Record<string, CharLength> = {
  sjis: sjisLength,
  shiftjis: sjisLength,
  mskanji: sjisLength,
  win932: sjisLength,
  windows932: sjisLength,
  shiftjis2004: sjisLength,
  big5: twoByteLength,
  win950: twoByteLength,
  windows950: twoByteLength,
  gbk: twoByteLength,
  win936: twoByteLength,
  windows936: twoByteLength,
  uhc: twoByteLength,
  win949: twoByteLength,
  windows949: twoByteLength,
  johab: twoByteLength,
  gb18030: gb18030Length,
};

/** The character lengths of a client encoding psql masks (`SJIS`, `Shift_JIS`, `win932`...), or undefined for a safe one. */
export function unsafeEncoding(name: string): CharLength | undefined {
  return UNSAFE_ENCODINGS[name.toLowerCase().replace(/[^a-z0-9]/g, '')];
}

/** psql's masking of the trailing bytes of multibyte characters in an unsafe client encoding. */
export function mask(line: Buffer, length: CharLength): Buffer {
  const out = Buffer.from(line);
  const end = out[out.length - 1] === NL ? out.length - 1 : out.length;
  for (let i = 0; i < end;) {
    const n = length(out, i);
    i++;
    for (let k = 1; k < n && i < end; k++) out[i++] = 0xff;
  }
  return out;
}

function sjisLength(bytes: Buffer, at: number): number {
  const c = bytes[at]!;
  return c >= 0xa1 && c <= 0xdf ? 1 : c >= 0x80 ? 2 : 1;
}

function twoByteLength(bytes: Buffer, at: number): number {
  return bytes[at]! >= 0x80 ? 2 : 1;
}

function gb18030Length(bytes: Buffer, at: number): number {
  if (bytes[at]! < 0x80) return 1;
  const next = bytes[at + 1];
  return next !== undefined && next >= 0x30 && next <= 0x39 ? 4 : 2;
}
