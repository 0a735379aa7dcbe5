// A psql that stands in for the real one (CUPM_PG_BIN), so a test can stop a restore in the middle
// of its load: when <dir>/armed exists, the next psql reading a script (-f) passes its input to the
// real psql until it has passed the text in <dir>/armed, then stops reading (the restore waits on
// the pipe), writes its pid to <dir>/paused, and goes on when <dir>/release appears or when its
// parent (the restore) dies -- then it reads the end of its input, as a real psql would.
//   pausing-psql.mjs <real psql> <dir> [psql arguments...]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [realPsql, dir, ...args] = process.argv.slice(2);
const armedFile = path.join(dir, 'armed');
const marker = args.includes('-f') && fs.existsSync(armedFile) ? fs.readFileSync(armedFile, 'latin1') : undefined;
if (marker !== undefined) fs.rmSync(armedFile);

const child = spawn(realPsql, args, { stdio: [marker === undefined ? 'inherit' : 'pipe', 'inherit', 'inherit'] });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.stdin?.on('error', () => {});
// Signals for us are for psql (the restore kills psql when it must stop it).
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));

if (marker !== undefined) {
  const parent = process.ppid;
  let seen = '';
  let paused = false;
  process.stdin.on('data', (chunk) => {
    child.stdin.write(chunk);
    if (paused) return;
    seen = (seen + chunk.toString('latin1')).slice(-(marker.length + 65536));
    if (!seen.includes(marker)) return;
    paused = true;
    process.stdin.pause();
    fs.writeFileSync(path.join(dir, 'paused'), String(process.pid));
    const timer = setInterval(() => {
      let parentAlive = process.ppid === parent;
      try {
        process.kill(parent, 0);
      } catch {
        parentAlive = false;
      }
      if (fs.existsSync(path.join(dir, 'release')) || !parentAlive) {
        clearInterval(timer);
        released = true;
        process.stdin.resume();
        if (ended) child.stdin.end();
      }
    }, 100);
  });
  // A paused stream still emits 'end' when the end of input came with the last chunk (a small
  // dump arrives whole): psql must not see its end of input before the release.
  let released = false;
  let ended = false;
  process.stdin.on('end', () => {
    ended = true;
    if (!paused || released) child.stdin.end();
  });
}
