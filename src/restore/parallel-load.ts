import { createHash, randomBytes, type Hash } from 'node:crypto';
import readline from 'node:readline';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DumpLineEditor, type DumpLine, type LineJudge, type LineVerdict } from '../pg/dump/line-reader.js';
import { DumpGuard } from '../pg/dump/guard/stream.js';
import { connectTarget } from '../pg/dump/syntax.js';
import { DumpFilter, type DumpFilterOptions } from './dump-filter.js';
import { copyRowOf, startPsql, PsqlFailedError, type PsqlProcess } from '../pg/psql.js';
import type { PgTool } from '../pg/tools.js';
import type { PgSettings } from '../pg/connection.js';
import { ArchiveInvalidError, JobFailedError } from '../errors.js';

/**
 * The table data of a dump loaded in several sessions (restore --jobs), the way pg_restore --jobs
 * does it, for a plain pg_dumpall script read as a stream.
 *
 * The main session (psql, fed by the restore's pipeline through the DataRouter) runs the whole
 * script as before, except the COPY blocks a helper took. A helper reads the same dump entry again
 * (its own inflate, filter and guard), skips ahead, and takes the COPY blocks the main session has
 * not reached yet, loading them in a psql of its own; the main session skips the blocks taken.
 * Each block goes whole to one session, so every table's rows are loaded in the dump's order, as
 * psql -f loads them. What a table needs before its data (the database, CREATE TABLE and the rest
 * of the pre-data) and what needs the data (indexes, constraints, triggers: everything after it)
 * stay in the main session, in order:
 *  - a helper starts on a database's blocks only once the main psql has run everything before
 *    that database's first COPY: the router writes a marker there (a SELECT of a random token), and
 *    the helper waits for psql to print it;
 *  - the main session passes the first statement after a database's data (anything but a COPY
 *    block, a comment, SET, set_config or setval: a "barrier") only once the helpers' blocks of that
 *    database are loaded and committed (their psql exited 0).
 * A block a helper loaded is proven to be the dump's bytes: both sides hash its lines (the main
 * side while skipping them), and the hashes must agree; the main side's hash of the whole dump is
 * checked against the manifest as before.
 */

/** A block of COPY data, numbered in the order of the dump (both sides count them alike). */
interface Claim {
  segment: number;
  /** Set by the helper once its session for the block's database exited 0; rejected on a failure. */
  loaded: Deferred<void>;
  /** SHA-256 of the block's lines as each side read them. */
  mainDigest?: string;
  helperDigest?: string;
  /** Dump lines of the block's COPY header and `\.` (from the main side). */
  header?: number;
  end?: number;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve: (value) => {
      d.settled = true;
      resolve(value);
    },
    reject: (error) => {
      d.settled = true;
      reject(error);
    },
  };
  // Awaited where needed; until then a rejection must not count as unhandled.
  promise.catch(() => {});
  return d;
}

/** What both sides need to know of each other. */
export class LoadCoordinator {
  /** In the markers (a SELECT of it the main psql prints): a dump cannot forge one it does not know. */
  readonly token = `cupm-backup-segment-${randomBytes(8).toString('hex')}-`;
  /** The highest block number the main side has reached (its COPY header read). */
  mainBlock = -1;
  readonly claims = new Map<number, Claim>();
  /** Databases (segments) whose first COPY the main psql has reached: helpers may load there. */
  private readonly gates = new Map<number, Deferred<void>>();
  /** Segments past their data on the main side: no block there may be taken any more. */
  private readonly closed = new Set<number>();
  /** A helper's failure (or blocks that do not match): the load's story when it stopped the load. */
  private failure: unknown;
  /** Why the load stopped (the failure, or the main side's own error, or a cancel); undefined while it runs. */
  private stopReason: unknown;
  private stopped = false;
  /** Rejected when the load stops: every wait races it. */
  private readonly failed = deferred<never>();
  private readonly stopActions: Array<() => void> = [];
  readonly helpers: Helper[] = [];

