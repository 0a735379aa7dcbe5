// Runs a shielded command (src/system/command-runner.ts) again and again, printing "go <n>" on
// stderr just before each spawn, the way the CLI prints "Stopping <service>" before the stop
// command: the test sends SIGINT to this process group on each "go", as a terminal's Ctrl-C does,
// and reads on stdout how each run ended ("<n> exit <code>" or "<n> signal <name>").
//   node --import tsx shielded-under-ctrl-c.ts <rounds>
import { runShielded } from '../../src/system/command-runner.js';

// A Ctrl-C is the CLI's to handle (it puts things back), not the end of it.
process.on('SIGINT', () => {});
const rounds = Number(process.argv[2]);
for (let n = 0; n < rounds; n++) {
  process.stderr.write(`go ${n}\n`);
  const result = await runShielded('sh', ['-c', 'exit 0'], { timeoutMs: 60_000 });
  process.stdout.write(result.exitCode === undefined ? `${n} signal ${result.signal}\n` : `${n} exit ${result.exitCode}\n`);
}
