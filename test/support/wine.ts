import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { commandLine as argsOf, environment, otherPids } from '../../src/sandbox/proc.js';

/**
 * A Windows Service Control Manager for tests on Linux: Wine's own services.exe, sc.exe and
 * reg.exe in a private Wine prefix, booted once per suite. Nobody here wrote it, so the
 * `windows` driver meets the real output format and the real asynchronous behaviour.
 *
 * Facts about Wine (8.0, Debian `wine64`) this relies on, each checked by hand:
 * - services run only while the wineserver lives; a persistent one (`wineserver -p`) keeps them
 *   between our short sc.exe runs, and `wineserver -k` ends them all;
 * - `spoolsv.exe` is a real service binary that starts, stays RUNNING and stops on request, and
 *   several services may use it, each in its own process;
 * - a binary that never connects to the SCM (`ping.exe`) keeps its service START_PENDING for
 *   `ServicesPipeTimeout` ms (a REG_SZ, read when services.exe starts), as a hung JBoss would;
 * - sc.exe prints CRLF like Windows, but reports a failure only as a debug line
 *   (`err:sc:wmain failed to stop service 1062`) and exits 1; it has no getkeyname, no
 *   getdisplayname and no enumeration (`sc query state= all`).
 */
export interface WinePrefix {
  root: string;
  prefix: string;
  /** Holds the `sc.exe` and `reg.exe` wrappers: put it first on PATH. */
  binDir: string;
  scExe: string;
  regExe: string;
  /** The variables every Wine run of this prefix needs (WINEPREFIX, TMPDIR ...). */
  vars: Record<string, string>;
  /** Environment for a child that should find the wrappers on PATH (the CLI). */
  pathEnv(): { PATH: string };
  /** Runs Wine's sc.exe directly (not through the wrapper): for setting up and observing. */
  sc(...args: string[]): Promise<{ exitCode: number; stdout: string }>;
  /** The state word `sc query` prints (RUNNING, STOPPED ...), or null when there is no such service. */
  state(keyName: string): Promise<string | null>;
  /** Creates a demand-start service; `binary` defaults to Wine's spoolsv.exe. */
  createService(keyName: string, options?: { displayName?: string; binary?: string }): Promise<void>;
  /** Puts a service in a state (RUNNING or STOPPED) through Wine's sc.exe, and checks it got there. */
  ensure(keyName: string, state: 'RUNNING' | 'STOPPED'): Promise<void>;
  /** The wrapper's log: one line per run, `<exit status>\t<arg>\t<arg>...`; scripts may add their own lines. */
  callsLog: string;
  /** Every run of the sc.exe wrapper so far (the driver's and scripts' calls), in order. */
  calls(): Promise<Array<{ args: string[]; exitCode: number }>>;
  clearCalls(): Promise<void>;
  /** Linux pids of this prefix's processes whose Windows command line starts with `commandLine`. */
  processesRunning(commandLine: string): Promise<number[]>;
  /** Stops the wineserver (and every Wine process of the prefix) and removes the prefix. */
  destroy(): Promise<void>;
}

/** Wine's spoolsv.exe: a service binary that starts and stops as asked. */
export const SERVICE_BINARY = 'C:\\windows\\system32\\spoolsv.exe';
/** A binary that never talks to the SCM: its service stays START_PENDING until it is killed. */
export const HANGING_BINARY = 'C:\\windows\\system32\\ping.exe -n 3600 127.0.0.1';
/** How long services.exe waits for a starting service to connect (the default is 10 s). */
const PIPE_TIMEOUT_MS = 600_000;

/**
 * Boots a Wine prefix in a temp dir and starts its persistent wineserver. Takes 20-60 s the first
 * time on a busy machine (wineboot): call it once per suite, in `before`.
 */
