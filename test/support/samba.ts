import crypto from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { freePort } from '../../src/sandbox/cluster.js';

/** Linux accounts the test Samba server knows (created once; their Samba passwords are new per run). */
export const SAMBA_ADMIN = 'cupm-smb-admin';
export const SAMBA_USER = 'cupm-smb-user';
/** The Unix group mapped to BUILTIN\Administrators (S-1-5-32-544): its members may control services. */
const ADMIN_GROUP = 'cupm-smb-admins';

/**
 * A real Samba smbd on 127.0.0.1 with its own smb.conf, passdb and state in a temp dir: a Windows
 * server as far as MS-RPC goes. Its embedded spoolss service is `Spooler` ("Print Spooler"), which
 * `net rpc service` can query, stop and start. `admin` is in BUILTIN\Administrators; `user` is not.
 */
export interface TestSamba {
  host: '127.0.0.1';
  port: number;
  admin: { user: string; password: string };
  user: { user: string; password: string };
  /** The folder shared as `\\127.0.0.1\cupm` (writable by admin). */
  shareDir: string;
  shareName: 'cupm';
  /** smb.conf of this server (for `net -s` on the server side). */
  confFile: string;
}

let shared: Promise<TestSamba> | undefined;

/**
 * The one smbd of this test run, started on first use and stopped when the test process exits
 * (smbd starts in about a second; starting it once keeps the Samba tests light on a loaded machine).
 */
export function sharedSamba(): Promise<TestSamba> {
  shared ??= startSamba();
  return shared;
}

async function startSamba(): Promise<TestSamba> {
  if (process.getuid?.() !== 0) throw new Error('the Samba tests start smbd and create test users: run them as root (CI does)');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-samba-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['private', 'lock', 'state', 'cache', 'pid', 'log', 'share']) mkdirSync(path.join(dir, sub));
  await fs.chmod(path.join(dir, 'private'), 0o700);
  const port = await freePort();
  const confFile = path.join(dir, 'smb.conf');
  await fs.writeFile(
    confFile,
    [
      '[global]',
      '  workgroup = CUPMTEST',
      '  netbios name = CUPMTEST',
      '  server role = standalone server',
      `  passdb backend = tdbsam:${dir}/private/passdb.tdb`,
      `  private dir = ${dir}/private`,
      `  lock directory = ${dir}/lock`,
      `  state directory = ${dir}/state`,
      `  cache directory = ${dir}/cache`,
      `  pid directory = ${dir}/pid`,
      `  ncalrpc dir = ${dir}/state/ncalrpc`,
      `  log file = ${dir}/log/smbd.log`,
      '  log level = 1',
      `  smb ports = ${port}`,
      '  interfaces = 127.0.0.1',
      '  bind interfaces only = yes',
      // The print spooler is the one service Samba's svcctl lets a client stop and start.
      '  disable spoolss = no',
      '  load printers = no',
      '  printcap name = /dev/null',
      '  rpc_server:svcctl = embedded',
      '  rpc_server:spoolss = embedded',
      '  map to guest = never',
      '[cupm]',
      `  path = ${dir}/share`,
      '  read only = no',
      `  valid users = ${SAMBA_ADMIN}`,
      '',
    ].join('\n'),
  );
  const admin = { user: SAMBA_ADMIN, password: `A-${crypto.randomBytes(9).toString('base64url')}` };
  const user = { user: SAMBA_USER, password: `U-${crypto.randomBytes(9).toString('base64url')}` };
  await ensureUnixAccounts();
  for (const account of [admin, user]) {
    await execa('smbpasswd', ['-c', confFile, '-a', '-s', account.user], { input: `${account.password}\n${account.password}\n` });
  }
  await execa('net', ['-s', confFile, 'groupmap', 'add', 'sid=S-1-5-32-544', `unixgroup=${ADMIN_GROUP}`, 'type=builtin', 'ntgroup=Administrators']);
  await fs.chown(path.join(dir, 'share'), Number((await execa('id', ['-u', SAMBA_ADMIN])).stdout), 0);

  const child = execa('smbd', ['--foreground', '--no-process-group', '-s', confFile], { stdin: 'ignore', reject: false, cleanup: true });
  process.once('exit', () => child.kill('SIGKILL'));
  await waitForPort(port, child, path.join(dir, 'log', 'smbd.log'));
  return { host: '127.0.0.1', port, admin, user, shareDir: path.join(dir, 'share'), shareName: 'cupm', confFile };
}

async function ensureUnixAccounts(): Promise<void> {
  if ((await execa('getent', ['group', ADMIN_GROUP], { reject: false })).exitCode !== 0) await execa('groupadd', [ADMIN_GROUP]);
  for (const name of [SAMBA_ADMIN, SAMBA_USER]) {
    if ((await execa('id', ['-u', name], { reject: false })).exitCode !== 0) {
      await execa('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
    }
  }
  await execa('usermod', ['-aG', ADMIN_GROUP, SAMBA_ADMIN]);
}

/** Polls until smbd accepts connections (generous deadline: CI is loaded), or fails with its log if it exits. */
async function waitForPort(port: number, child: ResultPromise, logFile: string): Promise<void> {
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`smbd exited at start: ${await fs.readFile(logFile, 'utf8').catch(() => '(no log)')}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`smbd did not listen on 127.0.0.1:${port} within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
