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
  /** Whether it also listens on 445 (free when it started), the only port smbnetfs can reach. */
  onPort445: boolean;
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
  // smbd serves the share as its Unix user, who must be able to reach it.
  await fs.chmod(dir, 0o755);
  const port = await freePort();
  // libsmbclient (smbnetfs) always connects to 445: listen there too when nothing else does.
  const onPort445 = await portIsFree(445);
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
      `  smb ports = ${onPort445 ? `445 ${port}` : port}`,
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
  await execa('net', [
    '-s',
    confFile,
    'groupmap',
    'add',
    'sid=S-1-5-32-544',
    `unixgroup=${ADMIN_GROUP}`,
    'type=builtin',
    'ntgroup=Administrators',
  ]);
  await fs.chown(path.join(dir, 'share'), Number((await execa('id', ['-u', SAMBA_ADMIN])).stdout), 0);

  // setpriv --pdeathsig: smbd dies with the test process even when that is killed with SIGKILL,
  // so no test smbd is left holding 445 for the next run.
  const child = execa('setpriv', ['--pdeathsig', 'KILL', '--', 'smbd', '--foreground', '--no-process-group', '-s', confFile], {
    stdin: 'ignore',
    reject: false,
    cleanup: true,
  });
  process.once('exit', () => child.kill('SIGKILL'));
  await waitForPort(port, child, path.join(dir, 'log', 'smbd.log'));
  return { host: '127.0.0.1', port, admin, user, shareDir: path.join(dir, 'share'), shareName: 'cupm', confFile, onPort445 };
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The share `\\127.0.0.1\cupm` mounted with smbnetfs (FUSE), as an admin host mounts C$. */
export interface MountedShare {
  /** The mounted share: `<mount point>/127.0.0.1/cupm`. */
  dir: string;
  unmount(): Promise<void>;
}

/** Mounts the test server's share with smbnetfs as its admin (credentials in an owner-only config file). */
export async function mountShare(samba: TestSamba): Promise<MountedShare> {
  if (!samba.onPort445) throw new Error('smbnetfs reaches SMB servers on port 445 only, and 445 was taken when the test smbd started');
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-smbnetfs-'));
  const mountPoint = path.join(home, 'mnt');
  await fs.mkdir(path.join(home, '.smb'), { recursive: true, mode: 0o700 });
  await fs.mkdir(mountPoint);
  await fs.writeFile(path.join(home, '.smb', 'smb.conf'), '[global]\n  client min protocol = SMB2\n');
  const config = path.join(home, '.smb', 'smbnetfs.conf');
  await fs.writeFile(config, `auth "${samba.host}" "${samba.admin.user}" "${samba.admin.password}"\nsmb_query_browsers "false"\n`, {
    mode: 0o600,
  });
  const unmount = async () => {
    await execa('fusermount', ['-u', mountPoint], { reject: false });
    await fs.rm(home, { recursive: true, force: true });
  };
  await execa('smbnetfs', [mountPoint, '-o', `config=${config}`], { env: { HOME: home }, stdin: 'ignore' });
  const dir = path.join(mountPoint, samba.host, samba.shareName);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (
      await fs.readdir(dir).then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await unmount();
      throw new Error(`smbnetfs did not show ${dir} within 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { dir, unmount };
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

/** Copies a tree with plain reads and writes (smbnetfs answers copy_file_range with EIO): onto a mounted share. */
export async function copyTree(from: string, to: string): Promise<void> {
  await fs.mkdir(to, { recursive: true });
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) await copyTree(source, path.join(to, entry.name));
    else await fs.writeFile(path.join(to, entry.name), await fs.readFile(source));
  }
}
