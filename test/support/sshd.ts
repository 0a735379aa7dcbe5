import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { freePort } from '../../src/sandbox/cluster.js';

/** The Linux account the test SFTP server lets in (created once; its password is new per server). */
export const SFTP_USER = 'cupm-sftp-test';
const SSHD = '/usr/sbin/sshd';

/** A real OpenSSH server on 127.0.0.1, its own host key and config in a temp dir. */
export interface TestSshd {
  port: number;
  user: string;
  password: string;
  /** A folder the user owns, for the off-site copies. */
  root: string;
  /** The client's private key file (authorized for the user). */
  identityFile: string;
  /** A known_hosts file that pins this server's real host key. */
  knownHostsFile: string;
  /** `SHA256:...` of the host key, as ssh-keygen -lf prints it. */
  fingerprint: string;
  /** A known_hosts file naming this host:port with a different key (a re-keyed or impostor server). */
  changedKnownHostsFile: string;
  /** `sftp://user@127.0.0.1:port<folder>` */
  url(folder?: string): string;
  stop(): Promise<void>;
}

/** Starts sshd -D on a free port (as root, the way the system one runs). */
export async function startSshd(): Promise<TestSshd> {
  if (process.getuid?.() !== 0) throw new Error('the SFTP tests start sshd and create a test user: run them as root (CI does)');
  await fs.access(SSHD).catch(() => {
    throw new Error(`${SSHD} is missing: apt-get install -y openssh-server (.ci/run does it)`);
  });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-sshd-'));
  await fs.chmod(dir, 0o755);
  const keygen = (file: string) =>
    execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', path.basename(file), '-f', file], { stdin: 'ignore' });
  await keygen(path.join(dir, 'host_key'));
  await keygen(path.join(dir, 'other_host_key'));
  await keygen(path.join(dir, 'client_key'));
  await fs.copyFile(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));

  const password = `pw-${crypto.randomBytes(9).toString('base64url')} spaces&'"`;
  await ensureUser(password);
  const uid = Number((await execa('id', ['-u', SFTP_USER])).stdout);
  const gid = Number((await execa('id', ['-g', SFTP_USER])).stdout);
  const root = path.join(dir, 'data');
  await fs.mkdir(root);
  await fs.chown(root, uid, gid);

  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await fs.writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      'PidFile none',
      'UsePAM no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'StrictModes no',
      `AllowUsers ${SFTP_USER}`,
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation dir

  const child = execa(SSHD, ['-D', '-e', '-f', config], { stdin: 'ignore', reject: false, all: true });
  await waitForBanner(port, child);

  const hostPub = (await fs.readFile(path.join(dir, 'host_key.pub'), 'utf8')).trim().split(/\s+/);
  const otherPub = (await fs.readFile(path.join(dir, 'other_host_key.pub'), 'utf8')).trim().split(/\s+/);
  const knownHostsFile = path.join(dir, 'known_hosts');
  await fs.writeFile(knownHostsFile, `# pinned for the test\n[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
  const changedKnownHostsFile = path.join(dir, 'known_hosts_changed');
  await fs.writeFile(changedKnownHostsFile, `[127.0.0.1]:${port} ${otherPub[0]} ${otherPub[1]}\n`);
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'host_key.pub')]);
  const fingerprint = stdout.split(/\s+/)[1]!;

  return {
    port,
    user: SFTP_USER,
    password,
    root,
    identityFile: path.join(dir, 'client_key'),
    knownHostsFile,
    fingerprint,
    changedKnownHostsFile,
    url: (folder = root) => `sftp://${SFTP_USER}@127.0.0.1:${port}${folder}`,
    async stop() {
      child.kill('SIGTERM');
      await child;
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates the test account once; sets a new password (through stdin, never a command line). */
async function ensureUser(password: string): Promise<void> {
  const exists = await execa('id', ['-u', SFTP_USER], { reject: false });
  if (exists.exitCode !== 0) {
    await execa('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', SFTP_USER]);
  }
  await execa('chpasswd', [], { input: `${SFTP_USER}:${password}\n` });
}

/** Waits until sshd greets (or fails with its output if it exits first). */
async function waitForBanner(port: number, child: ResultPromise): Promise<void> {
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`sshd exited before it listened:\n${String((await child).all)}`);
    const banner = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString());
      });
      socket.once('error', () => resolve(''));
    });
    if (banner.startsWith('SSH-')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