  /** Called when the load stops (the load step kills the main psql there). */
  onStop(action: () => void): void {
    if (this.stopped) action();
    else this.stopActions.push(action);
  }

  /** A helper failed, or its blocks do not match: the first such failure is the load's story; all is stopped. */
  fail(error: unknown): void {
    if (this.stopped) return;
    this.failure = error;
    this.stop(error);
  }

  /** Stops the helpers (their psqls killed) and every wait; the main side's own failures come here. */
  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopReason = reason;
    this.failed.reject(reason);
    for (const action of this.stopActions) action();
    for (const claim of this.claims.values()) if (!claim.loaded.settled) claim.loaded.reject(reason);
    for (const gate of this.gates.values()) if (!gate.settled) gate.reject(reason);
    for (const helper of this.helpers) helper.stop();
  }

  get error(): unknown {
    return this.failure;
  }

  /** What a wait that the stop ended throws: the reason, as an Error. */
  stopError(): Error {
    const reason = this.failure ?? this.stopReason;
    return reason instanceof Error ? reason : new JobFailedError('The load was stopped.');
  }

  /** True when `error` is what stopped the load (a wait ended with it), not a failure of its own. */
  stoppedWith(error: unknown): boolean {
    return this.stopped && error === this.stopReason;
  }

  gate(segment: number): Deferred<void> {
    let gate = this.gates.get(segment);
    if (!gate) {
      gate = deferred<void>();
      if (this.stopped) gate.reject(this.stopError());
      this.gates.set(segment, gate);
    }
    return gate;
  }

  /** A line the main psql printed: a marker opens its segment's gate. */
  printed(output: string): void {
    const line = output.trim();
    if (!line.startsWith(this.token)) return;
    const segment = Number(line.slice(this.token.length));
    if (Number.isInteger(segment)) this.gate(segment).resolve();
  }

  /** The helper reached block `block` of `segment`: it takes it when the main side has not reached it. */
  take(block: number, segment: number): boolean {
    if (this.stopped || this.closed.has(segment) || block <= this.mainBlock || this.claims.has(block)) return false;
    this.claims.set(block, { segment, loaded: deferred<void>() });
    return true;
  }

  isClosed(segment: number): boolean {
    return this.closed.has(segment);
  }

  /** The main side is past the data of `segment`: waits until the helpers' blocks there are loaded. */
  async closeSegment(segment: number): Promise<void> {
    this.closed.add(segment);
    for (const helper of this.helpers) helper.segmentClosed(segment);
    const pending = [...this.claims.values()].filter((c) => c.segment === segment).map((c) => c.loaded.promise);
    await Promise.race([Promise.all(pending), this.failed.promise]);
  }

  /** The end of the main side: every block loaded, and each as the main side read it. */
  async finish(): Promise<void> {
    for (const segment of new Set([...this.claims.values()].map((c) => c.segment))) await this.closeSegment(segment);
    if (this.stopped) throw this.stopError();
    for (const [block, claim] of this.claims) {
      if (claim.mainDigest === undefined || claim.mainDigest !== claim.helperDigest) {
        const error = new ArchiveInvalidError(
          `The COPY block ${block + 1} of the dump${claim.header === undefined ? '' : ` (line ${claim.header})`} read differently the second time: the archive changed during the restore, or it is corrupt.`,
          { hint: 'do not restore from this archive; use another one (cupm-backup list)' },
        );
        this.fail(error);
        throw error;
      }
    }
  }
}

/** A line outside COPY data that may matter: statements (upper case), meta-commands (`\`). */
const UPPER_A = 0x41;
const UPPER_Z = 0x5a;
const BACKSLASH = 0x5c;
const HEAD = 8;
const MAX_LINE = 1024 * 1024;

