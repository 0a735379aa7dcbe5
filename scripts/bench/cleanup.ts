import type { ChildProcess } from 'node:child_process';

/**
 * What the benchmark must undo however it ends: clusters to stop and remove, temp folders, and
 * the processes it is running. `run` undoes everything (latest first) and may be called more than
 * once; a SIGINT/SIGTERM stops the running processes, undoes everything, and exits 130/143.
 */
export class Cleanup {
  private readonly actions: Array<{ label: string; action: () => Promise<void> }> = [];
  private readonly children = new Set<ChildProcess>();
  private interrupted: NodeJS.Signals | undefined;
  private running: Promise<void> | undefined;

  /** Registers an undo action; returns a function that runs it now (once) and forgets it. */
  add(label: string, action: () => Promise<void>): () => Promise<void> {
    const entry = { label, action };
    this.actions.push(entry);
    return async () => {
      const at = this.actions.indexOf(entry);
      if (at === -1) return;
      this.actions.splice(at, 1);
      await action();
    };
  }

  /** A process to stop when interrupted (its whole process group: it runs detached). */
  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  /** The signal that interrupted the run, if any: long loops check it between steps. */
  get signal(): NodeJS.Signals | undefined {
    return this.interrupted;
  }

  throwIfInterrupted(): void {
    if (this.interrupted) throw new Error(`interrupted by ${this.interrupted}`);
  }

  /** Ctrl-C and SIGTERM: stop children, undo everything, exit. A second signal exits at once. */
  installSignalHandlers(log: (line: string) => void): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.interrupted) {
        log(`\n${signal} again: exiting now; left behind: ${this.actions.map((a) => a.label).join(', ') || 'nothing'}`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      this.interrupted = signal;
      log(`\n${signal}: stopping the benchmark and removing its clusters and files...`);
      void this.run(log).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  /** Stops tracked processes, then runs every undo action, latest first; failures are logged, not thrown. */
  run(log: (line: string) => void): Promise<void> {
    this.running ??= (async () => {
      await this.stopChildren();
      while (this.actions.length > 0) {
        const { label, action } = this.actions.pop()!;
        try {
          await action();
        } catch (error) {
          log(`cleanup: ${label} failed: ${(error as Error).message}`);
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async stopChildren(): Promise<void> {
    const children = [...this.children];
    for (const child of children) signalGroup(child, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const child of children) if (child.exitCode === null && child.signalCode === null) signalGroup(child, 'SIGKILL');
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
