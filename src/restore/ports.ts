import net from 'node:net';
import { execa } from 'execa';
import { ConfigError, RefusedError } from '../errors.js';

/** The dfc.properties keys naming ports CUPM listens on (docs/cupm.md, the install guide's restore section). */
export const CUPM_PORT_KEYS = ['dfc.jboss.port', 'dfc.postgres.port', 'dfc.nice.rmi.registry.internal.port', 'dfc.webport'] as const;
export const DB_PORT_KEY = 'dfc.postgres.port';

/**
 * The ports of the install guide's tables that no dfc.properties key names (docs/cupm.md), with what
 * CUPM runs there: fixed in CUPM, so a program holding one is a conflict that cannot be moved away.
 */
export const CUPM_FIXED_PORTS: ReadonlyArray<{ port: number; use: string; program: 'apache' | 'jboss' }> = [
  { port: 46443, use: 'HTTPS (Apache)', program: 'apache' },
  { port: 46009, use: 'AJP (JBoss)', program: 'jboss' },
  { port: 46083, use: 'web services (JBoss)', program: 'jboss' },
  { port: 46098, use: 'RMI (JBoss)', program: 'jboss' },
  { port: 46099, use: 'JNP (JBoss)', program: 'jboss' },
  { port: 46444, use: 'JRMP (JBoss)', program: 'jboss' },
  { port: 46445, use: 'transaction manager (JBoss)', program: 'jboss' },
  { port: 46446, use: 'remoting server (JBoss)', program: 'jboss' },
  { port: 46457, use: 'bisocket transport (JBoss)', program: 'jboss' },
];

/** Ports CUPM uses besides the four keys (docs/cupm.md): never chosen by --auto-ports. */
const CUPM_RESERVED = [80, 5432, 46001, 46008, ...CUPM_FIXED_PORTS.map((p) => p.port)];

/** Who listens on a port, as far as the OS tells. */
export interface PortHolder {
  pid: number | undefined;
  program: string | undefined;
}

export interface PortFinding {
  key: string;
  port: number;
  /** free; taken by another program; held by the CUPM database itself; or not checked here. */
  state: 'free' | 'taken' | 'cupm-database' | 'not-checked';
  holder?: PortHolder | undefined;
  /** The free port --auto-ports chose instead. */
  movedTo?: number;
  note?: string;
}

export interface PortCheckOptions {
  /** Where the CUPM database listens, when it runs on this host: dfc.postgres.port may be held by it. */
  databasePort: number | undefined;
  databaseIsLocal: boolean;
  autoPorts: boolean;
  /** For tests and other platforms: how to look at the listening sockets and probe a port. */
  probe?: PortProbe;
}

/** What a port check needs from the OS. */
export interface PortProbe {
  /** Listening TCP sockets by port, with their holder where the OS says. */
  listeners(): Promise<Map<number, PortHolder>>;
  /** Tries to bind the port on every address: 'in-use', 'free', or 'unknown' (e.g. no permission). */
  bind(port: number): Promise<'in-use' | 'free' | 'unknown'>;
  /** Why a port came out 'unknown', for the finding's note (default: no permission to bind it). */
  unknownNote?: string;
}

export interface PortCheckResult {
  findings: PortFinding[];
  /** dfc.properties values --auto-ports changes: key -> new port. */
  moves: Record<string, string>;
}

/**
 * Checks that the ports of the configuration being restored are free on this host (the install guide: they
 * "must not be used by other applications"). A taken port refuses the migration (exit 4) naming
 * port, key and program, unless --auto-ports may move it to a free port. dfc.postgres.port is the
 * database's: it is fine when the CUPM database itself holds it, not checked when the database runs
 * elsewhere, and never moved (the database does not follow; --db-port points CUPM at it).
 */
