import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const deflateRaw = promisify(zlib.deflateRaw);

/** Input per block: large enough that a block's thread-pool round trip costs nothing next to it. */
const BLOCK = 1024 * 1024;
/** Deflate looks back at most 32 KiB: the dictionary a block needs from the one before. */
const WINDOW = 32 * 1024;
/** An empty final block: it ends the stream the sync-flushed blocks leave open. */
const FINAL_BLOCK = zlib.deflateRawSync(Buffer.alloc(0));

/**
 * Raw deflate on several cores, the way pigz does it: the input is cut into 1 MiB blocks, each
 * deflated on libuv's thread pool with the 32 KiB before it as its dictionary and ended with a
 * sync flush (a byte-aligned empty stored block), so the blocks joined in order are one deflate
 * stream that any inflater reads (unzip, Java, ours); an empty final block ends it. The
 * dictionary keeps matches across block edges, so the output is within a fraction of a percent
 * of a single stream's. A single zlib stream deflates on one core and sets the backup's pace; this
 * lets the dump's rate set it (README "Performance").
 *
 * Memory is bounded: at most `depth` blocks in flight, and the Transform's backpressure holds the
 * input while the reader of the output is behind.
 */
export class ParallelDeflate extends Transform {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private tail: Buffer | undefined;
  private readonly inFlight: Array<Promise<Buffer>> = [];

  constructor(
    private readonly level: number,
    /** Blocks deflating at once: one per core, within libuv's pool of 4 threads. */
    private readonly depth = Math.max(2, Math.min(os.availableParallelism(), 4)),
  ) {
    super({ readableHighWaterMark: BLOCK, writableHighWaterMark: BLOCK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingSize += chunk.length;
    this.deflateBlocks(false).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.deflateBlocks(true).then(() => {
      this.push(FINAL_BLOCK);
      callback();
    }, callback);
  }

  /** Starts every whole block (and at the end the rest); passes on finished ones, in order. */
  private async deflateBlocks(end: boolean): Promise<void> {
    while (this.pendingSize >= BLOCK || (end && this.pendingSize > 0)) {
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const block = all.subarray(0, BLOCK);
      const rest = all.subarray(block.length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingSize = rest.length;
      this.start(block);
      if (this.inFlight.length >= this.depth) this.push(await this.inFlight.shift()!);
    }
    if (end) while (this.inFlight.length > 0) this.push(await this.inFlight.shift()!);
  }

  private start(block: Buffer): void {
    const dictionary = this.tail;
    this.tail = block.subarray(Math.max(0, block.length - WINDOW));
    const deflated = deflateRaw(block, {
      level: this.level,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(dictionary ? { dictionary } : {}),
    });
    // Awaited in order by deflateBlocks; until then a failure must not count as unhandled.
    deflated.catch(() => {});
    this.inFlight.push(deflated);
  }
}
