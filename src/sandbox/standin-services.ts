import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { quote } from 'shell-quote';
import { toolFile } from '../version.js';
import { processesNaming } from './proc.js';

/** The stand-in service script (plain JS: service managers call it often, it must start fast). */
export const STANDIN_SCRIPT = toolFile('scripts', 'standin-service.mjs');

export type StandinFault = 'ignore-stop' | 'fail-start' | 'fail-stop';

/** Real processes standing in for Apache, JBoss and NICE, driven through the `command` manager. */
export interface StandinWorld {
  dir: string;
  services: string[];
  /** CUPM_SERVICE_MANAGER=command and the three command templates. */
  env(): Record<string, string>;
  status(service: string): Promise<'running' | 'stopped'>;
  start(service: string): Promise<void>;
  /** Stops it and waits until it is gone, as `net stop` does (the bench's manual procedure). */
  stop(service: string): Promise<void>;
  setFault(service: string, fault: StandinFault, on?: boolean): Promise<void>;
  /** The stop/start requests received so far, in order ("stop Apache"); `clear` forgets them. */
  events(options?: { clear?: boolean }): Promise<string[]>;
  /** The timestamped stops and starts so far (see `downtimeOf`); `clear` forgets them. */
  timeline(options?: { clear?: boolean }): Promise<TimelineEvent[]>;
  /** Kills every stand-in process, whatever its faults. */
  destroy(): Promise<void>;
}

export interface StandinOptions {
  services: string[];
  /** The service that holds an idle session on the application database, as JBoss's pool does. */
  holdDb?: { service: string; connection: { host: string; port: number; user: string; password: string; database: string } };
}

export async function createStandinWorld(dir: string, options: StandinOptions): Promise<StandinWorld> {
  await fs.mkdir(dir, { recursive: true });
  // It holds the app role's password: owner-only, like everything secret we write.
  await fs.writeFile(path.join(dir, 'standin.json'), JSON.stringify(options), { mode: 0o600 });
  const slug = (service: string) => service.toLowerCase().replace(/[^a-z0-9]/g, '_');
  const run = (verb: string, service: string) =>
    execa(process.execPath, [STANDIN_SCRIPT, verb, service, dir], { reject: false, stdin: 'ignore' });
  const template = (verb: string) => quote([process.execPath, STANDIN_SCRIPT, verb]) + ' {service} ' + quote([dir]);
  return {
    dir,
    services: options.services,
    env: () => ({
      CUPM_SERVICE_MANAGER: 'command',
      CUPM_SERVICES: options.services.join(','),
      CUPM_SERVICE_COMMAND_STOP: template('stop'),
      CUPM_SERVICE_COMMAND_START: template('start'),
      CUPM_SERVICE_COMMAND_STATUS: template('status'),
    }),
    async status(service) {
      return (await run('status', service)).exitCode === 0 ? 'running' : 'stopped';
    },
    async start(service) {
      const result = await run('start', service);
      if (result.exitCode !== 0) throw new Error(`stand-in ${service} did not start: ${result.stderr}`);
    },
    async stop(service) {
      const result = await run('stop', service);
      if (result.exitCode !== 0) throw new Error(`stand-in ${service} did not stop: ${result.stderr}`);
      const deadline = Date.now() + 60_000;
      while ((await run('status', service)).exitCode === 0) {
        if (Date.now() > deadline) throw new Error(`stand-in ${service} is still running a minute after its stop`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async setFault(service, fault, on = true) {
      const file = path.join(dir, `${slug(service)}.${fault}`);
      if (on) await fs.writeFile(file, '');
      else await fs.rm(file, { force: true });
    },
    async events(eventOptions = {}) {
      const file = path.join(dir, 'events.log');
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      if (eventOptions.clear) await fs.rm(file, { force: true });
      return text.split('\n').filter(Boolean);
    },
    async timeline(timelineOptions = {}) {
      const file = path.join(dir, 'timeline.log');
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      if (timelineOptions.clear) await fs.rm(file, { force: true });
      return parseTimeline(text);
    },
    async destroy() {
      for (const service of options.services) {
        try {
          const pid = Number(await fs.readFile(path.join(dir, `${slug(service)}.pid`), 'utf8'));
          process.kill(pid, 'SIGKILL');
        } catch {
          // not running
        }
      }
      // A stand-in started a moment ago (by a tool putting the services back as it was stopped)
      // may not have written its pid file yet: every process naming this world is killed too,
      // until none is left, so that nothing writes into the folder after this.
      for (let round = 0; round < 20; round++) {
        const left = processesNaming(dir);
        if (left.length === 0) break;
        for (const { pid } of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

/** One line of a stand-in world's timeline.log: a running service asked to stop, or a service up again. */
export interface TimelineEvent {
  at: number;
  verb: 'stop' | 'start';
  service: string;
}

/** Reads timeline.log ("<ms since the epoch> stop|start <service>" lines); anything else is an error. */
export function parseTimeline(text: string): TimelineEvent[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = /^(\d+) (stop|start) (.+)$/.exec(line);
      if (!match) throw new Error(`not a timeline line: ${JSON.stringify(line)}`);
      return { at: Number(match[1]), verb: match[2] as 'stop' | 'start', service: match[3]! };
    });
}

/**
 * How long CUPM was down, in ms, by the services' own clocks: from the first service asked to
 * stop to the last one up again. 0 when nothing was stopped; an error when a service stopped
 * and was not started again (the outage has not ended).
 */
export function downtimeOf(events: readonly TimelineEvent[]): number {
  const stops = events.filter((e) => e.verb === 'stop');
  if (stops.length === 0) return 0;
  const firstStop = Math.min(...stops.map((e) => e.at));
  const down = new Set<string>();
  for (const event of [...events].sort((a, b) => a.at - b.at)) {
    if (event.verb === 'stop') down.add(event.service);
    else down.delete(event.service);
  }
  if (down.size > 0) throw new Error(`still down: ${[...down].join(', ')} stopped and was not started again`);
  const lastStart = Math.max(...events.filter((e) => e.verb === 'start').map((e) => e.at));
  return lastStart - firstStop;
}
