import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './cli.js';

/** What Java's ZipInputStream read from an archive, front to back (local headers and data descriptors). */
export type StreamedEntry = { name: string; size: number; sha256: string } | { error: string };

/** Reads `archive` with java.util.zip.ZipInputStream, the way streaming unzip tools do. */
export async function javaReadZipStream(archive: string): Promise<StreamedEntry[]> {
  const { stdout } = await execa('java', [path.join(REPO, 'test', 'support', 'java', 'ReadZipStream.java'), archive]);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as StreamedEntry);
}