export async function createWinePrefix(): Promise<WinePrefix> {
  const root = await mkdtemp(path.join(tmpdir(), 'cupm-wine-'));
  const prefix = path.join(root, 'prefix');
  const binDir = path.join(root, 'bin');
  const callsLog = path.join(root, 'sc-calls.log');
  await mkdir(binDir);
  await writeFile(callsLog, '');
  const serverTmp = path.join(root, 'tmp');
  await mkdir(serverTmp);
  const vars = {
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    // No Mono or Gecko installer dialogs at boot: nothing here needs .NET or a browser.
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    // Debian's wineserver keeps its socket in $TMPDIR/wine-XXXXXX: inside root, it goes with it.
    TMPDIR: serverTmp,
  };
  const env = { ...process.env, ...vars };
  // cwd: Wine looks for a bare `sc.exe` in the current folder first; ours has none.
  const wine = (file: string, args: string[]) => execa(file, args, { env, cwd: root, reject: false, stdin: 'ignore', encoding: 'utf8' });
  // For runs that may leave daemons behind (the server, services.exe): a daemon that inherits a
  // pipe of ours keeps it open, and execa would wait for its end forever. So these runs write to a
  // log file through a plain file descriptor (spawn: execa types only allow fds 3-9 there).
  const bootLog = path.join(root, 'boot.log');
  const wineDetached = async (file: string, args: string[]) => {
    const log = await open(bootLog, 'a');
    try {
      const exitCode = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(file, args, { env, cwd: root, stdio: ['ignore', log.fd, log.fd] });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code));
      });
      if (exitCode !== 0) {
        const text = await readFile(bootLog, 'utf8').catch(() => '');
        throw new Error(`${file} ${args.join(' ')} failed (exit ${exitCode}): ${text.slice(-2000)}`);
      }
    } finally {
      await log.close();
    }
  };

  const destroy = async () => {
    await wine('wineserver', ['-k']);
    await wine('wineserver', ['-w']);
    await rm(root, { recursive: true, force: true });
  };

  try {
    await wineDetached('wineboot', ['-i']);
    await wineDetached('wine', [
      'reg',
      'add',
      'HKLM\\System\\CurrentControlSet\\Control',
      '/v',
      'ServicesPipeTimeout',
      '/t',
      'REG_SZ',
      '/d',
      String(PIPE_TIMEOUT_MS),
      '/f',
    ]);
    // The boot's server exits with its last process; then a persistent one takes over, so services
    // outlive each short sc.exe run (and services.exe restarts, reading the new pipe timeout).
    await wineDetached('wineserver', ['-w']);
    await wineDetached('wineserver', ['-p']);
    // The first Wine run starts services.exe; let that happen here, not in a test's pipe.
    await wineDetached('wine', ['C:\\windows\\system32\\sc.exe', 'query', 'Spooler']);

    const scExe = path.join(binDir, 'sc.exe');
    const regExe = path.join(binDir, 'reg.exe');
    await writeFile(scExe, scWrapper(vars, callsLog));
    await writeFile(regExe, regWrapper(vars));
    await chmod(scExe, 0o755);
    await chmod(regExe, 0o755);

    const sc = async (...args: string[]) => {
      const result = await wine('wine', ['C:\\windows\\system32\\sc.exe', ...args]);
      return { exitCode: result.exitCode ?? -1, stdout: result.stdout };
    };
    const state = async (keyName: string) => {
      const { exitCode, stdout } = await sc('query', keyName);
      if (exitCode !== 0) return null;
      return /STATE\s*:\s*\d+\s+(\w+)/.exec(stdout)?.[1] ?? null;
    };

    return {
      root,
      prefix,
      binDir,
      scExe,
      regExe,
      callsLog,
      vars,
      pathEnv: () => ({ PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}` }),
      sc,
      state,
      async createService(keyName, options = {}) {
        const args = ['create', keyName, 'binpath=', options.binary ?? SERVICE_BINARY];
        if (options.displayName) args.push('displayname=', options.displayName);
        const result = await sc(...args);
        if (result.exitCode !== 0) throw new Error(`sc create ${keyName} failed (${result.exitCode})`);
      },
      async ensure(keyName, wanted) {
        if ((await state(keyName)) !== wanted) await sc(wanted === 'RUNNING' ? 'start' : 'stop', keyName);
        const now = await state(keyName);
        if (now !== wanted) throw new Error(`Wine service ${keyName} is ${now}, not ${wanted}`);
      },
      async calls() {
        return (await readFile(callsLog, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [exitCode, ...args] = line.split('\t');
            return { exitCode: Number(exitCode), args };
          });
      },
      clearCalls: () => writeFile(callsLog, ''),
      async processesRunning(commandLine) {
        return otherPids().filter(
          (pid) => argsOf(pid).join(' ').startsWith(commandLine) && environment(pid).includes(`WINEPREFIX=${prefix}`),
        );
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Quotes a value for bash. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** `export A='x' B='y'` for a bash script; `debug` replaces WINEDEBUG. */
export function shellExports(vars: Record<string, string>, debug?: string): string {
  const all = debug === undefined ? vars : { ...vars, WINEDEBUG: debug };
  return `export ${Object.entries(all)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(' ')}`;
}

/**
 * The `sc.exe` on PATH: runs Wine's sc.exe with the caller's arguments and passes its output on
 * untouched (CRLF, as Windows'). One thing is adapted: Wine reports a failure only as a debug
 * line on stderr and exits 1, where Windows prints `[SC] <call> FAILED <code>:` and exits with
 * the code. The wrapper rewrites that line into Windows' report, with the code Wine's SCM gave
 * (the system message after it is left out: Windows localizes it anyway). A failure Wine does not
 * report (getkeyname, which it lacks) stays exit 1 with no output, as Wine gives it.
 */
function scWrapper(vars: Record<string, string>, callsLog: string): string {
  return `#!/usr/bin/env bash
# sc.exe for tests on Linux: Wine's sc.exe in the test prefix (test/support/wine.ts).
set -u
${shellExports(vars, '-all,err+sc')}
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
/usr/bin/wine 'C:\\windows\\system32\\sc.exe' "$@" 2>"$errors" &
child=$!
trap 'kill "$child" 2>/dev/null' TERM INT
wait "$child"
status=$?
report=$(grep -m1 -E ':err:sc:[a-z_]+ failed to .* [0-9]+$' "$errors")
if [ "$status" -ne 0 ] && [ -n "$report" ]; then
  code=\${report##* }
  what=$(sed -E 's/.*failed to (.*) [0-9]+$/\\1/; s/:$//' <<<"$report")
  case "$what" in
    'open service') call=OpenService ;;
    'open service manager') call=OpenSCManager ;;
    'stop service') call=ControlService ;;
    'start service') call=StartService ;;
    'delete service') call=DeleteService ;;
    'create service') call=CreateService ;;
    'query service status') call=QueryServiceStatus ;;
    *) call=$what ;;
  esac
  printf '[SC] %s FAILED %s:\\r\\n\\r\\n' "$call" "$code"
  grep -v -F -x -e "$report" "$errors" >&2
  # A Unix exit status keeps the low 8 bits of the code, as it would of Windows' exit code.
  status=$(( code % 256 == 0 ? 1 : code % 256 ))
else
  cat "$errors" >&2
fi
(IFS=$'\\t'; printf '%s\\t%s\\n' "$status" "$*") >>${shellQuote(callsLog)}
exit "$status"
`;
}

/** The `reg.exe` on PATH: Wine's reg.exe in the test prefix, output untouched. */
function regWrapper(vars: Record<string, string>): string {
  return `#!/usr/bin/env bash
# reg.exe for tests on Linux: Wine's reg.exe in the test prefix (test/support/wine.ts).
${shellExports(vars)}
exec /usr/bin/wine 'C:\\windows\\system32\\reg.exe' "$@"
`;
}
