import type { Config } from '../config/config.js';
import {
  CUPM_FIXED_PORTS,
  CUPM_PORT_KEYS,
  DB_PORT_KEY,
  inspectPorts,
  systemProbe,
  type PortHolder,
  type PortProbe,
  type PortUse,
} from '../restore/ports.js';
import { connectionInfo } from '../pg/connection.js';
import { isLocalHost } from '../pg/locality.js';
import { fail, pass, warn, type CheckResult } from './check.js';

/** The program CUPM runs on a port, to tell its own listeners from another program's. */
type CupmProgram = 'apache' | 'jboss' | 'nice' | 'postgres';

const PROGRAMS: Record<CupmProgram, { name: string; matches: RegExp }> = {
  apache: { name: "CUPM's Apache", matches: /^(httpd|apache)/i },
  jboss: { name: "CUPM's JBoss", matches: /^javaw?(\.exe)?$/i },
  nice: { name: "CUPM's NICE engine", matches: /^javaw?(\.exe)?$/i },
  postgres: { name: 'the CUPM database', matches: /^(postgres|postmaster)/i },
};

const KEY_PROGRAM: Record<(typeof CUPM_PORT_KEYS)[number], CupmProgram> = {
  'dfc.jboss.port': 'jboss',
  'dfc.postgres.port': 'postgres',
  'dfc.nice.rmi.registry.internal.port': 'nice',
  'dfc.webport': 'apache',
};

interface PortToCheck {
  id: string;
  port: number;
  /** dfc.properties key, or what the install guide's table says runs there. */
  label: string;
  program: CupmProgram;
  /** A dfc.properties key may be changed to a free port; the table's fixed ports may not. */
  key: string | undefined;
}

/**
 * The ports of dfc.properties and of the install guide's tables: free, or held by CUPM's own
 * program (Apache, JBoss/NICE java, PostgreSQL) — fine on a running server — or taken by another
 * program, which fails and is named (the install guide: they "must not be used by other applications", docs/cupm.md).
 */
export async function portChecks(
  config: Config,
  properties: Map<string, string> | undefined,
  probe: PortProbe = systemProbe,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const ports: PortToCheck[] = [];
  if (!properties) {
    results.push(
      warn(
        'ports.dfc',
        'Ports of dfc.properties',
        'not checked: dfc.properties could not be read (see above)',
        'fix dfc.properties, then run doctor again',
      ),
    );
  } else {
    const dbHost = connectionInfo(config).host;
    const dbLocal = await isLocalHost(dbHost);
    for (const key of CUPM_PORT_KEYS) {
      const raw = properties.get(key)?.trim();
      const id = `ports.${key}`;
      if (raw === undefined) {
        results.push(
          warn(id, `Port of ${key}`, 'not set in dfc.properties', `CUPM uses its default then; set ${key} if this server uses another`),
        );
        continue;
      }
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port < 1 || port > 65535) continue; // reported by the dfc.properties check
      if (key === DB_PORT_KEY && !dbLocal) {
        results.push(pass(id, `Port ${port} (${key})`, `the database runs on ${dbHost}; the port is not used on this host`));
        continue;
      }
      ports.push({ id, port, label: key, program: KEY_PROGRAM[key], key });
    }
  }
  for (const fixed of CUPM_FIXED_PORTS) {
    ports.push({ id: `ports.${fixed.port}`, port: fixed.port, label: fixed.use, program: fixed.program, key: undefined });
  }
  const uses = await inspectPorts(
    ports.map((p) => p.port),
    probe,
  );
  for (const [i, use] of uses.entries()) results.push(portLine(ports[i]!, use));
  return results;
}

function portLine(what: PortToCheck, use: PortUse): CheckResult {
  const title = `Port ${what.port} (${what.label})`;
  const expected = PROGRAMS[what.program];
  if (use.state === 'free') return pass(what.id, title, 'free');
  if (use.state === 'unknown') return pass(what.id, title, 'no program listens on it (a bind test needs more privileges)');
  const program = use.holder?.program;
  if (program === undefined) {
    return warn(
      what.id,
      title,
      `in use by ${holderText(use.holder)}`,
      "run doctor as administrator (or see netstat -ano) to learn which program; it must be CUPM's own",
    );
  }
  if (expected.matches.test(program)) return pass(what.id, title, `in use by ${expected.name} (${holderText(use.holder)})`);
  return fail(
    what.id,
    title,
    `used by ${holderText(use.holder)}, not by ${expected.name}`,
    what.key
      ? `stop that program, or change ${what.key} in sep\\dfc.properties to a free port (cupm-backup migrate --auto-ports does that on a new server)`
      : `stop that program: CUPM needs port ${what.port} and it cannot be changed in dfc.properties`,
  );
}

function holderText(holder: PortHolder | undefined): string {
  if (holder?.program) return `${holder.program}${holder.pid === undefined ? '' : ` (pid ${holder.pid})`}`;
  if (holder?.pid !== undefined) return `pid ${holder.pid}`;
  return 'another program (the OS does not say which)';
}
