#!/usr/bin/env node
// A stand-in for a Windows service (Apache, JBoss, NICE), driven through the `command` service
// manager by the demo, the tests and the benchmark. Plain JavaScript so each call starts in
// ~60 ms: service managers call status often.
//
//   standin-service.mjs start|stop|status|run <service> <world-dir>
//
// <world-dir>/standin.json: { "services": [names], "holdDb": { "service": name, "connection": {...} } }
// Fault switches, as files in <world-dir> (<slug> is the service name in lower case, [^a-z0-9] -> _):
//   <slug>.ignore-stop  the process ignores SIGTERM, so it never stops (timeout path)
//   <slug>.fail-start   `start` exits 1
//   <slug>.fail-stop    `stop` exits 1
// Every stop/start request is appended to <world-dir>/events.log ("stop Apache"), and with its
// time to <world-dir>/timeline.log ("1764849600123 stop Apache": a stop when it is asked for, a
// start once the service is up): the service's own account of how long CUPM was down.
// Exit codes follow LSB: status 0 running, 3 stopped, 4 unknown service.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [verb, service, world] = process.argv.slice(2);
if (!verb || !service || !world) {
  console.error('usage: standin-service.mjs start|stop|status|run <service> <world-dir>');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(path.join(world, 'standin.json'), 'utf8'));
const known = config.services.find((name) => name.toLowerCase() === service.toLowerCase());
if (!known) {
  console.error(`standin: unknown service ${service}`);
  process.exit(4);
}
const slug = known.toLowerCase().replace(/[^a-z0-9]/g, '_');
const pidFile = path.join(world, `${slug}.pid`);
const readyFile = path.join(world, `${slug}.ready`);
const flag = (name) => fs.existsSync(path.join(world, `${slug}.${name}`));

function runningPid() {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    process.kill(pid, 0);
    // An exited daemon nobody reaped yet (no init in a container) is a zombie, not a service.
    const stat = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
    if (/^\d+ \(.*\) Z/.test(stat)) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// What the service manager asked for, in order: tests read it to check stop/start order.
const logEvent = (what) => fs.appendFileSync(path.join(world, 'events.log'), `${what} ${known}\n`);
const logTime = (what) => fs.appendFileSync(path.join(world, 'timeline.log'), `${Date.now()} ${what} ${known}\n`);

switch (verb) {
  case 'status':
    process.exit(runningPid() ? 0 : 3);
    break;
  case 'stop': {
    if (flag('fail-stop')) {
      console.error(`standin: ${known} refuses to stop`);
      process.exit(1);
    }
    logEvent('stop');
    const pid = runningPid();
    if (pid) logTime('stop');
    // Like `sc stop`: ask, and return before the process is gone; the manager polls status.
    if (pid) process.kill(pid, 'SIGTERM');
    process.exit(0);
    break;
  }
  case 'start': {
    if (flag('fail-start')) {
      console.error(`standin: ${known} fails to start`);
      process.exit(1);
    }
    logEvent('start');
    if (runningPid()) process.exit(0);
    fs.rmSync(readyFile, { force: true });
    const child = spawn(process.execPath, [process.argv[1], 'run', known, world], { detached: true, stdio: 'ignore' });
    child.unref();
    for (let i = 0; i < 200 && !fs.existsSync(readyFile); i++) await sleep(50);
    if (!fs.existsSync(readyFile)) process.exit(1);
    logTime('start');
    process.exit(0);
    break;
  }
  case 'run':
    await run();
    break;
  default:
    console.error(`standin: unknown verb ${verb}`);
    process.exit(2);
}

/** The service process itself: a pid file, and for JBoss an idle database session like its pool. */
async function run() {
  fs.writeFileSync(pidFile, String(process.pid));
  let client;
  if (config.holdDb && config.holdDb.service.toLowerCase() === known.toLowerCase()) {
    const { default: pg } = await import('pg');
    client = new pg.Client({ ...config.holdDb.connection, application_name: `standin ${known}` });
    client.on('error', () => {});
    await client.connect().catch(() => (client = undefined));
  }
  const keepAlive = setInterval(() => {}, 60_000);
  const shutdown = async () => {
    if (flag('ignore-stop')) return;
    clearInterval(keepAlive);
    await client?.end().catch(() => {});
    fs.rmSync(pidFile, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  fs.writeFileSync(readyFile, '');
}