export async function checkCupmPorts(properties: Map<string, string>, options: PortCheckOptions): Promise<PortCheckResult> {
  const probe = options.probe ?? systemProbe;
  const ports = new Map<string, number>();
  const problems: string[] = [];
  for (const key of CUPM_PORT_KEYS) {
    const raw = properties.get(key);
    if (raw === undefined) continue;
    const port = Number(raw.trim());
    if (!/^\d+$/.test(raw.trim()) || port < 1 || port > 65535) problems.push(`${key}=${raw} is not a port number (1-65535)`);
    else ports.set(key, port);
  }
  if (problems.length > 0) {
    throw new ConfigError('dfc.properties in the archive has ports that are not numbers:', { problems, state: 'nothing was changed' });
  }

  const listeners = await probe.listeners();
  const findings: PortFinding[] = [];
  for (const key of CUPM_PORT_KEYS) {
    const port = ports.get(key);
    if (port === undefined) {
      findings.push({ key, port: 0, state: 'not-checked', note: 'not set in dfc.properties' });
      continue;
    }
    if (key === DB_PORT_KEY && !options.databaseIsLocal) {
      findings.push({ key, port, state: 'not-checked', note: 'the database runs on another host' });
      continue;
    }
    if (key === DB_PORT_KEY && port === options.databasePort) {
      findings.push({ key, port, state: 'cupm-database', holder: listeners.get(port) });
      continue;
    }
    const bound = await probe.bind(port);
    const holder = listeners.get(port);
    const taken = holder !== undefined || bound === 'in-use';
    findings.push({
      key,
      port,
      state: taken ? 'taken' : 'free',
      holder,
      note:
        !taken && bound === 'unknown'
          ? (probe.unknownNote ?? 'could not be probed (no permission to bind it); no program was seen listening')
          : undefined,
    });
  }

  const moves: Record<string, string> = {};
  if (options.autoPorts) {
    const avoid = new Set([...CUPM_RESERVED, ...ports.values()]);
    for (const finding of findings) {
      if (finding.state !== 'taken' || finding.key === DB_PORT_KEY) continue;
      const free = await findFreePort(finding.port, avoid, probe, listeners);
      if (free === undefined) continue;
      finding.movedTo = free;
      avoid.add(free);
      moves[finding.key] = String(free);
    }
  }

  const conflicts = findings.filter((f) => f.state === 'taken' && f.movedTo === undefined);
  if (conflicts.length > 0) {
    const dbConflict = conflicts.some((f) => f.key === DB_PORT_KEY);
    throw new RefusedError('Ports the restored CUPM needs are used by other programs on this host:', {
      problems: conflicts.map(describeConflict),
      state: 'nothing was changed',
      hint: [
        conflicts.some((f) => f.key !== DB_PORT_KEY)
          ? 'stop those programs, or run with --auto-ports to move CUPM to free ports (dfc.properties is rewritten)'
          : '',
        dbConflict ? `${DB_PORT_KEY} names the port of the database: pass --db-port with the port the CUPM database listens on` : '',
      ]
        .filter(Boolean)
        .join('; '),
    });
  }
  return { findings, moves };
}

/** "port 46008 (dfc.jboss.port) is used by java (pid 4242)" */
/**
 * When the dfc.properties being restored points CUPM at another database port than the one the
 * admin connection reaches PostgreSQL on: the warning to show (restore and migrate alike), or
 * undefined. Only for a single-host value (a hostlist may name ports per host).
 */
export function databasePortMismatch(properties: Map<string, string>, databasePort: number): string | undefined {
  const text = properties.get(DB_PORT_KEY)?.trim();
  if (text === undefined || !/^\d{1,5}$/.test(text) || Number(text) === databasePort) return undefined;
  return `${DB_PORT_KEY} is ${text} in the restored dfc.properties, but PostgreSQL here listens on ${databasePort} (PGPORT): CUPM would connect to the wrong port. Pass --db-port ${databasePort} to rewrite it (dfc.properties and dfc-ds.xml)`;
}

export function describeConflict(finding: PortFinding): string {
  const holder = finding.holder?.program
    ? `${finding.holder.program}${finding.holder.pid === undefined ? '' : ` (pid ${finding.holder.pid})`}`
    : finding.holder?.pid !== undefined
      ? `pid ${finding.holder.pid}`
      : 'another program (the OS does not say which)';
  return `port ${finding.port} (${finding.key}) is used by ${holder}`;
}

/** What is on a port right now. */
export interface PortUse {
  port: number;
  /** in-use: a program listens (named in `holder` where the OS says); unknown: could not be probed and nobody was seen listening. */
  state: 'free' | 'in-use' | 'unknown';
  holder: PortHolder | undefined;
}

/** Looks at each port the way the migration check does: the listening sockets and a bind test. */
export async function inspectPorts(ports: number[], probe: PortProbe = systemProbe): Promise<PortUse[]> {
  const listeners = await probe.listeners();
  const uses: PortUse[] = [];
  for (const port of ports) {
    const holder = listeners.get(port);
    const bound = holder === undefined ? await probe.bind(port) : 'in-use';
    uses.push({ port, state: holder !== undefined || bound === 'in-use' ? 'in-use' : bound, holder });
  }
  return uses;
}

/** The first free port above `from` (wrapping to 1024), not reserved by CUPM nor chosen already. */
async function findFreePort(
  from: number,
  avoid: Set<number>,
  probe: PortProbe,
  listeners: Map<number, PortHolder>,
): Promise<number | undefined> {
  const candidates = function* () {
    for (let p = from + 1; p <= 65535; p++) yield p;
    for (let p = 1024; p < from; p++) yield p;
  };
  for (const port of candidates()) {
    if (avoid.has(port) || listeners.has(port)) continue;
    if ((await probe.bind(port)) === 'free') return port;
  }
  return undefined;
}

/**
 * The probe of another machine (CUPM_SERVER: the tool runs on an admin host): a port is in use
 * when a TCP connection to HOST:PORT is accepted, free when it is refused; no answer within
 * `timeoutMs` (a firewall dropping it) leaves it unknown. No program names: the server does not say.
 */
export function remoteProbe(host: string, timeoutMs = 5_000): PortProbe {
  return {
    listeners: async () => new Map(),
    bind: (port) => connectTo(host, port, timeoutMs),
    unknownNote: `could not be probed: ${host} neither accepted nor refused a connection (a firewall may drop it)`,
  };
}

