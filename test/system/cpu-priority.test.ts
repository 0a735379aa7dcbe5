import os from 'node:os';
import { lowerCpuPriority } from '../../src/system/cpu-priority.js';
import { expect } from '../support/expect.js';

describe('the archive writer yields the CPU while the services are down', () => {
  it('lowers the priority of this process while the dump runs, and puts it back afterwards', function () {
    const before = os.getPriority();
    const restore = lowerCpuPriority();
    try {
      expect(os.getPriority()).to.equal(os.constants.priority.PRIORITY_LOW);
    } finally {
      restore();
    }
    // Raising it back needs the right to (root, as CI runs); without it the process stays low.
    if (process.getuid?.() === 0) expect(os.getPriority()).to.equal(before);
  });
});
