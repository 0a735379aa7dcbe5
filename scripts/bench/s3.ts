// npm run bench -- --s3 [--size 1GB]
//
// S3 off-site copies against the local object store the tests use (a real OpenStack Swift with
// s3api on 127.0.0.1, test/support/object-store.ts): upload and download MB/s of the driver, and
// the peak RSS of a `nightly` that copies an archive of --size to S3 (a sandbox CUPM server, its
// own small archive, and the large one owed from an earlier run).
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { archiveFileName } from '../../src/archive/format.js';
import { loadConfig } from '../../src/config/config.js';
import { withConnection } from '../../src/offsite/destination.js';
import { configuredDestinations } from '../../src/offsite/index.js';
import { createSandboxServer } from '../../src/sandbox/sandbox-server.js';
import { appendHistory, readHistory } from '../../src/schedule/history.js';
import { objectStore } from '../../test/support/object-store.js';
import type { Cleanup } from './cleanup.js';
import { runMeasured } from './measure.js';

export interface S3BenchResult {
  sizeBytes: number;
  uploadMBps: number;
  downloadMBps: number;
  nightly: { peakRssBytes: number; copyMs: number; copiedBytes: number; exitCode: number };
}

const MB = 1e6;

/** A file of `bytes` whose every MiB differs (incompressible, and no two parts alike). */
async function writeData(file: string, bytes: number): Promise<void> {
  const block = crypto.randomBytes(1024 * 1024);
  const handle = await fsp.open(file, 'w');
  try {
    for (let at = 0, i = 0; at < bytes; at += block.length, i++) {
      block.writeUInt32BE(i, 0);
      await handle.write(block, 0, Math.min(block.length, bytes - at));
    }
  } finally {
    await handle.close();
  }
}

export async function benchS3(
  cleanup: Cleanup,
  work: string,
  size: number,
  tool: { file: string; args: string[] },
  log: (line: string) => void,
): Promise<S3BenchResult> {
  log('starting the local object store (Swift with s3api)');
  const store = await objectStore();
  const bucket = await store.bucket();
  const s3Env = {
    CUPM_OFFSITE: `s3://${bucket}/bench`,
    CUPM_S3_ENDPOINT: store.endpoint,
    AWS_ACCESS_KEY_ID: store.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
  };
  const server = await createSandboxServer({ name: 'cupm-bench-s3' });
  cleanup.add('sandbox server', () => server.destroy());
  const backupDir = path.join(work, 's3-backups');
  await fsp.mkdir(backupDir);

  // The large "archive" an earlier night could not copy: owed to the destination.
  const big = archiveFileName(os.hostname(), new Date(Date.now() - 86_400_000), null);
  log(`writing ${size / MB} MB of test data`);
  await writeData(path.join(backupDir, big), size);
  const destination = configuredDestinations(loadConfig({ env: { ...s3Env, CUPM_BACKUP_DIR: backupDir }, cwd: work }).offsite)[0]!;

  // The driver alone: one upload and one full read, timed.
  log('upload and download through the driver');
  const probe = `bench-probe-${Date.now()}.zip`;
  const { uploadMs, downloadMs } = await withConnection(destination, async (c) => {
    let began = Date.now();
    await c.upload(path.join(backupDir, big), probe);
    const up = Date.now() - began;
    began = Date.now();
    await pipeline(c.createReadStream(probe), new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    const down = Date.now() - began;
    await c.remove(probe);
    return { uploadMs: up, downloadMs: down };
  });

  await appendHistory(backupDir, {
    startedAt: new Date(Date.now() - 86_400_000).toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: 0,
    host: os.hostname(),
    outcome: 'warning',
    exitCode: 6,
    archive: null,
    backupDurationMs: null,
    verified: true,
    offsite: [],
    pendingOffsite: [{ destination: destination.display, archive: big, since: new Date(Date.now() - 86_400_000).toISOString() }],
    pruned: [],
    steps: [],
    error: null,
    warnings: [],
  });

  log(`nightly copying ${size / MB} MB to S3 (peak RSS measured)`);
  const measured = await runMeasured(cleanup, tool.file, [...tool.args, 'nightly', '--json'], {
    env: { PATH: process.env.PATH ?? '', HOME: work, ...server.env(), ...s3Env, CUPM_BACKUP_DIR: backupDir },
    cwd: work,
  });
  const record = (await readHistory(backupDir)).at(-1)!;
  const copy = record.offsite.find((c) => c.archive === big);
  return {
    sizeBytes: size,
    uploadMBps: size / MB / (uploadMs / 1000),
    downloadMBps: size / MB / (downloadMs / 1000),
    nightly: {
      peakRssBytes: measured.peakRss,
      copyMs: copy?.durationMs ?? -1,
      copiedBytes: copy?.ok ? size : 0,
      exitCode: record.exitCode,
    },
  };
}

export function s3Markdown(result: S3BenchResult): string {
  return [
    `# S3 off-site copies (local Swift with s3api, ${result.sizeBytes / MB} MB)`,
    '',
    '| measure | value |',
    '|---|---|',
    `| upload (driver, multipart, Content-MD5 per part) | ${result.uploadMBps.toFixed(1)} MB/s |`,
    `| download (driver, one GET streamed) | ${result.downloadMBps.toFixed(1)} MB/s |`,
    `| nightly copying the archive: peak RSS of cupm-backup | ${(result.nightly.peakRssBytes / MB).toFixed(0)} MB |`,
    `| nightly: that copy (local ETag + SHA-256, upload, check) | ${(result.nightly.copyMs / 1000).toFixed(1)} s |`,
    `| nightly exit code | ${result.nightly.exitCode} |`,
    '',
  ].join('\n');
}
