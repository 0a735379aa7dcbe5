/**
 * Mutations of an archive for the fuzz test: each takes the bytes and a seeded random source and
 * returns damaged bytes and a description (enough, with the seed, to make the case again).
 */

/** A small seeded PRNG (mulberry32): the same seed gives the same cases. */
export function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!,
  };
}
type Random = ReturnType<typeof random>;

/** The central directory records of a ZIP without a comment: start, length of each, and the end record. */
function directory(bytes: Buffer): { records: Array<{ start: number; length: number }>; end: number } | undefined {
  const end = bytes.length - 22;
  if (end < 0 || bytes.readUInt32LE(end) !== 0x06054b50) return undefined;
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  const records: Array<{ start: number; length: number }> = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || bytes.readUInt32LE(at) !== 0x02014b50) return undefined;
    const length = 46 + bytes.readUInt16LE(at + 28) + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    records.push({ start: at, length });
    at += length;
  }
  return { records, end };
}

/** Rebuilds a ZIP with its central directory records replaced by `records` (end record fixed up). */
function withRecords(bytes: Buffer, dir: NonNullable<ReturnType<typeof directory>>, records: Buffer[]): Buffer {
  const cdStart = dir.records[0]?.start ?? bytes.readUInt32LE(dir.end + 16);
  const end = Buffer.from(bytes.subarray(dir.end));
  const cd = Buffer.concat(records);
  end.writeUInt16LE(records.length & 0xffff, 8);
  end.writeUInt16LE(records.length & 0xffff, 10);
  end.writeUInt32LE(cd.length, 12);
  return Buffer.concat([bytes.subarray(0, cdStart), cd, end]);
}

const MUTATIONS: Record<string, (bytes: Buffer, r: Random) => { bytes: Buffer; what: string }> = {
  'bit flips': (bytes, r) => {
    const out = Buffer.from(bytes);
    const flips = 1 + r.int(8);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = r.int(out.length);
      out[p] = out[p]! ^ (1 << r.int(8));
      at.push(p);
    }
    return { bytes: out, what: `bits flipped at ${at.join(',')}` };
  },
  'flips in the central directory': (bytes, r) => {
    const out = Buffer.from(bytes);
    const from = Math.max(0, out.length - 400);
    const p = from + r.int(out.length - from);
    out[p] = r.int(256);
    return { bytes: out, what: `byte ${p} set (near the end)` };
  },
  truncation: (bytes, r) => {
    const length = r.int(bytes.length);
    return { bytes: bytes.subarray(0, length), what: `cut at ${length}` };
  },
  'appended garbage': (bytes, r) => {
    const extra = Buffer.alloc(1 + r.int(2000));
    for (let i = 0; i < extra.length; i++) extra[i] = r.int(256);
    return { bytes: Buffer.concat([bytes, extra]), what: `${extra.length} bytes appended` };
  },
  'extreme length fields': (bytes, r) => {
    const out = Buffer.from(bytes);
    const signatures = [0x04034b50, 0x02014b50, 0x06054b50];
    const places: number[] = [];
    for (let i = 0; i + 4 <= out.length; i++) if (signatures.includes(out.readUInt32LE(i))) places.push(i);
    if (places.length === 0) return { bytes: out, what: 'no header found' };
    const header = r.pick(places);
    const field = header + 4 + 2 * r.int(20);
    if (field + 4 > out.length) return { bytes: out, what: 'field past the end' };
    const value = r.pick([0, 0xffff, 0xffffffff, 1, 0x7fffffff]);
    if (value > 0xffff || r.int(2) === 0) out.writeUInt32LE(value >>> 0, field);
    else out.writeUInt16LE(value, field);
    return { bytes: out, what: `header at ${header}: field at ${field} set to ${value}` };
  },
  'duplicated central directory record': (bytes, r) => {
    const dir = directory(bytes);
    if (!dir || dir.records.length === 0) return { bytes, what: 'no directory' };
    const records = dir.records.map((rec) => Buffer.from(bytes.subarray(rec.start, rec.start + rec.length)));
    const i = r.int(records.length);
    records.splice(i, 0, records[i]!);
    return { bytes: withRecords(bytes, dir, records), what: `record ${i} twice` };
  },
  'swapped central directory records': (bytes, r) => {
    const dir = directory(bytes);
    if (!dir || dir.records.length < 2) return { bytes, what: 'no directory' };
    const records = dir.records.map((rec) => Buffer.from(bytes.subarray(rec.start, rec.start + rec.length)));
    const i = r.int(records.length);
    const j = (i + 1 + r.int(records.length - 1)) % records.length;
    // Swap where the two entries' data is: each name now points at the other's bytes.
    const a = records[i]!.readUInt32LE(42);
    records[i]!.writeUInt32LE(records[j]!.readUInt32LE(42), 42);
    records[j]!.writeUInt32LE(a, 42);
    return { bytes: withRecords(bytes, dir, records), what: `records ${i} and ${j} point at each other's data` };
  },
  'zeroed range': (bytes, r) => {
    const out = Buffer.from(bytes);
    const start = r.int(out.length);
    const length = 1 + r.int(256);
    out.fill(0, start, Math.min(out.length, start + length));
    return { bytes: out, what: `zeroed ${length} bytes at ${start}` };
  },
};

export const MUTATION_KINDS = Object.keys(MUTATIONS);
/** What damages any file, whatever it holds (an age file has no ZIP structure to aim at). */
const BYTE_KINDS = ['bit flips', 'truncation', 'appended garbage', 'zeroed range'];

/** One damaged copy of `bytes`; `of: 'bytes'` keeps to the mutations that know nothing of ZIP. */
export function mutate(bytes: Buffer, r: Random, of: 'zip' | 'bytes' = 'zip'): { bytes: Buffer; what: string } {
  const kind = r.pick(of === 'zip' ? MUTATION_KINDS : BYTE_KINDS);
  const result = MUTATIONS[kind]!(bytes, r);
  return { bytes: result.bytes, what: `${kind}: ${result.what}` };
}
