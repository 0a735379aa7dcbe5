import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createStandinWorld, downtimeOf, parseTimeline } from '../../src/sandbox/standin-services.js';
import { expect } from '../support/expect.js';

/** The bench's downtime figure: the stand-in services' own timestamps, not the tool's word. */
describe("downtime is read from the stand-in services' timeline", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-downtime-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs from the first service stopped to the last one up again, whatever the order in between', async () => {
    const file = path.join(dir, 'timeline.log');
    await fs.writeFile(
      file,
      [
        '1000 stop Apache',
        '1200 stop cupm JBossService',
        '1300 stop cupm NiceService',
        '9000 start cupm NiceService',
        '9400 start cupm JBossService',
        '9500 start Apache',
        '',
      ].join('\n'),
    );
    expect(downtimeOf(parseTimeline(await fs.readFile(file, 'utf8')))).to.equal(8500);
  });

  it('is 0 when nothing was stopped, and an error while a service is still down', () => {
    expect(downtimeOf([])).to.equal(0);
    expect(() => downtimeOf(parseTimeline('100 stop Apache\n200 stop NICE\n300 start NICE\n'))).to.throw(/still down: Apache/);
  });

  it('refuses a line that is not a timestamped stop or start', () => {
    expect(() => parseTimeline('100 stop Apache\nstop NICE\n')).to.throw(/not a timeline line/);
  });

  it('is what the stand-in services write when they are stopped and started', async () => {
    const world = await createStandinWorld(dir, { services: ['Apache', 'NICE'] });
    try {
      for (const service of world.services) await world.start(service);
      await world.timeline({ clear: true });
      const before = Date.now();
      for (const service of world.services) await world.stop(service);
      for (const service of world.services) await world.start(service);
      const events = await world.timeline();
      expect(events.map((e) => `${e.verb} ${e.service}`)).to.deep.equal(['stop Apache', 'stop NICE', 'start Apache', 'start NICE']);
      const downtime = downtimeOf(events);
      expect(downtime).to.be.greaterThan(0);
      expect(downtime).to.be.at.most(Date.now() - before);
    } finally {
      await world.destroy();
    }
  });
});
