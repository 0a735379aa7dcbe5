#!/usr/bin/env node
// A scripted stand-in for Windows' sc.exe, for tests on machines without a Service Control Manager.
// fake-sc.ts copies it to <root>/bin/sc.exe; it keeps one JSON file per service in <root>/state/.
// It prints what the real sc.exe prints (CRLF, recorded in test/fixtures/sc/) and exits with the
// Win32 error code, and it walks services through the pending states the way real ones do:
// `stop` answers STOP_PENDING and the service stays STOP_PENDING for the next `pendingQueries`
// queries. CommonJS on purpose: the copy is named sc.exe, which Node loads as CommonJS.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.dirname(path.dirname(process.argv[1]));
const stateDir = path.join(root, 'state');
const config = JSON.parse(fs.readFileSync(path.join(stateDir, 'config.json'), 'utf8'));
const CRLF = '\r\n';

const WORDS = { 1: 'STOPPED', 2: 'START_PENDING', 3: 'STOP_PENDING', 4: 'RUNNING', 5: 'CONTINUE_PENDING', 6: 'PAUSE_PENDING', 7: 'PAUSED' };
/** Where a pending state ends up. */
const SETTLES_TO = { 2: 4, 3: 1, 5: 4, 6: 7 };

const MESSAGES = {
  5: 'Access is denied.',
  1056: 'An instance of the service is already running.',
  1060: 'The specified service does not exist as an installed service.',
  1061: 'The service cannot accept control messages at this time.',
  1062: 'The service has not been started.',
  1072: 'The specified service has been marked for deletion.',
};
// Japanese Windows prints system messages in cp932; Node cannot encode it, so these are the bytes.
const MESSAGES_CP932 = {
  5: '8341834e835a835882aa8b9194db82b382ea82dc82b582bd8142',
  1056: '8354815b8372835882cc834383938358835e8393835882cd8af982c98ec08d7382b382ea82c482a282dc82b78142',
  1060: '8e7792e882b382ea82bd8354815b8372835882cd8343839383588367815b838b82b382ea82bd8354815b8372835882c682b582c491b68ddd82b582dc82b982f18142',
  1062: '8354815b8372835882cd8a4a8e6e82b382ea82c482a282dc82b982f18142',
};

function servicesDir() {
  return path.join(stateDir, 'services');
}

function load() {
  return fs.readdirSync(servicesDir()).map((file) => JSON.parse(fs.readFileSync(path.join(servicesDir(), file), 'utf8')));
}

function save(service) {
  fs.writeFileSync(path.join(servicesDir(), `${service.keyName}.json`), JSON.stringify(service, null, 2));
}

// The Service Control Manager compares names case-insensitively.
function byKeyName(name) {
  return load().find((s) => s.keyName.toLowerCase() === String(name).toLowerCase());
}

function byDisplayName(name) {
  return load().find((s) => s.displayName && s.displayName.toLowerCase() === String(name).toLowerCase());
}

/** One query's worth of time passes: a pending service gets closer to where it is going. */
function advance(service) {
  const pending = service.pending;
  if (!pending) return;
  if (pending.forever) return;
  if (pending.remaining > 0) {
    pending.remaining -= 1;
    service.checkpoint = (service.checkpoint || 0) + 1;
    return;
  }
  service.state = pending.then;
  service.pending = null;
  service.checkpoint = 0;
  if (service.state === 1 && service.failsWithExitCode) service.win32ExitCode = service.failsWithExitCode;
}

function flags(state) {
  if (state === 1) return null;
  if (state === 2) return 'NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN';
  if (state >= 5) return 'STOPPABLE, PAUSABLE, ACCEPTS_SHUTDOWN';
  return 'STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN';
}

function block(name, service, withPid) {
  const state = service.state;
  const w32 = service.win32ExitCode || 0;
  const pending = state !== 1 && state !== 4 && state !== 7;
  const lines = [
    '',
    `SERVICE_NAME: ${name} `,
    '        TYPE               : 10  WIN32_OWN_PROCESS  ',
    `        STATE              : ${state}  ${WORDS[state]} `,
  ];
  if (flags(state)) lines.push(`                                (${flags(state)})`);
  lines.push(
    `        WIN32_EXIT_CODE    : ${w32}  (0x${w32.toString(16)})`,
    '        SERVICE_EXIT_CODE  : 0  (0x0)',
    `        CHECKPOINT         : 0x${(pending ? service.checkpoint || 0 : 0).toString(16)}`,
    `        WAIT_HINT          : 0x${(pending ? 0x7d0 : 0).toString(16)}`,
  );
  if (withPid) lines.push('        PID                : 2868', '        FLAGS              : ');
  return lines.join(CRLF) + CRLF;
}

