import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** What a byte stream turned out to be: its size, its SHA-256, and its last bytes. */
export interface Measurement {
  size: number;
  sha256: string;
  /** The last `tailBytes` bytes (for the dump's trailer check). */
  tail: Buffer;
}

/** Hashes, counts and keeps the tail of a byte stream fed chunk by chunk. */
export class Measurer {
  private readonly hash: Hash = createHash('sha256');
  size = 0;
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly tailBytes = 0,
    private readonly onBytes?: (total: number) => void,
  ) {}

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.tailBytes > 0) {
      this.tail =
        chunk.length >= this.tailBytes
          ? chunk.subarray(chunk.length - this.tailBytes)
          : Buffer.concat([this.tail, chunk]).subarray(-this.tailBytes);
    }
    this.onBytes?.(this.size);
  }

  /** The measurement of everything fed so far; call once, at the end. */
  finish(): Measurement {
    return { size: this.size, sha256: this.hash.digest('hex'), tail: Buffer.from(this.tail) };
  }
}

/**
 * A pass-through that hashes, counts and keeps the tail of what flows through it, so the dump is
 * measured on its way into the archive (or into psql) instead of being read twice.
 */
export class MeasureStream extends Transform {
  private readonly measurer: Measurer;
  private result: Measurement | undefined;

  constructor(tailBytes = 0, onBytes?: (total: number) => void) {
    super();
    this.measurer = new Measurer(tailBytes, onBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.measurer.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = this.measurer.finish();
    callback();
  }

  /** The measurement; only valid once the stream has ended. */
  get measurement(): Measurement {
    if (!this.result) throw new Error('MeasureStream: measurement read before the stream ended');
    return this.result;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.measurer.size;
  }
}
