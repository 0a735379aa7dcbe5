import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { setConnectionUrlHost } from '../../src/artifacts/dfc-ds-xml.js';
import { JBOSS_FOLDER_85 } from '../../src/sandbox/install-tree.js';
import path from 'node:path';
import { expect } from '../support/expect.js';
import { runCli } from '../support/cli.js';
import { createSandboxServer, type SandboxServer } from '../../src/sandbox/sandbox-server.js';
import type { CheckResult } from '../../src/doctor/check.js';

interface DoctorJson {
  ok: boolean;
  exitCode: number;
  counts: { pass: number; warn: number; fail: number };
  checks: CheckResult[];
}

describe('doctor checks a CUPM server before anything runs', () => {
  let server: SandboxServer;

  before(async () => {
    server = await createSandboxServer({ name: 'cupm-doctor-test' });
  });
  after(async () => {
    await server?.destroy();
  });

  const doctorJson = async (env = server.env()) => {
    const run = await runCli(['doctor', '--json'], { env });
    return { run, report: run.json<DoctorJson>(), check: (id: string) => run.json<DoctorJson>().checks.find((c) => c.id === id) };
  };

  it('passes a healthy server (exit 0): every check a line, warnings saying what to do', async () => {
    const run = await runCli(['doctor'], { env: server.env() });
    expect(run.exitCode, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout)
      .to.match(/^\[pass\] PostgreSQL reachable with the admin login: PostgreSQL \d+/m)
      .and.match(/^\[pass\] Application database "cupm": present/m)
      .and.match(/^\[pass\] pg_dumpall found and compatible with the server/m)
      .and.match(/^\[pass\] Service "cupm JBossService": exists, running/m)
      .and.match(/^\[pass\] The five CUPM files, present and readable/m)
      .and.match(/^\[pass\] CUPM version in install.log: CUPM 8.5/m)
      .and.match(/^\[pass\] Install dir path has no spaces/m)
      .and.match(/^\[pass\] sep\\dfc.properties parses: \d+ settings; database host in dfc.postgres.host$/m)
      .and.match(/^\[pass\] Database host: dfc.properties and dfc-ds.xml agree: /m)
      .and.match(
        new RegExp(
          `^\\[pass\\] Port ${server.cluster.port} \\(dfc.postgres.port\\): in use by the CUPM database \\(postgres \\(pid \\d+\\)\\)$`,
          'm',
        ),
      )
      .and.match(/^\[pass\] Port 46008 \(dfc.jboss.port\): free$/m)
      .and.match(/^\[pass\] Port 46457 \(bisocket transport \(JBoss\)\): free$/m)
      .and.match(/^\[pass\] Backup dir writable/m)
      .and.match(/^\[warn\] Newest verified backup: no backup in/m)
      .and.match(/^ {7}what to do: run cupm-backup backup$/m)
      .and.match(/0 failed$/m);
  });

  it('reports the newest verified backup and its age once there is one', async () => {
    const backup = await runCli(['backup'], { env: server.env() });
    expect(backup.exitCode, backup.stderr).to.equal(0);
    const { run, check } = await doctorJson();
    expect(run.exitCode).to.equal(0);
    expect(check('backup.newest')).to.include({ status: 'pass' });
    expect(check('backup.newest')!.detail)
      .to.contain(path.basename(backup.stdout.trim()))
      .and.match(/, 0 h old \(CUPM 8\.5\)/);
    expect(check('backup.space')!.detail).to.match(/free; the last archive is .* \(dump .*\)/);
  });

  it('prints exactly one JSON object with every check', async () => {
    const { run, report } = await doctorJson();
    expect(run.exitCode).to.equal(0);
    expect(report).to.include({ ok: true, exitCode: 0 });
    expect(report.counts.fail).to.equal(0);
    expect(report.checks.map((c) => c.id)).to.include.members([
      'postgres.connect',
      'postgres.database',
      'postgres.pg_dumpall',
      'postgres.psql',
      'services.manager',
      'services.Apache',
      'services.cupm JBossService',
      'services.cupm NiceService',
      'files.install-path',
      'files.present',
      'files.version',
      'backup.dir',
      'backup.space',
      'backup.newest',
      'backup.off-server',
    ]);
    for (const c of report.checks) expect(c.status).to.be.oneOf(['pass', 'warn', 'fail']);
  });

  it('fails (exit 4) against a server that is down, and still checks everything else', async () => {
    await server.cluster.stop();
    try {
      const { run, check, report } = await doctorJson();
      expect(run.exitCode).to.equal(4);
      expect(report).to.include({ ok: false, exitCode: 4 });
      expect(check('postgres.connect')).to.include({ status: 'fail' });
      expect(check('postgres.connect')!.detail).to.contain('not reachable');
      expect(check('postgres.connect')!.hint).to.contain('PGHOST/PGPORT');
      expect(check('postgres.pg_dumpall')).to.include({ status: 'warn' });
      expect(check('files.present')).to.include({ status: 'pass' });
      expect(check('services.cupm JBossService')).to.include({ status: 'pass' });
      const text = await runCli(['doctor'], { env: server.env() });
      expect(text.exitCode).to.equal(4);
      expect(text.stdout)
        .to.match(/^\[fail\] PostgreSQL reachable with the admin login: Cannot connect/m)
        .and.match(/1 failed: fix the failures/);
    } finally {
      await server.cluster.start();
    }
  });

  it('fails (exit 4) when a CUPM file is missing, naming it', async () => {
    const keystore = path.join(server.installDir, 'sep', 'dfc.keystore');
    await rename(keystore, `${keystore}.away`);
    try {
      const { run, check } = await doctorJson();
      expect(run.exitCode).to.equal(4);
      expect(check('files.present')).to.include({ status: 'fail' });
      expect(check('files.present')!.detail).to.contain(keystore);
    } finally {
      await rename(`${keystore}.away`, keystore);
    }
  });

  it('fails when a configured service does not exist', async () => {
    const { run, check } = await doctorJson({ ...server.env(), CUPM_SERVICES: 'Apache,cupm JBossService,cupm NiceService,Tomcat' });
    expect(run.exitCode).to.equal(4);
    expect(check('services.Tomcat')).to.include({ status: 'fail' });
    expect(check('services.Tomcat')!.hint).to.contain('CUPM_SERVICES');
  });

  it('fails an install dir with a space in its path, which the install guide forbids', async () => {
    const spaced = path.join(server.dir, 'Program Files');
    await mkdir(spaced, { recursive: true });
    await symlink(server.installDir, path.join(spaced, 'CUPM'));
    const { run, check } = await doctorJson({ ...server.env(), CUPM_INSTALL_DIR: path.join(spaced, 'CUPM') });
    expect(run.exitCode).to.equal(4);
    expect(check('files.install-path')).to.include({ status: 'fail' });
    expect(check('files.install-path')!.hint).to.contain('without spaces');
  });

  it('fails when pg_dumpall is older than the server', async () => {
    const bin = path.join(server.dir, 'old-bin');
    await mkdir(bin, { recursive: true });
    for (const tool of ['pg_dumpall', 'psql']) {
      await writeFile(path.join(bin, tool), '#!/bin/sh\necho "' + tool + ' (PostgreSQL) 8.2.4"\n', { mode: 0o755 });
    }
    const { run, check } = await doctorJson({ ...server.env(), CUPM_PG_BIN: bin });
    expect(run.exitCode).to.equal(4);
    expect(check('postgres.pg_dumpall')).to.include({ status: 'fail' });
    expect(check('postgres.pg_dumpall')!.detail).to.contain('older than the server').and.contain('cannot dump');
    expect(check('postgres.psql')).to.include({ status: 'warn' });
    expect(await readFile(path.join(bin, 'psql'), 'utf8')).to.contain('8.2.4');
  });

  /** Runs fn with a CUPM file changed, and puts the original bytes back. */
  async function withFileChanged(relative: string, change: (text: string) => string, fn: () => Promise<void>) {
    const file = path.join(server.installDir, ...relative.split('/'));
    const original = await readFile(file);
    await writeFile(file, change(original.toString('latin1')), 'latin1');
    try {
      await fn();
    } finally {
      await writeFile(file, original);
    }
  }

  it('fails (exit 4) when a port of dfc.properties is taken by another program, and names it', async () => {
    const holder = execa(
      process.execPath,
      ['-e', "const s = require('net').createServer().listen(0, () => console.log(s.address().port)); setInterval(() => {}, 1000);"],
      { stdin: 'ignore' },
    );
    try {
      const port = await new Promise<number>((resolve) => holder.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      await withFileChanged(
        'sep/dfc.properties',
        (t) => t.replace('dfc.jboss.port=46008', `dfc.jboss.port=${port}`),
        async () => {
          const { run, check } = await doctorJson();
          expect(run.exitCode).to.equal(4);
          expect(check('ports.dfc.jboss.port')).to.include({ status: 'fail', title: `Port ${port} (dfc.jboss.port)` });
          expect(check('ports.dfc.jboss.port')!.detail).to.equal(`used by node (pid ${holder.pid}), not by CUPM's JBoss`);
          expect(check('ports.dfc.jboss.port')!.hint).to.contain('change dfc.jboss.port in sep\\dfc.properties to a free port');
        },
      );
    } finally {
      holder.kill();
      await holder.catch(() => {});
    }
  });

  it('fails when dfc.properties and dfc-ds.xml name different database hosts', async () => {
    const ds = `${JBOSS_FOLDER_85}/server/cupm/deploy/dfc-ds.xml`;
    await withFileChanged(
      ds,
      (t) => setConnectionUrlHost(t, '192.0.2.99'),
      async () => {
        const { run, check } = await doctorJson();
        expect(run.exitCode).to.equal(4);
        expect(check('files.hosts-agree')).to.include({ status: 'fail' });
        expect(check('files.hosts-agree')!.detail).to.contain('dfc.postgres.host=127.0.0.1').and.contain('says 192.0.2.99');
        expect(check('files.hosts-agree')!.hint).to.contain('--db-host');
      },
    );
  });

  it('reads dfc.properties whatever its line ends (CR only, LF), and fails one Java cannot read', async () => {
    for (const eol of ['\r', '\n']) {
      await withFileChanged(
        'sep/dfc.properties',
        (t) => t.replace(/\r\n/g, eol),
        async () => {
          const { check } = await doctorJson();
          expect(check('files.dfc-properties'), JSON.stringify(eol)).to.include({ status: 'pass' });
          expect(check('files.hosts-agree'), JSON.stringify(eol)).to.include({ status: 'pass' });
        },
      );
    }
    await withFileChanged(
      'sep/dfc.properties',
      (t) => `${t}dfc.broken=\\u12\r\n`,
      async () => {
        const { run, check } = await doctorJson();
        expect(run.exitCode).to.equal(4);
        expect(check('files.dfc-properties')).to.include({ status: 'fail' });
        expect(check('files.dfc-properties')!.detail).to.contain('Malformed \\uxxxx escape');
        expect(check('ports.dfc')).to.include({ status: 'warn' });
      },
    );
  });
});
