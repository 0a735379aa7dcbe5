import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { childrenOf, commandLine, environment, processesNaming, statFields } from '../../src/sandbox/proc.js';
import { expect } from '../support/expect.js';
import { waitFor } from '../support/faults.js';

// The one scan of /proc (stand-in services, the bench and its tests), on real processes.
describe('the /proc scan: which processes name a folder, whose children they are', function () {
  this.timeout(120_000);
  let dir: string;
  const started: ResultPromise[] = [];
  /** A Node process that waits, with `args` on its command line. */
  const waiting = (...args: string[]) => waitingWith({}, ...args);
  const waitingWith = (env: Record<string, string>, ...args: string[]) => {
    const child = execa(process.execPath, ['-e', 'setTimeout(() => {}, 600_000)', '--', ...args], { reject: false, env });
    started.push(child);
    return child;
  };
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-proc-'));
  });
  afterEach(async () => {
    for (const child of started.splice(0)) {
      child.kill('SIGKILL');
      await child;
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('finds a process naming the folder as an argument; with under also a path below it or an option naming one', async () => {
    const exact = waiting('run', dir);
    const below = waiting('-D', path.join(dir, 'data'));
    const option = waiting(`--pwfile=${path.join(dir, 'pw')}`);
    const sibling = waiting(`${dir}-other`, `${dir}x/data`);
    const pids = (entries: { pid: number }[]) => entries.map(({ pid }) => pid).sort();
    await waitFor('the under-scan to see all three', async () => (processesNaming(dir, { under: true }).length === 3 ? true : undefined));

    expect(pids(processesNaming(dir))).to.deep.equal([exact.pid]);
    expect(pids(processesNaming(dir, { under: true }))).to.deep.equal([exact.pid!, below.pid!, option.pid!].sort());
    expect(processesNaming(`${dir}/`, { under: true }).map(({ pid }) => pid)).to.not.include(sibling.pid);
    const [found] = processesNaming(dir);
    expect(found!.args).to.deep.equal([process.execPath, '-e', 'setTimeout(() => {}, 600_000)', '--', 'run', dir]);
    expect(commandLine(exact.pid!)).to.deep.equal(found!.args);
  });

  it('never lists this process, and nothing once the processes are gone', async () => {
    expect(processesNaming(process.execPath).map(({ pid }) => pid)).to.not.include(process.pid);
    const child = waiting(dir);
    await waitFor('the scan to see it', async () => (processesNaming(dir).length === 1 ? true : undefined));
    child.kill('SIGKILL');
    await child;
    expect(processesNaming(dir)).to.deep.equal([]);
    expect(commandLine(child.pid!)).to.deep.equal([]);
    expect(environment(child.pid!)).to.deep.equal([]);
    expect(statFields(child.pid!)).to.equal(undefined);
  });

  it('reads the environment a process started with, entry by entry', async () => {
    const child = waitingWith({ CUPM_PROC_TEST: `a b=c ${dir}` }, dir);
    await waitFor('the scan to see it', async () => (processesNaming(dir).length === 1 ? true : undefined));
    const entries = environment(child.pid!);
    expect(entries).to.include(`CUPM_PROC_TEST=a b=c ${dir}`);
    expect(entries).to.include(`PATH=${process.env.PATH}`);
    expect(entries.every((entry) => entry.includes('='))).to.equal(true);
  });

  it("lists a process's children, and reads its stat past a command name with spaces and parentheses", async () => {
    // A program whose name (the stat's second field) holds ") " as the field separator does.
    const program = path.join(dir, 'a) b (c');
    await fs.copyFile('/bin/sleep', program);
    await fs.chmod(program, 0o755);
    const shell = execa('sh', ['-c', `${JSON.stringify(program)} 600 & ${JSON.stringify(program)} 600 & wait`], { reject: false });
    started.push(shell);
    const running = () => childrenOf(shell.pid!).filter((pid) => commandLine(pid)[0] === program);
    await waitFor('both children to run the program', async () => (running().length === 2 ? true : undefined));
    for (const child of running()) {
      const fields = statFields(child)!;
      expect(Number(fields[1]), 'the parent, field 4').to.equal(shell.pid);
      expect(fields[0], 'the state, field 3').to.match(/^[RSD]$/);
      process.kill(child, 'SIGKILL');
    }
  });
});
