#!/usr/bin/env node
// A gate in front of a command, for tests that need a job to stand still at a known point:
//   gate.mjs <gate-dir> <command> [args...]
// Creates <gate-dir>/entered, waits until <gate-dir>/release exists, then runs the command and
// exits with its exit code. Once released, later calls pass straight through.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [dir, command, ...args] = process.argv.slice(2);
if (!dir || !command) {
  console.error('usage: gate.mjs <gate-dir> <command> [args...]');
  process.exit(2);
}
fs.writeFileSync(path.join(dir, 'entered'), String(process.pid));
while (!fs.existsSync(path.join(dir, 'release'))) await new Promise((resolve) => setTimeout(resolve, 50));
const result = spawnSync(command, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