function connectTo(host: string, port: number, timeoutMs: number): Promise<'in-use' | 'free' | 'unknown'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answer: 'in-use' | 'free' | 'unknown') => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done('unknown'));
    socket.once('connect', () => done('in-use'));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'free' : 'unknown'));
  });
}

/** The probe of this machine: ss (Linux), netstat + tasklist (Windows), lsof (others); real binds. */
export const systemProbe: PortProbe = {
  async listeners() {
    try {
      if (process.platform === 'win32') return await windowsListeners();
      if (process.platform === 'linux') return await linuxListeners();
      return await lsofListeners();
    } catch {
      // No listing tool: the bind test alone decides, without a program name.
      return new Map();
    }
  },
  async bind(port) {
    const results = await Promise.all([tryBind(port, '0.0.0.0', false), tryBind(port, '::', true)]);
    if (results.includes('in-use')) return 'in-use';
    if (results[0] === 'unknown') return 'unknown';
    return 'free';
  },
};

function tryBind(port: number, host: string, ipv6Only: boolean): Promise<'in-use' | 'free' | 'unknown'> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve('in-use');
      // No IPv6 on this host: nothing can listen there either.
      else if (ipv6Only && (error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT')) resolve('free');
      else resolve('unknown');
    });
    server.listen({ port, host, exclusive: true, ipv6Only }, () => server.close(() => resolve('free')));
  });
}

/** `ss -ltnpH`: LISTEN 0 128 0.0.0.0:5432 0.0.0.0:* users:(("postgres",pid=812,fd=5)) */
export function parseSs(output: string): Map<number, PortHolder> {
  const map = new Map<number, PortHolder>();
  for (const line of output.split('\n')) {
    const columns = line.trim().split(/\s+/);
    const local = columns[3];
    if (!local) continue;
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    if (!Number.isInteger(port) || port <= 0) continue;
    const users = /users:\(\("((?:[^"\\]|\\.)*)",pid=(\d+)/.exec(line);
    const holder = { program: users?.[1], pid: users ? Number(users[2]) : undefined };
    if (!map.has(port) || (holder.program && !map.get(port)?.program)) map.set(port, holder);
  }
  return map;
}

async function linuxListeners(): Promise<Map<number, PortHolder>> {
  const { stdout } = await execa('ss', ['-ltnpH'], { timeout: 15_000, stdin: 'ignore' });
  return parseSs(stdout);
}

/**
 * `netstat -ano -p TCP` (and TCPv6): listening sockets are the ones whose foreign address is
 * 0.0.0.0:0 or [::]:0, which holds whatever the language of the state column.
 */
export function parseNetstat(output: string): Map<number, number> {
  const map = new Map<number, number>();
  for (const line of output.split(/\r?\n/)) {
    const columns = line.trim().split(/\s+/);
    if (!/^TCP/i.test(columns[0] ?? '') || !/^(?:0\.0\.0\.0|\[::\]):0$/.test(columns[2] ?? '')) continue;
    const port = Number(columns[1]!.slice(columns[1]!.lastIndexOf(':') + 1));
    const pid = Number(columns[columns.length - 1]);
    if (Number.isInteger(port) && Number.isInteger(pid) && !map.has(port)) map.set(port, pid);
  }
  return map;
}

async function windowsListeners(): Promise<Map<number, PortHolder>> {
  const pids = new Map<number, number>();
  for (const protocol of ['TCP', 'TCPv6']) {
    const { stdout } = await execa('netstat', ['-ano', '-p', protocol], { timeout: 30_000, stdin: 'ignore', reject: false });
    for (const [port, pid] of parseNetstat(stdout)) if (!pids.has(port)) pids.set(port, pid);
  }
  const names = new Map<number, string>();
  const { stdout } = await execa('tasklist', ['/FO', 'CSV', '/NH'], { timeout: 30_000, stdin: 'ignore', reject: false });
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^"([^"]*)","(\d+)"/.exec(line);
    if (match) names.set(Number(match[2]), match[1]!);
  }
  const map = new Map<number, PortHolder>();
  for (const [port, pid] of pids) map.set(port, { pid, program: names.get(pid) });
  return map;
}

async function lsofListeners(): Promise<Map<number, PortHolder>> {
  const { stdout } = await execa('lsof', ['-nP', '-iTCP', '-sTCP:LISTEN', '-F', 'pcn'], {
    timeout: 15_000,
    stdin: 'ignore',
    reject: false,
  });
  const map = new Map<number, PortHolder>();
  let pid: number | undefined;
  let program: string | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('p')) pid = Number(line.slice(1));
    else if (line.startsWith('c')) program = line.slice(1);
    else if (line.startsWith('n')) {
      const port = Number(line.slice(line.lastIndexOf(':') + 1));
      if (Number.isInteger(port) && !map.has(port)) map.set(port, { pid, program });
    }
  }
  return map;
}
