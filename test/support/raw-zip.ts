import fs from 'node:fs/promises';
import zlib from 'node:zlib';

/**
 * A ZIP file written byte by byte, so a test can make one that no ZIP library would: names with
 * `..` or backslashes, symlinks, two entries of one name, sizes that lie, a deflate stream that
 * inflates far past what the directory says. Local headers and the central directory agree unless
 * told otherwise.
 */
export interface RawEntry {
  /** The name, as given (a Buffer for bytes that are not UTF-8, or a NUL). */
  name: string | Buffer;
  data: Buffer | string;
  /** 0 stored, 8 deflate (default), anything else to test an unknown method. */
  method?: number;
  /** The compressed bytes to store instead of deflating `data` (a crafted stream). */
  compressed?: Buffer;
  /** Sizes and CRC the headers claim (default: the truth). */
  declaredSize?: number;
  declaredCompressedSize?: number;
  crc?: number;
  /** Unix mode in the upper half of the external attributes (0o120777 marks a symlink). */
  unixMode?: number;
  /** General purpose flags (bit 0: encrypted; bit 11 is set for UTF-8 names). */
  flags?: number;
}

export interface RawZipOptions {
  /** The entry count the end record claims (default: the truth). */
  declaredCount?: number;
}

export function rawZip(entries: RawEntry[], options: RawZipOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name, 'utf8');
    const data = Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data);
    const method = entry.method ?? 8;
    const body = entry.compressed ?? (method === 8 ? zlib.deflateRawSync(data) : data);
    const crc = entry.crc ?? zlib.crc32(data);
    const size = entry.declaredSize ?? data.length;
    const compressedSize = entry.declaredCompressedSize ?? body.length;
    const flags = (entry.flags ?? 0) | 0x0800;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressedSize >>> 0, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode bits count
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(compressedSize >>> 0, 20);
    central.writeUInt32LE(size >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE(((entry.unixMode ?? 0o100600) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  const count = options.declaredCount ?? entries.length;
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(count & 0xffff, 8);
  end.writeUInt16LE(count & 0xffff, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  return Buffer.concat([...locals, directory, end]);
}

export async function writeRawZip(file: string, entries: RawEntry[], options: RawZipOptions = {}): Promise<string> {
  await fs.writeFile(file, rawZip(entries, options));
  return file;
}