function fail(operation, code) {
  let message = Buffer.from(MESSAGES[code] || `Error ${code}.`, 'utf8');
  if (config.locale === 'ja' && MESSAGES_CP932[code]) message = Buffer.from(MESSAGES_CP932[code], 'hex');
  const head = Buffer.from(`[SC] ${operation} FAILED ${code}:${CRLF}${CRLF}`, 'ascii');
  return { code, out: Buffer.concat([head, message, Buffer.from(CRLF + CRLF, 'ascii')]) };
}

function ok(text) {
  return { code: 0, out: Buffer.from(text, 'utf8') };
}

function run(verb, name) {
  switch (verb) {
    case 'query': {
      const service = byKeyName(name);
      if (!service) return fail('EnumQueryServicesStatus:OpenService', 1060);
      advance(service);
      save(service);
      return ok(block(name, service, false));
    }
    case 'stop': {
      const service = byKeyName(name);
      if (!service) return fail('OpenService', 1060);
      if (service.accessDenied) return fail('OpenService', 5);
      if (service.stopsBeforeControl) {
        // Someone else stopped it between the caller's query and this stop.
        Object.assign(service, { state: 1, pending: null, stopsBeforeControl: false });
        save(service);
      }
      if (service.state === 1) return fail('ControlService', 1062);
      if (SETTLES_TO[service.state]) return fail('ControlService', 1061);
      service.state = 3;
      service.checkpoint = 0;
      service.pending = service.stuckStopping ? { forever: true } : { remaining: service.pendingQueries, then: 1 };
      save(service);
      return ok(block(name, service, false));
    }
    case 'start':
    case 'continue': {
      const service = byKeyName(name);
      if (!service) return fail('OpenService', 1060);
      if (service.accessDenied) return fail('OpenService', 5);
      if (verb === 'continue') {
        if (service.state === 1) return fail('ControlService', 1062);
        if (service.state !== 7) return fail('ControlService', 1061);
        Object.assign(service, { state: 5, checkpoint: 0, pending: { remaining: service.pendingQueries, then: 4 } });
        save(service);
        return ok(block(name, service, false));
      }
      if (service.startsBeforeControl) {
        Object.assign(service, { state: 4, pending: null, startsBeforeControl: false });
        save(service);
      }
      if (service.state !== 1) return fail('StartService', 1056);
      service.state = 2;
      service.checkpoint = 0;
      service.win32ExitCode = 0;
      service.pending = { remaining: service.pendingQueries, then: service.failsWithExitCode ? 1 : 4 };
      save(service);
      return ok(block(name, service, true));
    }
    case 'delete': {
      const service = byKeyName(name);
      if (!service) return fail('OpenService', 1060);
      if (service.accessDenied) return fail('OpenService', 5);
      if (service.markedForDeletion) return fail('DeleteService', 1072);
      // Deleting only marks it; the SCM removes it once it is stopped and its last handle closed.
      if (service.state !== 1 || service.handleOpen) {
        service.markedForDeletion = true;
        save(service);
      } else {
        fs.rmSync(path.join(servicesDir(), `${service.keyName}.json`));
      }
      return ok(`[SC] DeleteService SUCCESS${CRLF}`);
    }
    case 'getkeyname': {
      // Wine's sc.exe has no getkeyname: it answers with its usage.
      if (config.getKeyName === false) return { code: 87, out: Buffer.from(`fake sc.exe: "getkeyname" is not scripted${CRLF}`, 'utf8') };
      const service = byDisplayName(name);
      if (!service) return fail('GetServiceKeyName', 1060);
      return ok(`[SC] GetServiceKeyName SUCCESS${CRLF}Name = ${service.keyName}${CRLF}`);
    }
    default:
      return { code: 87, out: Buffer.from(`fake sc.exe: "${verb}" is not scripted${CRLF}`, 'utf8') };
  }
}

// `sc.exe \\HOST <verb> ...`: the fake is every host; the calls log keeps the whole argument list.
const words = process.argv.slice(2);
if (words[0] && words[0].startsWith('\\\\')) words.shift();
const [verb, name] = words;
const result = run(verb, name);
const shown = byKeyName(name);
fs.appendFileSync(
  path.join(stateDir, 'calls.jsonl'),
  JSON.stringify({ args: process.argv.slice(2), exitCode: result.code, state: shown ? WORDS[shown.state] : null }) + '\n',
);
process.stdout.write(result.out);
process.exitCode = result.code;
