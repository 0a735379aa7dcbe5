import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./sc.cjs', import.meta.url));

/** The states sc.exe reports, by their number. */
export const SC_STATES = {
  STOPPED: 1,
  START_PENDING: 2,
  STOP_PENDING: 3,
  RUNNING: 4,
  CONTINUE_PENDING: 5,
  PAUSE_PENDING: 6,
  PAUSED: 7,
} as const;

export type ScStateWord = keyof typeof SC_STATES;

const SETTLES_TO: Partial<Record<ScStateWord, ScStateWord>> = {
  START_PENDING: 'RUNNING',
  STOP_PENDING: 'STOPPED',
  CONTINUE_PENDING: 'RUNNING',
  PAUSE_PENDING: 'PAUSED',
};

/** One service as the fake Service Control Manager knows it. */
export interface FakeScService {
  keyName: string;
  displayName?: string;
  state: ScStateWord;
  /** How many queries a pending state lasts before it settles (default 2). */
  pendingQueries?: number;
  /** After `stop`, it stays STOP_PENDING forever (a hung JBoss). */
  stuckStopping?: boolean;
  /** `start` ends in STOPPED with this WIN32_EXIT_CODE (e.g. 1067, the process terminated). */
  failsWithExitCode?: number;
  /** stop/start answer `[SC] OpenService FAILED 5` (not an administrator). */
  accessDenied?: boolean;
  /** Someone else stops it between the caller's query and its stop (the caller gets 1062). */
  stopsBeforeControl?: boolean;
  /** Someone else starts it between the caller's query and its start (the caller gets 1056). */
  startsBeforeControl?: boolean;
  /** Someone holds a handle to it (an open Services console): `delete` only marks it. */
  handleOpen?: boolean;
  /** `sc delete` was run on it already: another delete answers 1072. */
  markedForDeletion?: boolean;
}

/** One sc.exe run, as the fake logged it. */
export interface FakeScCall {
  args: string[];
  /** The Win32 code it exited with (a Unix exit status keeps only its low 8 bits: 1060 arrives as 36). */
  exitCode: number;
  /** The service's state after the run (null for unknown names). */
  state: ScStateWord | null;
}

/** A scripted sc.exe in a temp dir: `<root>/bin/sc.exe`, state in `<root>/state/`. */
export interface FakeSc {
  root: string;
  /** A directory holding only `sc.exe`, to put first on PATH. */
  binDir: string;
  /** The absolute path of the fake, for the `scExe` option. */
  scExe: string;
  /** Every run so far, in order. */
  calls(): Promise<FakeScCall[]>;
  /** The runs of one verb (`query`, `stop`, `start`, `getkeyname` ...). */
  callsOf(verb: string): Promise<FakeScCall[]>;
  cleanup(): Promise<void>;
}

/** Creates a fake sc.exe knowing `services`; `locale: 'ja'` prints system messages in cp932. */
export async function createFakeSc(options: { services: FakeScService[]; locale?: 'en' | 'ja'; getKeyName?: false }): Promise<FakeSc> {
  const root = await mkdtemp(path.join(tmpdir(), 'cupm-fake-sc-'));
  const binDir = path.join(root, 'bin');
  const stateDir = path.join(root, 'state');
  await mkdir(binDir);
  await mkdir(path.join(stateDir, 'services'), { recursive: true });
  const scExe = path.join(binDir, 'sc.exe');
  await copyFile(SCRIPT, scExe);
  await chmod(scExe, 0o755);
  await writeFile(
    path.join(stateDir, 'config.json'),
    JSON.stringify({ locale: options.locale ?? 'en', getKeyName: options.getKeyName ?? true }),
  );
  await writeFile(path.join(stateDir, 'calls.jsonl'), '');
  for (const service of options.services) {
    const pendingQueries = service.pendingQueries ?? 2;
    const then = SETTLES_TO[service.state];
    const record = {
      ...service,
      state: SC_STATES[service.state],
      pendingQueries,
      pending: then ? { remaining: pendingQueries, then: SC_STATES[then] } : null,
      checkpoint: 0,
      win32ExitCode: 0,
    };
    await writeFile(path.join(stateDir, 'services', `${service.keyName}.json`), JSON.stringify(record, null, 2));
  }

  const calls = async (): Promise<FakeScCall[]> => {
    const text = await readFile(path.join(stateDir, 'calls.jsonl'), 'utf8');
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as FakeScCall);
  };
  return {
    root,
    binDir,
    scExe,
    calls,
    callsOf: async (verb) => (await calls()).filter((call) => (call.args[0]?.startsWith('\\\\') ? call.args[1] : call.args[0]) === verb),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
