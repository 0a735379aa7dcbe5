import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./systemctl.cjs', import.meta.url));

/** One unit as the fake systemd knows it. */
export interface FakeUnit {
  /** The unit name without `.service`. */
  name: string;
  /** The ActiveState word: active, inactive, failed, activating, deactivating ... */
  active: string;
  /** is-active calls that still show activating/deactivating after start/stop returned (default 0). */
  transitionQueries?: number;
  /** `stop` or `start` never finishes (a stop job stuck on a hung process). */
  hangsOn?: 'stop' | 'start';
  /** `start` fails: the control process exited with an error. */
  failsToStart?: boolean;
  /** `start` succeeds, then the main process dies: the unit ends up failed. */
  diesAfterStart?: boolean;
  /** stop/start are refused by polkit (not root). */
  authRequired?: boolean;
}

/** One systemctl run, as the fake logged it. */
export interface FakeSystemctlCall {
  args: string[];
  /** null for a run that hung until it was killed. */
  exitCode: number | null;
  /** What it printed on stdout, trimmed (the state word, for is-active). */
  stdout: string;
}

/** A scripted systemctl in a temp dir: `<root>/bin/systemctl`, state in `<root>/state/`. */
export interface FakeSystemctl {
  root: string;
  /** The absolute path of the fake, for the `systemctl` option. */
  systemctl: string;
  /** Every run so far, in order. */
  calls(): Promise<FakeSystemctlCall[]>;
  /** The runs of one verb (`is-active`, `show`, `stop`, `start`). */
  callsOf(verb: string): Promise<FakeSystemctlCall[]>;
  cleanup(): Promise<void>;
}

/** Creates a fake systemctl knowing `units`; any other unit is not-found. */
export async function createFakeSystemctl(units: FakeUnit[]): Promise<FakeSystemctl> {
  const root = await mkdtemp(path.join(tmpdir(), 'cupm-fake-systemctl-'));
  const unitsDir = path.join(root, 'state', 'units');
  await mkdir(path.join(root, 'bin'));
  await mkdir(unitsDir, { recursive: true });
  const systemctl = path.join(root, 'bin', 'systemctl');
  await copyFile(SCRIPT, systemctl);
  await chmod(systemctl, 0o755);
  await writeFile(path.join(root, 'state', 'calls.jsonl'), '');
  for (const unit of units) {
    await writeFile(path.join(unitsDir, `${unit.name}.json`), JSON.stringify({ transitionQueries: 0, pending: null, ...unit }, null, 2));
  }

  const calls = async (): Promise<FakeSystemctlCall[]> =>
    (await readFile(path.join(root, 'state', 'calls.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as FakeSystemctlCall);
  const verbOf = (args: string[]) => args.find((arg) => !arg.startsWith('-'));
  return {
    root,
    systemctl,
    calls,
    callsOf: async (verb) => (await calls()).filter((call) => verbOf(call.args) === verb),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
