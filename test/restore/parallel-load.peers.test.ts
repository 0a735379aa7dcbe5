import { expect } from 'chai';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveInvalidError } from '../../src/errors.js';
import { DumpGuard } from '../../src/pg/dump/guard/stream.js';
import { PsqlFailedError, startPsql } from '../../src/pg/psql.js';
import { findPgTool, type PgTool } from '../../src/pg/tools.js';
import { DumpFilter, type DumpFilterOptions } from '../../src/restore/dump-filter.js';
import { DataRouter, LoadCoordinator, runHelper, watchMarkers } from '../../src/restore/parallel-load.js';
import { startCluster, type Cluster } from '../../src/sandbox/cluster.js';
import { CLUSTER_DUMP_END } from '../support/archives.js';

/**
 * The parallel load's pieces against a real PostgreSQL and real psqls, wired as the restore's load
 * step wires them (src/restore/steps.ts): the main side (filter, guard, DataRouter, psql) and one
 * helper (runHelper: its own filter, guard and psql). The main side's input is fed by the test, so
 * which side takes which COPY block is decided, not raced: the main side is held inside its first
 * block until the helper took the second.
 */
describe('parallel load: COPY blocks in a second session, the rest in order in the first', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let psqlTool: PgTool;
  const password = 'par-Load-pw1';
  let run = 0;

  before(async () => {
    cluster = await startCluster({ password });
    psqlTool = await findPgTool({ pgBin: undefined, installDir: undefined, platform: process.platform }, 'psql');
  });
  after(async () => {
    await cluster?.destroy();
  });

  const config = () => ({ pg: { host: cluster.host, port: cluster.port, user: cluster.adminUser, password } });
  const filterOptions = (): DumpFilterOptions => ({ existingRoles: new Set([cluster.adminUser]), adminRole: cluster.adminUser });

  const rows = (table: string, n: number, bad?: number) =>
    Array.from({ length: n }, (_, i) => (i + 1 === bad ? `oops\tnot a number\n` : `${(i * 7919) % n}\t${table}-${i}\n`)).join('');

  /** A pg_dumpall script: a database with tables a and b; `post` runs after the data (a barrier). */
  function dump(database: string, options: { a?: string; b?: string; preData?: string; post?: string } = {}) {
    const head = [
      '--',
      '-- PostgreSQL database cluster dump',
      '--',
      '',
      "SET client_encoding = 'UTF8';",
      `CREATE DATABASE ${database} WITH TEMPLATE = template0 ENCODING = 'UTF8';`,
      '',
      `\\connect ${database}`,
      '',
      "SET client_encoding = 'UTF8';",
      'SET standard_conforming_strings = on;',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      options.preData ?? '',
      'CREATE TABLE public.a (id integer NOT NULL, v text);',
      'CREATE TABLE public.b (id integer NOT NULL, v text);',
      '',
    ].join('\n');
    const a = `COPY public.a (id, v) FROM stdin;\n${options.a ?? rows('a', 20_000)}\\.\n\n`;
    const b = `SET search_path = public;\nCOPY b (id, v) FROM stdin;\n${options.b ?? rows('b', 3_000)}\\.\n\n`;
    const tail = [options.post ?? '', 'ALTER TABLE ONLY public.a ADD CONSTRAINT a_pkey PRIMARY KEY (v);', '', ...CLUSTER_DUMP_END].join(
      '\n',
    );
    return { head, a, b, tail, whole: head + a + b + tail };
  }

  /**
   * Loads `main` (fed in parts by `feed`) with one helper reading `helperText`, as the load step
   * does. Returns how each side ended.
   */
  async function load(helperText: string, feed: (main: PassThrough, coordinator: LoadCoordinator) => Promise<void>) {
    const coordinator = new LoadCoordinator();
    const router = new DataRouter(coordinator);
    const psql = startPsql(psqlTool, config(), 'postgres', { stdout: 'pipe' });
    watchMarkers(psql.stdout!, coordinator);
    psql.finished.catch((error: unknown) => coordinator.stop(error));
    coordinator.onStop(() => psql.kill());
    const helper = runHelper(coordinator, async () => Readable.from([Buffer.from(helperText)]), 'dump.sql', filterOptions(), {
      psql: psqlTool,
      config: config(),
    });
    const main = new PassThrough();
    const fed = pipeline(main, new DumpFilter(filterOptions()), new DumpGuard('dump.sql'), router, psql.stdin).catch((error: unknown) => {
      psql.kill();
      coordinator.stop(error);
      throw error;
    });
    const feeding = feed(main, coordinator).catch(() => {});
    const [psqlEnd, fedEnd] = await Promise.allSettled([psql.finished, fed, helper, feeding]);
    return { coordinator, router, psqlEnd, fedEnd };
  }

  /** Feeds the main side: the head and the start of block a; then, once the helper took block b, the rest. */
  const mainHeldInA = (text: ReturnType<typeof dump>) => async (main: PassThrough, coordinator: LoadCoordinator) => {
    const cut = text.head.length + text.a.length / 2;
    main.write(text.whole.slice(0, cut));
    for (let i = 0; i < 500 && !coordinator.claims.has(1); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    main.end(text.whole.slice(cut));
  };

  const tableText = async (database: string, table: string) =>
    (await cluster.query<{ id: number; v: string }>(`SELECT id, v FROM public.${table}`, undefined, database)).map(
      (r) => `${r.id}\t${r.v}`,
    );

  it('loads block b in the helper while the main side loads a; both tables whole, their rows in the dump order', async () => {
    const database = `par_ok_${run++}`;
    const text = dump(database);
    const { coordinator, psqlEnd, fedEnd } = await load(text.whole, mainHeldInA(text));
    expect(psqlEnd.status, String((psqlEnd as PromiseRejectedResult).reason)).to.equal('fulfilled');
    expect(fedEnd.status, String((fedEnd as PromiseRejectedResult).reason)).to.equal('fulfilled');
    expect([...coordinator.claims.keys()]).to.deep.equal([1]);
    // A sequential scan returns a table in its physical order: the order the rows were loaded in.
    expect(await tableText(database, 'a')).to.deep.equal(rows('a', 20_000).trimEnd().split('\n'));
    expect(await tableText(database, 'b')).to.deep.equal(rows('b', 3_000).trimEnd().split('\n'));
    const indexes = await cluster.query("SELECT 1 FROM pg_indexes WHERE indexname = 'a_pkey'", undefined, database);
    expect(indexes).to.have.length(1);
  });

  it("holds the helper's COPY until the main psql ran the pre-data (a slow CREATE TABLE b is waited for)", async () => {
    const database = `par_gate_${run++}`;
    // The helper reaches block b at once; its table is created only after the sleep.
    const text = dump(database, { preData: 'SELECT pg_catalog.pg_sleep(1.5);' });
    const { coordinator, psqlEnd, fedEnd } = await load(text.whole, mainHeldInA(text));
    expect(fedEnd.status, String((fedEnd as PromiseRejectedResult).reason)).to.equal('fulfilled');
    expect(psqlEnd.status).to.equal('fulfilled');
    expect(coordinator.error).to.equal(undefined);
    expect(await tableText(database, 'b')).to.have.length(3_000);
  });

  it("holds the statements after the data until the helper's block is committed (a check of b's rows passes)", async () => {
    const database = `par_barrier_${run++}`;
    const post =
      "DO $$ BEGIN IF (SELECT count(*) FROM public.b) <> 200000 THEN RAISE EXCEPTION 'post-data ran before b was loaded'; END IF; END $$;";
    // b is big enough that its load is still going when the main side is done with a.
    const text = dump(database, { b: rows('b', 200_000), post });
    const { coordinator, psqlEnd, fedEnd } = await load(text.whole, mainHeldInA(text));
    expect(coordinator.claims.has(1)).to.equal(true);
    expect(fedEnd.status, String((fedEnd as PromiseRejectedResult).reason)).to.equal('fulfilled');
    expect(psqlEnd.status, String((psqlEnd as PromiseRejectedResult).reason)).to.equal('fulfilled');
  });

  it("a bad row in the helper's block: the load fails naming that row's line of the dump", async () => {
    const database = `par_badhelper_${run++}`;
    const text = dump(database, { b: rows('b', 3_000, 1234) });
    const { coordinator, psqlEnd } = await load(text.whole, mainHeldInA(text));
    const error = coordinator.error;
    expect(error).to.be.instanceOf(PsqlFailedError);
    const bad = text.whole.split('\n').indexOf('oops\tnot a number') + 1;
    expect((error as PsqlFailedError).sqlError?.line).to.equal(bad);
    // The main psql was stopped for it.
    expect(psqlEnd.status).to.equal('rejected');
  });

  it("a bad row in the main side's block: its psql line is mapped back to the dump's (marker added, b left out)", async () => {
    const database = `par_badmain_${run++}`;
    // Block b (the helper's) comes before the bad row's block in psql's input only as the lines left out.
    const text = dump(database, { a: rows('a', 20_000, 15_000) });
    const { router, psqlEnd } = await load(text.whole, mainHeldInA(text));
    expect(psqlEnd.status).to.equal('rejected');
    const error = (psqlEnd as PromiseRejectedResult).reason as PsqlFailedError;
    // psql names the block's `\.` line (of its input) for bad COPY data: mapped back, it is the dump's.
    const end = text.head.split('\n').length - 1 + 1 + 20_000 + 1;
    expect(router.dumpLine(error.sqlError!.line!)).to.equal(end);
  });

  it('block b read differently by the helper (the archive changed between the reads): the load fails, archive invalid', async () => {
    const database = `par_changed_${run++}`;
    const text = dump(database);
    const changed = text.whole.replace('\tb-17\n', '\tb-17 changed\n');
    expect(changed).to.not.equal(text.whole);
    const { fedEnd } = await load(changed, mainHeldInA(text));
    expect(fedEnd.status).to.equal('rejected');
    const error = (fedEnd as PromiseRejectedResult).reason;
    expect(error).to.be.instanceOf(ArchiveInvalidError);
    expect(String(error)).to.match(/COPY block 2 of the dump \(line \d+\) read differently the second time/);
  });
});
