// node --import tsx scripts/bench-filter.ts [--dist DIR] [--gb 1] [--live] [--hash]
//
// The restore's dump filter alone: a generated pg_dumpall script (roles, template1, one CUPM-like
// database of COPY blocks, postgres) fed to it in 64 KiB chunks, as the archive reader inflates
// them, to nothing; prints the CPU and wall time (--hash: and a hash of what came out, its CPU
// time counted). --dist DIR measures a build (`npm run build`, or a copy of an older one to
// compare); without it, the sources. A script, not a test. Compare CPU time, in alternating runs: wall time on a
// shared machine says little.
import crypto from 'node:crypto';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { DumpFilter as Filter, DumpFilterOptions } from '../src/restore/dump-filter.js';

const { values } = parseArgs({
  options: {
    dist: { type: 'string' },
    gb: { type: 'string', default: '1' },
    live: { type: 'boolean', default: false },
    hash: { type: 'boolean', default: false },
  },
});
const module = values.dist
  ? pathToFileURL(path.resolve(values.dist, 'restore/dump-filter.js')).href
  : new URL('../src/restore/dump-filter.ts', import.meta.url).href;
const { DumpFilter } = (await import(module)) as { DumpFilter: typeof Filter };

/** A pseudo-random generator with a seed: the same script every run. */
function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** One pg_dumpall script of some 22 MB (8.6 million lines a GB, mostly COPY data). */
function script(): Buffer {
  const rnd = random(1);
  const l = ['--', '-- PostgreSQL database cluster dump', '--', '', 'SET default_transaction_read_only = off;', ''];
  l.push('CREATE ROLE cupm;', "ALTER ROLE cupm WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';");
  l.push('CREATE ROLE postgres;', "ALTER ROLE postgres WITH SUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:y';", '');
  l.push('\\connect template1', 'SET statement_timeout = 0;', 'CREATE PROCEDURAL LANGUAGE plpgsql;');
  l.push('--', '-- PostgreSQL database dump complete', '--');
  l.push("CREATE DATABASE cupm WITH TEMPLATE = template0 ENCODING = 'UTF8';", 'ALTER DATABASE cupm OWNER TO cupm;');
  l.push('GRANT CONNECT ON DATABASE cupm TO cupm;', '\\connect cupm', 'SET statement_timeout = 0;');
  for (let t = 0; t < 200; t++) {
    l.push('', '--', `-- Name: table${t}; Type: TABLE; Schema: public; Owner: cupm`, '--', '');
    l.push(`CREATE TABLE public.table${t} (`, '    id integer NOT NULL,', '    host text,', '    data text', ');');
    l.push(`ALTER TABLE public.table${t} OWNER TO cupm;`, `COPY public.table${t} (id, host, data) FROM stdin;`);
    const rows = 400 + rnd(800);
    for (let r = 0; r < rows; r++) {
      const data = 'SEP0023AB' + 'x'.repeat(rnd(rnd(8) === 0 ? 600 : 120));
      l.push(`${r}\t192.0.2.${rnd(255)}\t${data}\t\\N\t2026-12-04 17:00:00+00`);
    }
    l.push('\\.');
  }
  l.push('--', '-- PostgreSQL database dump complete', '--', '', '\\connect postgres', 'CREATE TABLE public.t (x integer);');
  l.push('COPY public.t (x) FROM stdin;');
  for (let r = 0; r < 20000; r++) l.push(`${r}`);
  l.push('\\.', '--', '-- PostgreSQL database dump complete', '--', '');
  return Buffer.from(l.join('\n') + '\n', 'latin1');
}

const unit = script();
const total = Number(values.gb) * 1024 ** 3;
const CHUNK = 64 * 1024;
function* chunks(): Generator<Buffer> {
  for (let sent = 0; sent < total;) {
    for (let i = 0; i < unit.length && sent < total; i += CHUNK) {
      const chunk = unit.subarray(i, i + CHUNK);
      sent += chunk.length;
      yield chunk;
    }
  }
}

const options: DumpFilterOptions = { existingRoles: new Set(['cupm', 'postgres']), adminRole: 'postgres' };
const roles = new Set(['cupm', 'postgres']);
const filter = new DumpFilter(
  values.live ? { ...options, renameDatabases: new Map([['cupm', 'cupm__incoming']]), holdRoleAlters: roles } : options,
);
const hash = values.hash ? crypto.createHash('sha256') : undefined;
let bytes = 0;
const sink = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    bytes += chunk.length;
    hash?.update(chunk);
    callback();
  },
});
const cpu = process.cpuUsage();
const started = process.hrtime.bigint();
await pipeline(Readable.from(chunks()), filter, sink);
const used = process.cpuUsage(cpu);
const wall = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(
  `${values.dist ?? 'sources'}${values.live ? ' --live' : ''}: ${(total / 1024 ** 3).toFixed(2)} GB, ${filter.lines} lines, ` +
    `CPU ${((used.user + used.system) / 1e6).toFixed(2)} s, wall ${wall.toFixed(2)} s, out ${bytes} bytes${hash ? ` sha256 ${hash.digest('hex').slice(0, 16)}` : ''}\n`,
);
