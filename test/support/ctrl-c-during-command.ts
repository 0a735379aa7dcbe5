import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { quote } from 'shell-quote';
import type { RpcServiceManagerOptions } from '../../src/services/rpc.js';
import type { SystemdServiceManagerOptions } from '../../src/services/systemd.js';
import type { WindowsServiceManagerOptions } from '../../src/services/windows.js';
import { waitFor } from './faults.js';

const GATE = fileURLToPath(new URL('./gate.mjs', import.meta.url));
const SCOPE = fileURLToPath(new URL('./scope-under-ctrl-c.ts', import.meta.url));

/** The driver a scope runs with and the services it stops (scope-under-ctrl-c.ts builds it). */
export type ScopeSpec = { services: string[] } & (
  | { kind: 'systemd'; options: SystemdServiceManagerOptions }
  | { kind: 'windows'; options: Omit<WindowsServiceManagerOptions, 'runner'> }
  | { kind: 'rpc'; options: Omit<RpcServiceManagerOptions, 'runner'> }
);

/** What the scope came to (printed by scope-under-ctrl-c.ts). */
export interface ScopeOutcome {
  /** What withServicesStopped threw, if anything. */
  error: { name: string; message: string } | undefined;
  /** Whether the job's body ran. */
  ran: boolean;
  /** The reporter's lines: `Stopping X`, `Starting X` ... */
  lines: string[];
}

export interface CtrlCDuringCommand extends ScopeOutcome {
  /** One `<exit status>` per gated command that ran to its end (the stand-in writes it after the real program exited). */
  finished: string[];
  /** What the tool's process printed on stderr (the CLI's "Received SIGINT" line). */
  stderr: string;
}

/**
 * A terminal's Ctrl-C while a service driver's stop (or start) command runs: the tool
 * (scope-under-ctrl-c.ts) runs withServicesStopped with `spec(standIn)` under ctrlCAtGate.
 */
export async function ctrlCDuring(
  verb: 'stop' | 'start',
  program: string,
  spec: (standIn: string) => ScopeSpec,
): Promise<CtrlCDuringCommand> {
  const run = await ctrlCAtGate(verb, program, (standIn) => ({
    script: SCOPE,
    env: { CUPM_TEST_SCOPE: JSON.stringify(spec(standIn)) },
  }));
  const outcome = JSON.parse(run.stdout.trim() || 'null') as ScopeOutcome | null;
  if (!outcome) throw new Error(`the tool printed no outcome (exit ${run.exitCode}, ${run.signal ?? 'no signal'}): ${run.stderr}`);
  return { ...outcome, finished: run.finished, stderr: run.stderr };
}

/** How a tool run under ctrlCAtGate ended. */
export interface CtrlCAtGate {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  /** What the tool's process printed on stderr (the CLI's "Received SIGINT" line). */
  stderr: string;
  /** One `<exit status>` per gated command that ran to its end (the stand-in writes it after the real program exited). */
  finished: string[];
}

/**
 * A terminal's Ctrl-C while one command of a tool runs: the tool (a TypeScript script with the
 * CLI's own Ctrl-C handling, `tool(standIn)` says which and its environment; a process group of
 * its own, as a terminal's foreground job is) is handed `standIn`, a shell script in front of
 * `program` whose `verb` stands still at a gate (test/support/gate.mjs) and, once through, runs
 * `program` and writes its exit status. When the command has reached the gate, SIGINT goes to
 * the tool's whole process group; once the tool says it got it, the gate opens (and stays open).
 * No timing: each step waits for the one before.
 */
export async function ctrlCAtGate(
  verb: string,
  program: string,
  tool: (standIn: string) => { script: string; env: Record<string, string> },
): Promise<CtrlCAtGate> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-ctrl-c-'));
  const gate = path.join(dir, 'gate');
  /** The tool's process group, while it runs. */
  let group: number | undefined;
  let ended = false;
  let released = false;
  try {
    const finished = path.join(dir, 'finished');
    await fs.mkdir(gate);
    await fs.writeFile(finished, '');
    const standIn = path.join(dir, path.basename(program));
    // The verb is a word of its own in each driver's command (systemctl ... stop -- UNIT, sc.exe
    // stop NAME, sc.exe delete NAME, net rpc service stop NAME ...); every other call runs the
    // program straight away.
    await fs.writeFile(
      standIn,
      [
        '#!/bin/sh',
        'case " $* " in',
        `  *" ${verb} "*)`,
        `    ${quote([process.execPath, GATE, gate, program])} "$@"`,
        '    status=$?',
        `    echo "$status" >> ${quote([finished])}`,
        '    exit "$status" ;;',
        'esac',
        `exec ${quote([program])} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );

    const { script, env } = tool(standIn);
    const child = execa(process.execPath, ['--import', 'tsx', script], {
      detached: true,
      reject: false,
      stdin: 'ignore',
      env,
    });
    group = child.pid;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    void child.finally(() => (ended = true));
    const unlessEnded = <T>(what: string, value: T | undefined): T | undefined => {
      if (value === undefined && ended) throw new Error(`the tool ended before ${what}: ${stderr}`);
      return value;
    };

    await waitFor(`the ${verb} command at the gate`, async () =>
      unlessEnded(
        `its ${verb} command ran`,
        await fs.access(path.join(gate, 'entered')).then(
          () => true,
          () => undefined,
        ),
      ),
    );
    // Ctrl-C: the kernel sends SIGINT to the whole foreground process group.
    process.kill(-group!, 'SIGINT');
    await waitFor('the tool to take the Ctrl-C', () =>
      Promise.resolve(unlessEnded('it took the Ctrl-C', /Received SIGINT/.test(stderr) ? true : undefined)),
    );
    await fs.writeFile(path.join(gate, 'release'), '');
    released = true;
    const result = await child;
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: String(result.stdout),
      stderr,
      finished: (await fs.readFile(finished, 'utf8')).split('\n').filter(Boolean),
    };
  } finally {
    // A test that failed half way leaves nothing running: the tool, and a command still at the gate.
    if (group !== undefined && !ended) kill(-group);
    const atGate = released ? undefined : await fs.readFile(path.join(gate, 'entered'), 'utf8').catch(() => undefined);
    if (atGate) kill(Number(atGate));
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
