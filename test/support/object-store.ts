import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { waitFor } from './faults.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * A real OpenStack Swift with its S3 API (s3api) on 127.0.0.1, in a temp dir: memcached, one
 * account, container and object server (three device folders each, mount_check off) and a proxy
 * whose pipeline has tempauth, s3api and slo. Started once per mocha process (the first caller
 * starts it, later ones reuse it) and stopped when the process exits.
 */
export interface ObjectStore {
  /** http://127.0.0.1:PORT: the S3 endpoint. */
  endpoint: string;
  port: number;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A client for the tests' own setup and checks (path-style, like cupm-backup's). */
  client: S3Client;
  /** A fresh bucket name, created unless `create: false`. */
  bucket(options?: { create?: boolean }): Promise<string>;
  /** The proxy's log (for a failure message). */
  logTail(): string;
}

const ACCOUNT = 'test';
const USER = 'tester';
const SECRET = 'testing-s3-secret';

let starting: Promise<ObjectStore> | undefined;
const children: ChildProcess[] = [];
let buckets = 0;

export function objectStore(): Promise<ObjectStore> {
  starting ??= start();
  return starting;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function stopAll(): void {
  for (const child of children.splice(0)) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// On a normal exit the servers stop at once; on any other end (a signal, kill -9) the watchdog
// started with them does it within a second. No signal handlers: they would change how the test
// process itself reacts to Ctrl-C.
process.once('exit', stopAll);

async function start(): Promise<ObjectStore> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cupm-swift-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const etc = path.join(dir, 'etc');
  const devices = path.join(dir, 'srv');
  const logs = path.join(dir, 'log');
  await fsp.mkdir(etc);
  await fsp.mkdir(logs);
  for (const device of ['d1', 'd2', 'd3']) await fsp.mkdir(path.join(devices, device), { recursive: true });
  const [memcachePort, proxyPort, accountPort, containerPort, objectPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const user = os.userInfo().username;

  // Every server: local, never daemonized (workers = 0: one process), generous timeouts (CI is busy).
  const common = (port: number) => `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
devices = ${devices}
mount_check = false
swift_dir = ${etc}
user = ${user}
workers = 0
log_level = INFO
conn_timeout = 10
node_timeout = 120
client_timeout = 300
`;
  // container_update_timeout: the object server tells the container server of each new object
  // before it answers; on a busy machine the default 1 s leaves it to an updater (not run here),
  // and listings would miss objects. account_update_timeout: the same one level up.
  const storage = {
    account: [accountPort, ''],
    container: [containerPort, 'account_update_timeout = 60\n'],
    object: [objectPort, 'container_update_timeout = 60\n'],
  } as const;
  for (const [kind, [port, extra]] of Object.entries(storage)) {
    await fsp.writeFile(
      path.join(etc, `${kind}-server.conf`),
      `${common(port)}
[pipeline:main]
pipeline = ${kind}-server
[app:${kind}-server]
use = egg:swift#${kind}
${extra}`,
    );
  }
  await fsp.writeFile(
    path.join(etc, 'proxy-server.conf'),
    `${common(proxyPort)}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
recheck_updating_shard_ranges = 0
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachePort}
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
allow_no_owner = false
[filter:tempauth]
use = egg:swift#tempauth
user_${ACCOUNT}_${USER} = ${SECRET} .admin
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
`,
  );

  // The three rings in one Python process (swift-ring-builder would start Python nine times).
  const rings = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      `
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for kind, port in (('account', ${accountPort}), ('container', ${containerPort}), ('object', ${objectPort})):
    builder = RingBuilder(6, 1, 0)
    for i, device in enumerate(('d1', 'd2', 'd3')):
        builder.add_dev({'id': i, 'region': 1, 'zone': i + 1, 'ip': '127.0.0.1', 'port': port,
                         'replication_ip': '127.0.0.1', 'replication_port': port, 'device': device, 'weight': 100})
    builder.rebalance()
    builder.get_ring().save('%s/%s.ring.gz' % (etc, kind))
`,
      etc,
    ],
    { encoding: 'utf8' },
  );
  if (rings.status !== 0) throw new Error(`building the Swift rings failed: ${rings.stderr}`);

  const run = (name: string, command: string, args: string[]) => {
    const out = fs.openSync(path.join(logs, `${name}.log`), 'a');
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.unref();
    children.push(child);
    child.once('exit', (code, signal) => fs.appendFileSync(path.join(logs, `${name}.log`), `\n[exited: ${code ?? signal}]\n`));
  };
  run('memcached', '/usr/bin/memcached', ['-l', '127.0.0.1', '-p', String(memcachePort), '-U', '0', '-m', '16', '-u', user]);
  for (const kind of ['account', 'container', 'object', 'proxy']) {
    run(kind, `/usr/bin/swift-${kind}-server`, [path.join(etc, `${kind}-server.conf`), '--verbose']);
  }

  // A watchdog ends the servers when this process is gone, however it ended (kill -9 too): Swift's
  // servers start their own sessions (setsid), so they do not go with our process group.
  const pids = children.map((c) => c.pid).join(' ');
  const watchdog = spawn(
    '/bin/sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pids} 2>/dev/null; rm -rf '${dir}'`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();

  const endpoint = `http://127.0.0.1:${proxyPort}`;
  const logTail = () => {
    return ['proxy', 'object', 'container', 'account']
      .map((kind) => {
        const text = fs.existsSync(path.join(logs, `${kind}.log`)) ? fs.readFileSync(path.join(logs, `${kind}.log`), 'utf8') : '';
        return `--- ${kind} ---\n${text.slice(-4000)}`;
      })
      .join('\n');
  };
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: `${ACCOUNT}:${USER}`, secretAccessKey: SECRET },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
  });

  // Ready means a real round trip works: bucket made, object written, read back, deleted.
  const probe = 'cupm-readiness';
  try {
    await waitFor(
      'Swift to answer /healthcheck',
      async () => {
        const ok = await fetch(`${endpoint}/healthcheck`).then(
          (r) => r.ok,
          () => false,
        );
        return ok ? true : undefined;
      },
      120,
    );
    await waitFor(
      'Swift to accept an S3 PUT and GET',
      async () => {
        try {
          await client.send(new CreateBucketCommand({ Bucket: probe })).catch((error: { name?: string }) => {
            if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
          });
          await client.send(new HeadBucketCommand({ Bucket: probe }));
          await client.send(new PutObjectCommand({ Bucket: probe, Key: 'probe', Body: 'ready' }));
          const got = await client.send(new GetObjectCommand({ Bucket: probe, Key: 'probe' }));
          const text = await got.Body!.transformToString();
          await client.send(new DeleteObjectCommand({ Bucket: probe, Key: 'probe' }));
          return text === 'ready' ? true : undefined;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 500));
          return undefined;
        }
      },
      180,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${logTail()}`, { cause: error });
  }

  return {
    endpoint,
    port: proxyPort,
    region: 'us-east-1',
    accessKeyId: `${ACCOUNT}:${USER}`,
    secretAccessKey: SECRET,
    client,
    logTail,
    async bucket(options = {}) {
      buckets += 1;
      const name = `cupm-${process.pid}-${buckets}`;
      if (options.create !== false) await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
  };
}
