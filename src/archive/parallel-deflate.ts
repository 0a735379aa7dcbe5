import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const deflateRaw = promisify(zlib.deflateRaw);

/** Input per block: large enough that a block's thread-pool round trip costs nothing next to it. */
export const DEFLATE_BLOCK = 1024 * 1024;
/** Deflate looks back at most 32 KiB: the dictionary a block needs from the one before. */
const WINDOW = 32 * 1024;
/** An empty final block: it ends a stream whose last block was sync-flushed. */
const FINAL_BLOCK = zlib.deflateRawSync(Buffer.alloc(0));
/** Output buffer per zlib call: a deflated block (~1/7 of its input here) fits in one. */
const OUTPUT_CHUNK = 256 * 1024;

/**
 * Raw deflate on several cores, the way pigz does it: the input is cut into 1 MiB blocks, each
 * deflated on libuv's thread pool with the 32 KiB before it as its dictionary and ended with a
 * sync flush (a byte-aligned empty stored block), so the blocks joined in order are one deflate
 * stream that any inflater reads (unzip, Java, ours); the last block ends it. The dictionary
 * keeps matches across block edges, so the output is within a fraction of a percent of a single
 * stream's. A single zlib stream deflates on one core and sets the backup's pace; this lets the
 * dump's rate set it (README "Performance").
 *
 * The input is copied once, into block buffers that are reused: joining chunks into blocks with
 * Buffer.concat, a fresh 1 MiB each, cost 0.9 CPU-seconds per 250 MB beside 1.6 of deflate, in
 * copies and page faults; now 0.3 (--cpu-prof and perf, README "Performance"). Memory is bounded:
 * at most `depth` blocks in flight, and the Transform's backpressure holds the input while the
 * reader of the output is behind.
 */
export class ParallelDeflate extends Transform {
  private block: Buffer | undefined;
  private filled = 0;
  /** Block buffers whose deflate is done, to be filled again. */
  private readonly spare: Buffer[] = [];
  /** The last WINDOW bytes of the block before the one being filled (a copy: its buffer is reused). */
  private dictionary: Buffer | undefined;
  private readonly inFlight: Array<{ output: Promise<Buffer>; input: Buffer }> = [];

  constructor(
    private readonly level: number,
    /** Blocks deflating at once: one per core, within libuv's pool of 4 threads. */
    private readonly depth = Math.max(2, Math.min(os.availableParallelism(), 4)),
  ) {
    super({ readableHighWaterMark: DEFLATE_BLOCK, writableHighWaterMark: DEFLATE_BLOCK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.collect(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  /** Copies `chunk` into block buffers, starting each block as it fills. */
  private async collect(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      this.block ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(DEFLATE_BLOCK);
      const copied = chunk.copy(this.block, this.filled, offset);
      offset += copied;
      this.filled += copied;
      if (this.filled === DEFLATE_BLOCK) await this.start(zlib.constants.Z_SYNC_FLUSH);
    }
  }

  /** The rest of the input ends the stream; when there is no rest (or no input), an empty final block does. */
  private async finish(): Promise<void> {
    const rest = this.filled > 0;
    if (rest) await this.start(zlib.constants.Z_FINISH);
    while (this.inFlight.length > 0) await this.passOldest();
    if (!rest) this.push(FINAL_BLOCK);
  }

  private async start(flush: number): Promise<void> {
    const input = this.block!;
    const block = input.subarray(0, this.filled);
    this.block = undefined;
    this.filled = 0;
    const dictionary = this.dictionary;
    this.dictionary = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
    const output = deflateRaw(block, {
      level: this.level,
      finishFlush: flush,
      chunkSize: OUTPUT_CHUNK,
      ...(dictionary ? { dictionary } : {}),
    });
    // Awaited in order by passOldest; until then a failure must not count as unhandled.
    output.catch(() => {});
    this.inFlight.push({ output, input });
    if (this.inFlight.length >= this.depth) await this.passOldest();
  }

  /** Waits for the oldest block, passes its output on, and keeps its buffer for another block. */
  private async passOldest(): Promise<void> {
    const { output, input } = this.inFlight.shift()!;
    const deflated = await output;
    this.spare.push(input);
    this.push(deflated);
  }
}
