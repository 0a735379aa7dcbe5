// The `command` service manager's script for a test server whose PostgreSQL is a service too
// (CUPM_PG_SERVICE): the PostgreSQL service runs pg_ctl on the sandbox cluster, every other
// service is a stand-in (scripts/standin-service.mjs). When <world>/<pg service>.pause-stop
// exists, the next `stop` of PostgreSQL writes its pid to <world>/<pg service>.paused and waits
// until its parent (the restore) dies, then exits 1: a restore killed in that step.
//   services-with-postgres.mjs start|stop|status <service> <world-dir> <postgres.json>
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [verb, service, world, configFile] = process.argv.slice(2);
const pg = JSON.parse(fs.readFileSync(configFile, 'utf8'));
const standin = fileURLToPath(new URL('../../../scripts/standin-service.mjs', import.meta.url));

if (service.toLowerCase() !== pg.service.toLowerCase()) {
  const result = spawnSync(process.execPath, [standin, verb, service, world], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

fs.appendFileSync(path.join(world, 'events.log'), `${verb} ${pg.service}\n`);
const pause = path.join(world, `${pg.service}.pause-stop`);
if (verb === 'stop' && fs.existsSync(pause)) {
  fs.rmSync(pause);
  fs.writeFileSync(path.join(world, `${pg.service}.paused`), String(process.pid));
  const parent = process.ppid;
  setInterval(() => {
    try {
      process.kill(parent, 0);
      if (process.ppid === parent) return;
    } catch {}
    process.exit(1);
  }, 100);
} else {
  const pgCtl = path.join(pg.binDir, 'pg_ctl');
  const args = {
    status: ['-D', pg.dataDir, 'status'],
    stop: ['-D', pg.dataDir, '-m', 'fast', '-w', 'stop'],
    start: ['-D', pg.dataDir, '-l', pg.logFile, '-w', '-t', '60', 'start'],
  }[verb];
  if (!args) process.exit(2);
  const asRoot = process.getuid?.() === 0;
  const result = spawnSync(asRoot ? 'runuser' : pgCtl, asRoot ? ['-u', 'postgres', '--', pgCtl, ...args] : args, {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // pg_ctl status: 0 running, 3 not running (LSB, as the command manager wants).
  process.exit(result.status ?? 1);
}
