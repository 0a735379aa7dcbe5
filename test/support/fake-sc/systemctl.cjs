#!/usr/bin/env node
// A scripted stand-in for systemctl, for tests on machines without a running systemd.
// fake-systemctl.ts copies it to <root>/bin/systemctl; it keeps one JSON file per unit in
// <root>/state/units/. Like the real one, `is-active` says "inactive" for units that do not exist,
// `stop`/`start` block until the job is done, and some units still report deactivating/activating
// for `transitionQueries` more is-active calls after that (Type=forking, slow main processes).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.dirname(path.dirname(process.argv[1]));
const unitsDir = path.join(root, 'state', 'units');

function unitFile(name) {
  return path.join(unitsDir, `${String(name).replace(/\.service$/, '')}.json`);
}

function load(name) {
  const file = unitFile(name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
}

function save(unit) {
  fs.writeFileSync(unitFile(unit.name), JSON.stringify(unit, null, 2));
}

function full(name) {
  return /\.[a-z]+$/.test(name) ? name : `${name}.service`;
}

function advance(unit) {
  const pending = unit.pending;
  if (!pending) return;
  if (pending.remaining > 0) {
    pending.remaining -= 1;
    return;
  }
  unit.active = pending.then;
  unit.pending = null;
}

// Options may come before or after the verb; `-p` takes a value; `--` ends the options.
function parse(argv) {
  const words = [];
  const options = new Set();
  let property;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-p' || arg === '--property') property = argv[++i];
    else if (arg.startsWith('-')) options.add(arg);
    else words.push(arg);
  }
  return { verb: words[0], name: words[1], options, property };
}

function run({ verb, name, options, property }) {
  const unit = name === undefined ? undefined : load(name);
  switch (verb) {
    case 'show': {
      if (property !== 'LoadState') return { code: 1, stderr: 'fake systemctl: only -p LoadState is scripted\n' };
      const value = unit ? 'loaded' : 'not-found';
      return { code: 0, stdout: options.has('--value') ? `${value}\n` : `LoadState=${value}\n` };
    }
    case 'is-active': {
      if (!unit) return { code: 3, stdout: 'inactive\n' };
      advance(unit);
      save(unit);
      return { code: unit.active === 'active' ? 0 : 3, stdout: `${unit.active}\n` };
    }
    case 'stop':
    case 'start': {
      if (!unit) {
        const why = verb === 'stop' ? 'not loaded' : 'not found';
        return { code: 5, stderr: `Failed to ${verb} ${full(name)}: Unit ${full(name)} ${why}.\n` };
      }
      if (unit.authRequired) {
        return {
          code: 1,
          stderr: `Failed to ${verb} ${full(name)}: Interactive authentication required.\nSee system logs and 'systemctl status ${full(name)}' for details.\n`,
        };
      }
      if (unit.hangsOn === verb) {
        // A job that never finishes: the caller's timeout has to end this.
        unit.active = verb === 'stop' ? 'deactivating' : 'activating';
        save(unit);
        return { hang: true };
      }
      if (verb === 'start' && unit.failsToStart) {
        unit.active = 'failed';
        save(unit);
        return {
          code: 1,
          stderr: `Job for ${full(name)} failed because the control process exited with error code.\nSee "systemctl status ${full(name)}" and "journalctl -xeu ${full(name)}" for details.\n`,
        };
      }
      const target = verb === 'stop' ? 'inactive' : unit.diesAfterStart ? 'failed' : 'active';
      const between = verb === 'stop' ? 'deactivating' : 'activating';
      if (unit.transitionQueries > 0) {
        unit.active = between;
        unit.pending = { remaining: unit.transitionQueries, then: target };
      } else {
        unit.active = target;
        unit.pending = null;
      }
      save(unit);
      return { code: 0 };
    }
    default:
      return { code: 1, stderr: `fake systemctl: "${verb}" is not scripted\n` };
  }
}

const argv = process.argv.slice(2);
const result = run(parse(argv));
fs.appendFileSync(path.join(root, 'state', 'calls.jsonl'), JSON.stringify({ args: argv, exitCode: result.hang ? null : result.code, stdout: (result.stdout || '').trim() }) + '\n');
if (result.hang) {
  setInterval(() => {}, 60_000);
} else {
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.stderr) process.stderr.write(result.stderr);
  process.exitCode = result.code;
}
