import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import type { Reporter } from '../../src/jobs/reporter.js';
import { LOG_FILE, openRunLog, redactor, rotateLog } from '../../src/schedule/run-log.js';

/** A reporter that keeps what it is told, as the terminal would show it. */
function recordingReporter(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`), progress: () => {} };
}

describe('the run log in the backup dir', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-log-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('appends timestamped lines, mode 0600, and passes them on to the terminal', async () => {
    const terminal = recordingReporter();
    const log = openRunLog(dir, { command: 'nightly', secrets: [], tee: terminal });
    log.reporter.info('Stopping Apache');
    log.reporter.warn('Copy to /mnt/share failed');
    const text = await fs.readFile(path.join(dir, LOG_FILE), 'utf8');
    expect(text).to.match(/^\d{4}-\d\d-\d\dT[\d:.]+Z nightly\[\d+\] info: Stopping Apache\n.* warn: Copy to \/mnt\/share failed\n$/);
    expect((await fs.stat(path.join(dir, LOG_FILE))).mode & 0o777).to.equal(0o600);
    expect(terminal.lines).to.deep.equal(['Stopping Apache', 'warning: Copy to /mnt/share failed']);
  });

  it('never holds a password: every secret, plain or URL-encoded, becomes ***, in the log and on the terminal', async () => {
    const terminal = recordingReporter();
    const secrets = ['s3cret pw/with:odd@chars', 'pg-Admin!'];
    const log = openRunLog(dir, { command: 'nightly', secrets, tee: terminal });
    log.reporter.warn(`login failed for sftp://backup:${encodeURIComponent(secrets[0]!)}@vault/srv with ${secrets[1]}`);
    const text = await fs.readFile(path.join(dir, LOG_FILE), 'utf8');
    expect(text).to.include('sftp://backup:***@vault/srv with ***');
    for (const secret of secrets) {
      expect(text).not.to.include(secret);
      expect(terminal.lines.join('\n')).not.to.include(secret);
    }
    expect(redactor([])('nothing to hide')).to.equal('nothing to hide');
  });

  it('is rotated by size: log -> log.1 -> log.2 -> log.3, the oldest dropped', async () => {
    const file = path.join(dir, LOG_FILE);
    for (const generation of ['first', 'second', 'third', 'fourth', 'fifth']) {
      await fs.writeFile(file, `${generation}\n`.repeat(1000));
      rotateLog(dir, 4096);
    }
    await fs.writeFile(file, 'small\n');
    rotateLog(dir, 4096); // under the limit: stays
    expect((await fs.readdir(dir)).sort()).to.deep.equal([LOG_FILE, `${LOG_FILE}.1`, `${LOG_FILE}.2`, `${LOG_FILE}.3`]);
    expect((await fs.readFile(`${file}.1`, 'utf8')).split('\n')[0]).to.equal('fifth');
    expect((await fs.readFile(`${file}.3`, 'utf8')).split('\n')[0]).to.equal('third');
    expect(await fs.readFile(file, 'utf8')).to.equal('small\n');
  });

  it('a log that cannot be written never stops the run: it is said once on the terminal', async () => {
    const terminal = recordingReporter();
    const log = openRunLog(path.join(dir, 'missing'), { command: 'nightly', secrets: [], tee: terminal });
    log.reporter.info('one');
    log.reporter.info('two');
    expect(terminal.lines.filter((l) => l.startsWith('warning: cannot write the log'))).to.have.length(1);
    expect(terminal.lines.filter((l) => !l.startsWith('warning'))).to.deep.equal(['one', 'two']);
  });
});
