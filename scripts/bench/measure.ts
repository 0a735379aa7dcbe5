import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Cleanup } from './cleanup.js';
import { machineBusyMs, processCpuMs, vmHwm } from './proc.js';

export interface Measured {
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
  /** Peak resident set of the process itself (VmHWM), in bytes; its children are not counted. */
  peakRss: number;
  /**
   * CPU time the whole machine spent while it ran, in ms (busy time in /proc/stat): the process,
   * its children and the PostgreSQL server working for them (and whatever else ran: the machine
   * is otherwise idle during a benchmark).
   */
  machineCpuMs: number;
  /** CPU time of the process itself (user + system, from /proc/<pid>/stat), in ms; not its children. */
  ownCpuMs: number;
  stdout: string;
  stderr: string;
  /** Each line the process wrote to stderr (its progress lines), with when: ms since the spawn. */
  stderrLines: TimedLine[];
  /**
   * How long CUPM's services were down during the run (first stop to last start, by the stand-in
   * services' own timestamps): set by the bench, not by runMeasured.
   */
  downtimeMs?: number;
}

export interface TimedLine {
  ms: number;
  text: string;
}

export interface RunOptions {
  /** The whole environment of the process (nothing is inherited). */
  env: Record<string, string>;
  /** Where stdout goes: a file (created), 'ignore', or kept in `stdout` (default; keep it small). */
  stdout?: { file: string } | 'ignore' | 'keep';
  cwd?: string;
}

/**
 * Runs a command to its end, timing it and polling the peak RSS (VmHWM in /proc/<pid>/status) of
 * that one process: for `cupm-backup` it is the tool's own memory, without pg_dumpall or psql.
 * It runs detached (its own process group), so a Ctrl-C reaches the benchmark, which stops it.
 * A non-zero exit throws with the end of stderr.
 */
export async function runMeasured(cleanup: Cleanup, file: string, args: string[], options: RunOptions): Promise<Measured> {
  cleanup.throwIfInterrupted();
  const out = options.stdout ?? 'keep';
  const fd = typeof out === 'object' ? fs.openSync(out.file, 'w', 0o600) : undefined;
  const busyAtStart = machineBusyMs();
  const started = process.hrtime.bigint();
  const child = spawn(file, args, {
    env: options.env,
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', fd ?? (out === 'ignore' ? 'ignore' : 'pipe'), 'pipe'],
  });
  if (fd !== undefined) fs.closeSync(fd);
  cleanup.track(child);
  let peakRss = 0;
  let ownCpuMs = 0;
  // Polled: the last reading is at most 25 ms before the end.
  const poll = () => {
    peakRss = Math.max(peakRss, vmHwm(child.pid));
    ownCpuMs = Math.max(ownCpuMs, processCpuMs(child.pid));
  };
  const timer = setInterval(poll, 25);
  let stdout = '';
  let stderr = '';
  const stderrLines: TimedLine[] = [];
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-20_000);
    const at = Number(process.hrtime.bigint() - started) / 1e6;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    // The first lines only: a progress report is a few dozen; a flood of errors is not timed.
    for (const line of lines) if (stderrLines.length < 500) stderrLines.push({ ms: at, text: line });
  });
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
  }).finally(() => clearInterval(timer));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const machineCpuMs = machineBusyMs() - busyAtStart;
  // 'exit' can come before the pipes drained.
  await new Promise<void>((resolve) =>
    child.stdout && !child.stdout.readableEnded ? child.stdout.once('close', () => resolve()) : resolve(),
  );
  if (code !== 0) {
    const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
    throw new Error(`${[file, ...args].join(' ')} ${how}:\n${stderr.trim().split('\n').slice(-15).join('\n')}`);
  }
  if (partial !== '' && stderrLines.length < 500) stderrLines.push({ ms, text: partial });
  return { ms, peakRss, machineCpuMs, ownCpuMs, stdout, stderr, stderrLines };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