/** Lines a database's data section holds besides COPY blocks: they neither need nor touch table data. */
const DATA_SECTION_LINE = /^(?:SET |SELECT pg_catalog\.set_config\(|SELECT pg_catalog\.setval\(|RESET )/;
/** Lines that change the session (a helper's psql replays them before its blocks); `\encoding` is the guard's one allowed. */
const SESSION_SETTING = /^(?:SET |SELECT pg_catalog\.set_config\(|RESET |\\encoding )/;

/** Where a reader of the dump stands: the database (segment) and COPY block it is in. */
abstract class SectionJudge implements LineJudge {
  segment = 0;
  block = -1;
  /** The current segment has had a COPY block (its data section began). */
  inData = false;
  /** The current segment's data section ended (a barrier line was read). */
  pastData = false;
  database: string | undefined;
  readonly editor = new DumpLineEditor(this, { headLength: HEAD, maxLine: MAX_LINE });

  head(source: Buffer, start: number, _stop: number, inCopy: boolean): LineVerdict {
    if (inCopy) return 'pass';
    const first = source[start]!;
    if (first === BACKSLASH) return 'whole';
    return first >= UPPER_A && first <= UPPER_Z ? 'whole' : 'pass';
  }

  whole(bytes: Buffer, kind: DumpLine['kind'], text: string): Buffer {
    if (kind === 'copy-start') {
      this.inData = true;
      this.block++;
      return this.copyStart(bytes);
    }
    if (kind === 'copy-end') return this.copyEnd(bytes);
    if (kind === 'copy-data') return bytes;
    const target = connectTarget(text);
    if (target !== undefined) {
      const ending = this.segment;
      this.segment++;
      this.database = target;
      this.inData = false;
      this.pastData = false;
      return this.connect(bytes, ending);
    }
    if (SESSION_SETTING.test(text)) return this.setting(bytes);
    if (this.inData && !this.pastData && !DATA_SECTION_LINE.test(text) && !text.startsWith('\\')) {
      this.pastData = true;
      return this.barrier(bytes);
    }
    return bytes;
  }

  protected abstract copyStart(bytes: Buffer): Buffer;
  protected abstract copyEnd(bytes: Buffer): Buffer;
  protected abstract connect(bytes: Buffer, ending: number): Buffer;
  protected abstract barrier(bytes: Buffer): Buffer;
  protected setting(bytes: Buffer): Buffer {
    return bytes;
  }
}

/** One action of a side, at its place among the pieces a chunk became (found by identity). */
type Action = (piece: Buffer) => Promise<void> | void;

/** A side's reading: a Map from a piece (a Buffer the judge returned) to what to do there. */
class Actions {
  private readonly map = new Map<Buffer, Action>();
  /** A piece that stands for `action`: `bytes` itself when unique, else a copy. */
  add(bytes: Buffer, action: Action): Buffer {
    const piece = this.map.has(bytes) ? Buffer.from(bytes) : bytes;
    this.map.set(piece, action);
    return piece;
  }
  take(piece: Buffer): Action | undefined {
    const action = this.map.get(piece);
    if (action) this.map.delete(piece);
    return action;
  }
}

/**
 * The main side, between the guard and the main psql: writes the markers, skips the blocks a helper
 * took (hashing them), and holds a barrier until the helpers' blocks before it are loaded. It
 * keeps the map from the main psql's line numbers to the dump's (markers added, blocks left out).
 */
export class DataRouter extends Transform {
  private readonly judge: MainJudge;

  constructor(coordinator: LoadCoordinator) {
    super();
    this.judge = new MainJudge(coordinator, (piece) => this.push(piece));
  }

  /** COPY blocks read so far. */
  get blocks(): number {
    return this.judge.block + 1;
  }

  /** The dump's line for a line number the main psql gave. */
  dumpLine(psqlLine: number): number {
    return this.judge.dumpLine(psqlLine);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.judge.route(this.judge.editor.feed(chunk)).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.judge
      .route(this.judge.editor.finish())
      .then(() => this.judge.end())
      .then(() => callback(), callback);
  }
}

class MainJudge extends SectionJudge {
  private readonly actions = new Actions();
  /** Set while skipping a block a helper took: its lines go into this hash, not to psql. */
  private skipping: { hash: Hash; claim: Claim } | undefined;
  /** Segments whose marker was written. */
  private readonly marked = new Set<number>();
  /** psql line -> dump line: from `psql` on, dump = psql + `shift` (sorted by psql). */
  private readonly shifts: Array<{ psql: number; shift: number }> = [{ psql: 1, shift: 0 }];
  private shift = 0;

  constructor(
    private readonly coordinator: LoadCoordinator,
    private readonly emit: (piece: Buffer) => void,
  ) {
    super();
  }

  dumpLine(psqlLine: number): number {
    let shift = 0;
    for (const s of this.shifts) if (s.psql <= psqlLine) shift = s.shift;
    return psqlLine + shift;
  }

  async route(pieces: Buffer[]): Promise<void> {
    for (const piece of pieces) {
      const action = this.actions.take(piece);
      if (action) await action(piece);
      else if (this.skipping) this.skipping.hash.update(piece);
      else this.emit(piece);
    }
  }

  async end(): Promise<void> {
    await this.coordinator.closeSegment(this.segment);
    await this.coordinator.finish();
  }

  protected copyStart(bytes: Buffer): Buffer {
    const block = this.block;
    const segment = this.segment;
    const line = this.editor.number;
    this.coordinator.mainBlock = block;
    let marker = '';
    if (!this.marked.has(segment)) {
      this.marked.add(segment);
      // The marker line comes before the header: dump lines from the header on are one less than psql's.
      // A query, not \echo: psql in \restrict mode (pg_dump's, from 17.6/15.14) refuses meta-commands.
      marker = `SELECT '${this.coordinator.token}${segment}';\n`;
      this.shift -= 1;
      this.shifts.push({ psql: line + 1 - this.shift - 1, shift: this.shift });
    }
    const claim = this.coordinator.claims.get(block);
    if (!claim) return marker ? Buffer.concat([Buffer.from(marker, 'latin1'), bytes]) : bytes;
    claim.header = line;
    return this.actions.add(bytes, (piece) => {
      if (marker) this.emit(Buffer.from(marker, 'latin1'));
      const hash = createHash('sha256');
      hash.update(piece);
      this.skipping = { hash, claim };
    });
  }

  protected copyEnd(bytes: Buffer): Buffer {
    const claim = this.coordinator.claims.get(this.block);
    if (!claim || claim.header === undefined || claim.end !== undefined) return bytes;
    const end = this.editor.number;
    claim.end = end;
    // The block's lines are left out: psql's next line is the dump's line after the `\.`.
    const removed = end - claim.header + 1;
    const psqlNext = end + 1 - this.shift - removed;
    this.shift += removed;
    this.shifts.push({ psql: psqlNext, shift: this.shift });
    return this.actions.add(bytes, (piece) => {
      const skipping = this.skipping!;
      skipping.hash.update(piece);
      skipping.claim.mainDigest = skipping.hash.digest('hex');
      this.skipping = undefined;
    });
  }

  protected connect(bytes: Buffer, ending: number): Buffer {
    // A database's data ends with it at the latest.
    return this.actions.add(bytes, async (piece) => {
      await this.coordinator.closeSegment(ending);
      this.emit(piece);
    });
  }

  protected barrier(bytes: Buffer): Buffer {
    const segment = this.segment;
    return this.actions.add(bytes, async (piece) => {
      await this.coordinator.closeSegment(segment);
      this.emit(piece);
    });
  }
}

/** What a helper needs to start psql. */
export interface HelperTools {
  psql: PgTool;
  config: PgSettings;
  /** A helper's psql started (its pid, for the journal: a killed run's psql is ended by the next). */
  started?(pid: number): void;
}

/** A helper's psql on one database, and the blocks it was given. */
interface Session {
  segment: number;
  psql: PsqlProcess;
  blocks: number[];
  /** psql's line of each block's header, with the header's dump line (for messages). */
  lines: Array<{ psql: number; header: number }>;
  /** Lines written to psql so far (settings, whole blocks). */
  written: number;
  /** Writing a block's lines now. */
  inBlock: boolean;
  ended: boolean;
}

/**
 * A helper: reads the dump (a second stream from the archive, through its own filter and guard)
 * and loads the blocks it takes, one psql per database. A Writable at the end of that pipeline.
 */
export class Helper extends Writable {
  private readonly judge: HelperJudge;
  private readonly sessions: Session[] = [];
  private stopped = false;
  /** Ends the helper's read of the archive (its pipeline is given this signal). */
  readonly abort = new AbortController();

  constructor(
    readonly coordinator: LoadCoordinator,
    readonly tools: HelperTools,
  ) {
    super();
    this.judge = new HelperJudge(this);
    coordinator.helpers.push(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.stopped) return callback();
    this.judge.route(this.judge.editor.feed(chunk)).then(
      () => callback(),
      (error) => {
        this.coordinator.fail(error);
        callback();
      },
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.judge
      .route(this.judge.editor.finish())
      .then(() => this.endSession())
      .then(
        () => callback(),
        (error) => {
          this.coordinator.fail(error);
          callback();
        },
      );
  }

  /** Stops at once: its psqls are killed (the coordinator failed, or the load is cancelled). */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const session of this.sessions) session.psql.kill();
  }

  /** The current session, if it is on `segment` and not in a block, ends now (no block may come). */
  segmentClosed(segment: number): void {
    const session = this.current;
    if (session && session.segment === segment && !session.inBlock) this.endSession();
  }

  get current(): Session | undefined {
    const last = this.sessions[this.sessions.length - 1];
    return last && !last.ended ? last : undefined;
  }

  /** A session on the database the helper reads now, started once its gate is open. */
  async session(segment: number, database: string, settings: Buffer[]): Promise<Session> {
    const current = this.current;
    if (current?.segment === segment) return current;
    if (current) this.endSession();
    await this.coordinator.gate(segment).promise;
    if (this.stopped) throw this.coordinator.stopError();
    const psql = startPsql(this.tools.psql, this.tools.config, database);
    if (psql.pid !== undefined) this.tools.started?.(psql.pid);
    const session: Session = { segment, psql, blocks: [], lines: [], written: 0, inBlock: false, ended: false };
    // Its exit 0 is what commits its blocks: the first session's wait after the data ends there.
    void psql.finished.then(
      () => {
        for (const block of session.blocks) this.coordinator.claims.get(block)!.loaded.resolve();
      },
      (error: unknown) => {
        // A stopped helper's psqls were killed: the reason is told by whoever stopped it.
        if (!this.stopped) this.coordinator.fail(this.located(error, session));
      },
    );
    this.sessions.push(session);
    for (const line of settings) await this.setting(session, line);
    return session;
  }

  /** A SET line (one line) for a session. */
  async setting(session: Session, line: Buffer): Promise<void> {
    session.written += 1;
    await this.send(session, line);
  }

  /** Writes to a session's psql, waiting while its pipe is full. */
  async send(session: Session, piece: Buffer): Promise<void> {
    if (this.stopped) throw this.coordinator.stopError();
    const stdin = session.psql.stdin;
    if (!stdin.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
  }

  endSession(): void {
    const session = this.current;
    if (!session) return;
    session.ended = true;
    session.psql.stdin.end();
  }

  /**
   * A helper's psql error, its line made the dump's: for bad COPY data the row's (the header's line
   * + the row the server's CONTEXT names), else the line psql read in the block.
   */
  private located(error: unknown, session: Session): unknown {
    if (!(error instanceof PsqlFailedError) || !error.sqlError?.line) return error;
    const line = error.sqlError.line;
    let at: Session['lines'][number] | undefined;
    for (const l of session.lines) if (l.psql <= line) at = l;
    const row = copyRowOf(error.sqlError);
    const dumpLine = at ? at.header + (row ?? line - at.psql) : undefined;
    return error.atLine(dumpLine);
  }
}

class HelperJudge extends SectionJudge {
  private readonly actions = new Actions();
  /** The session settings of the current database so far (SET lines): a session started on it gets them all first. */
  private settings: Buffer[] = [];
  private sending: { session: Session; hash: Hash; block: number } | undefined;

  constructor(private readonly helper: Helper) {
    super();
  }

  async route(pieces: Buffer[]): Promise<void> {
    for (const piece of pieces) {
      const action = this.actions.take(piece);
      if (action) await action(piece);
      else if (this.sending) {
        this.sending.hash.update(piece);
        await this.helper.send(this.sending.session, piece);
      }
    }
  }

  protected copyStart(bytes: Buffer): Buffer {
    const block = this.block;
    const segment = this.segment;
    const database = this.database;
    const header = this.editor.number;
    if (this.pastData || database === undefined || !this.helper.coordinator.take(block, segment)) return bytes;
    return this.actions.add(bytes, async (piece) => {
      const session = await this.helper.session(segment, database, this.settings);
      session.inBlock = true;
      session.blocks.push(block);
      session.lines.push({ psql: session.written + 1, header });
      const hash = createHash('sha256');
      hash.update(piece);
      this.sending = { session, hash, block };
      await this.helper.send(session, piece);
    });
  }

  protected copyEnd(bytes: Buffer): Buffer {
    const end = this.editor.number;
    return this.actions.add(bytes, async (piece) => {
      const sending = this.sending;
      if (!sending) return;
      const lines = sending.session.lines;
      sending.session.written += end - lines[lines.length - 1]!.header + 1;
      sending.hash.update(piece);
      this.helper.coordinator.claims.get(sending.block)!.helperDigest = sending.hash.digest('hex');
      this.sending = undefined;
      await this.helper.send(sending.session, piece);
      sending.session.inBlock = false;
      if (this.helper.coordinator.isClosed(sending.session.segment)) this.helper.endSession();
    });
  }

  protected connect(bytes: Buffer): Buffer {
    return this.actions.add(bytes, () => {
      this.settings = [];
      this.helper.endSession();
    });
  }

  protected barrier(bytes: Buffer): Buffer {
    return this.actions.add(bytes, () => this.helper.endSession());
  }

  protected override setting(bytes: Buffer): Buffer {
    const segment = this.segment;
    return this.actions.add(bytes, async (piece) => {
      const copy = Buffer.from(piece);
      this.settings.push(copy);
      // A session on this database gets it now, in order; one started later gets all of them first.
      const session = this.helper.current;
      if (session && session.segment === segment) await this.helper.setting(session, copy);
    });
  }
}

/** Reads the main psql's stdout line by line into the coordinator (its markers open the gates). */
export function watchMarkers(stdout: NodeJS.ReadableStream, coordinator: LoadCoordinator): void {
  const lines = readline.createInterface({ input: stdout, crlfDelay: Infinity });
  lines.on('line', (line) => coordinator.printed(line));
}

/**
 * Runs a helper on a second read of the dump, through a filter and guard of its own (the same
 * lines psql would get); settles when it is done or stopped (a failure goes to the coordinator).
 */
export async function runHelper(
  coordinator: LoadCoordinator,
  open: () => Promise<Readable>,
  label: string,
  filterOptions: DumpFilterOptions,
  tools: HelperTools,
): Promise<void> {
  const helper = new Helper(coordinator, tools);
  try {
    await pipeline(await open(), new DumpFilter(filterOptions), new DumpGuard(label), helper, { signal: helper.abort.signal });
  } catch (error) {
    if (!helper.abort.signal.aborted) coordinator.fail(error);
  }
}
