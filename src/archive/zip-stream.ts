import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { ParallelDeflate } from './parallel-deflate.js';

/**
 * A streaming ZIP encoder (PKWARE APPNOTE 6.3): entries go in one after the other, deflated on
 * the way, and `zip` is the archive's byte stream, to be piped to a file (or through a Transform,
 * e.g. encryption, first). Nothing is buffered beyond a chunk: sizes and CRC-32 follow each entry
 * in a data descriptor, and the central directory comes at the end. Deflate runs on several
 * cores (parallel-deflate.ts).
 *
 * ZIP64 only where a value does not fit in 32 bits, so that archives stay readable by the oldest
 * tools: the central directory's ZIP64 extra field and end records then; and the data descriptor
 * of an entry over 4 GiB has 8-byte sizes. The local header never has a ZIP64 field (its sizes
 * are in the descriptor): streaming readers such as Java's ZipInputStream (before JDK 21) take
 * a descriptor's width from the entry's real size, and so read these archives at any size. This
 * is what archiver wrote before, and what Go's archive/zip writes.
 */
export class ZipStream {
  /** The archive's bytes. */
  readonly zip: Readable;
  private offset = 0;
  private readonly central: CentralRecord[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;

  constructor() {
    this.zip = new Readable({
      highWaterMark: 1024 * 1024,
      read: () => {
        const resume = this.waiting;
        this.waiting = undefined;
        resume?.();
      },
    });
    // A reader that went away (the output failed, or an abort) must not leave a write waiting.
    this.zip.on('close', () => {
      const resume = this.waiting;
      this.waiting = undefined;
      resume?.();
    });
  }

  /**
   * Writes one entry from `input`, deflated at `level` (0 stores it). Resolves once the entry's
   * last byte is in the stream.
   */
  async addEntry(name: string, input: Readable, options: EntryOptions): Promise<EntryResult> {
    if (this.ended) throw new Error('the ZIP stream is finished');
    const nameBytes = Buffer.from(name, 'utf8');
    const method = options.level === 0 ? STORED : DEFLATED;
    const flags = DATA_DESCRIPTOR | (/[^\x20-\x7e]/.test(name) ? UTF8_NAMES : 0);
    const { time, date } = dosDateTime(options.modified ?? new Date());
    const headerOffset = this.offset;

    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(VERSION_DEFLATE, 4);
    header.writeUInt16LE(flags, 6);
    header.writeUInt16LE(method, 8);
    header.writeUInt16LE(time, 10);
    header.writeUInt16LE(date, 12);
    // CRC and sizes follow in the data descriptor.
    header.writeUInt32LE(0, 14);
    header.writeUInt32LE(0, 18);
    header.writeUInt32LE(0, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(0, 28);
    await this.write(Buffer.concat([header, nameBytes]));

    let compressedSize = 0;
    const sink = new Writable({
      highWaterMark: 0,
      write: (chunk: Buffer, _encoding, callback) => {
        compressedSize += chunk.length;
        this.write(chunk).then(() => callback(), callback);
      },
    });
    const entryInput = new EntryInput(options.observe);
    if (method === STORED) await pipeline(input, entryInput, sink);
    else await pipeline(input, entryInput, new ParallelDeflate(options.level), sink);
    const { crc, size } = entryInput;
    if (method === STORED) compressedSize = size;

    const wide = size > MAX32 || compressedSize > MAX32;
    const descriptor = Buffer.alloc(wide ? 24 : 16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc, 4);
    if (wide) {
      descriptor.writeBigUInt64LE(BigInt(compressedSize), 8);
      descriptor.writeBigUInt64LE(BigInt(size), 16);
    } else {
      descriptor.writeUInt32LE(compressedSize, 8);
      descriptor.writeUInt32LE(size, 12);
    }
    await this.write(descriptor);
    this.central.push({ nameBytes, flags, method, time, date, crc, size, compressedSize, headerOffset, mode: options.mode ?? 0o600 });
    return { crc, size, compressedSize };
  }

  /** Writes the central directory and the end records, and ends the stream. */
  async finish(): Promise<void> {
    if (this.ended) throw new Error('the ZIP stream is finished');
    this.ended = true;
    const start = this.offset;
    for (const entry of this.central) await this.write(centralHeader(entry));
    const directorySize = this.offset - start;
    const count = this.central.length;
    const needs64 = count >= 0xffff || start >= MAX32 || directorySize >= MAX32;
    if (needs64) {
      const record = Buffer.alloc(56);
      record.writeUInt32LE(0x06064b50, 0);
      record.writeBigUInt64LE(44n, 4); // size of the rest of this record
      record.writeUInt16LE(MADE_BY, 12);
      record.writeUInt16LE(VERSION_ZIP64, 14);
      record.writeUInt32LE(0, 16); // this disk
      record.writeUInt32LE(0, 20); // disk of the central directory
      record.writeBigUInt64LE(BigInt(count), 24);
      record.writeBigUInt64LE(BigInt(count), 32);
      record.writeBigUInt64LE(BigInt(directorySize), 40);
      record.writeBigUInt64LE(BigInt(start), 48);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeUInt32LE(0, 4);
      locator.writeBigUInt64LE(BigInt(this.offset), 8);
      locator.writeUInt32LE(1, 16);
      await this.write(Buffer.concat([record, locator]));
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(0, 4);
    end.writeUInt16LE(0, 6);
    end.writeUInt16LE(Math.min(count, 0xffff), 8);
    end.writeUInt16LE(Math.min(count, 0xffff), 10);
    end.writeUInt32LE(Math.min(directorySize, MAX32), 12);
    end.writeUInt32LE(Math.min(start, MAX32), 16);
    end.writeUInt16LE(0, 20);
    await this.write(end);
    this.zip.push(null);
  }

  /** Stops the stream with `error` (an abort). */
  destroy(error?: Error): void {
    this.ended = true;
    this.zip.destroy(error);
    const resume = this.waiting;
    this.waiting = undefined;
    resume?.();
  }

  /** Pushes bytes, waiting while the reader of `zip` is behind (backpressure). */
  private async write(bytes: Buffer): Promise<void> {
    if (this.zip.destroyed) throw new Error('the ZIP stream was closed');
    this.offset += bytes.length;
    if (this.zip.push(bytes)) return;
    await new Promise<void>((resolve) => (this.waiting = resolve));
    if (this.zip.destroyed) throw new Error('the ZIP stream was closed');
  }
}

export interface EntryOptions {
  /** Deflate level 1-9, or 0 to store. */
  level: number;
  /** Unix permission bits (default 0600). */
  mode?: number;
  modified?: Date;
  /** Sees every chunk of the entry's uncompressed bytes, in order (hashing, progress). */
  observe?: (chunk: Buffer) => void;
}

export interface EntryResult {
  crc: number;
  size: number;
  compressedSize: number;
}

interface CentralRecord {
  nameBytes: Buffer;
  flags: number;
  method: number;
  time: number;
  date: number;
  crc: number;
  size: number;
  compressedSize: number;
  headerOffset: number;
  mode: number;
}

const MAX32 = 0xffffffff;
const STORED = 0;
const DEFLATED = 8;
const DATA_DESCRIPTOR = 0x0008;
const UTF8_NAMES = 0x0800;
const VERSION_DEFLATE = 20;
const VERSION_ZIP64 = 45;
/** Made by: Unix (3), spec 4.5, so that readers take the external attributes as a Unix mode. */
const MADE_BY = (3 << 8) | VERSION_ZIP64;
const S_IFREG = 0o100000;

/** The ZIP64 extended information extra field (id 1) with these 8-byte values. */
function zip64Extra(values: number[]): Buffer {
  const field = Buffer.alloc(4 + 8 * values.length);
  field.writeUInt16LE(0x0001, 0);
  field.writeUInt16LE(8 * values.length, 2);
  values.forEach((value, i) => field.writeBigUInt64LE(BigInt(value), 4 + 8 * i));
  return field;
}

function centralHeader(entry: CentralRecord): Buffer {
  // Only the fields that do not fit go to the ZIP64 field, in the spec's order.
  const big: number[] = [];
  if (entry.size >= MAX32) big.push(entry.size);
  if (entry.compressedSize >= MAX32) big.push(entry.compressedSize);
  if (entry.headerOffset >= MAX32) big.push(entry.headerOffset);
  const extra = big.length > 0 ? zip64Extra(big) : Buffer.alloc(0);
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(MADE_BY, 4);
  header.writeUInt16LE(big.length > 0 ? VERSION_ZIP64 : VERSION_DEFLATE, 6);
  header.writeUInt16LE(entry.flags, 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(entry.time, 12);
  header.writeUInt16LE(entry.date, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(Math.min(entry.compressedSize, MAX32), 20);
  header.writeUInt32LE(Math.min(entry.size, MAX32), 24);
  header.writeUInt16LE(entry.nameBytes.length, 28);
  header.writeUInt16LE(extra.length, 30);
  header.writeUInt16LE(0, 32); // comment
  header.writeUInt16LE(0, 34); // disk
  header.writeUInt16LE(0, 36); // internal attributes
  header.writeUInt32LE(((S_IFREG | entry.mode) << 16) >>> 0, 38);
  header.writeUInt32LE(Math.min(entry.headerOffset, MAX32), 42);
  return Buffer.concat([header, entry.nameBytes, extra]);
}

/** MS-DOS date and time (local time, 2-second resolution), as ZIP stores them. */
function dosDateTime(at: Date): { time: number; date: number } {
  const year = Math.max(1980, at.getFullYear());
  return {
    time: (at.getHours() << 11) | (at.getMinutes() << 5) | Math.floor(at.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((at.getMonth() + 1) << 5) | at.getDate(),
  };
}

/** Computes the CRC-32 (zlib's, native) and size of what passes, and shows each chunk to `observe`. */
class EntryInput extends Transform {
  crc = 0;
  size = 0;

  constructor(private readonly observe: ((chunk: Buffer) => void) | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.crc = zlib.crc32(chunk, this.crc);
    this.size += chunk.length;
    this.observe?.(chunk);
    callback(null, chunk);
  }
}
