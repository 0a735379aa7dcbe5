import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './cli.js';

const JAVA_DIR = path.join(REPO, 'test', 'support', 'java');

/** What Java's Properties.load made of one file: its properties, or the exception it threw. */
export type JavaProperties = { ok: true; properties: Map<string, string> } | { ok: false; error: string };

/** What the JDK's DocumentBuilder made of one XML file. */
export type JavaXml = { ok: true; connectionUrls: string[]; nodes: string[] } | { ok: false; error: string };

/**
 * Reads .properties texts with java.util.Properties.load, all in one `java` run (a JVM start costs
 * about a second). Texts are written as latin1, byte for byte.
 */
export async function javaReadProperties(texts: string[]): Promise<JavaProperties[]> {
  const lines = await runJava('ReadProperties.java', texts, '.properties');
  return lines.map((line) =>
    line.ok ? { ok: true, properties: new Map(line.properties as Array<[string, string]>) } : { ok: false, error: String(line.error) },
  );
}

/** Parses XML texts with the JDK's DocumentBuilder (external DTD not loaded), in one `java` run. */
export async function javaReadXml(texts: string[]): Promise<JavaXml[]> {
  const lines = await runJava('ReadConnectionUrl.java', texts, '.xml');
  return lines.map((line) =>
    line.ok
      ? { ok: true, connectionUrls: line.connectionUrls as string[], nodes: line.nodes as string[] }
      : { ok: false, error: String(line.error) },
  );
}

async function runJava(program: string, texts: string[], extension: string): Promise<Array<Record<string, unknown>>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cupm-java-'));
  try {
    const files = texts.map((_, i) => path.join(dir, `${i}${extension}`));
    await Promise.all(texts.map((text, i) => fs.writeFile(files[i]!, Buffer.from(text, 'latin1'))));
    const { stdout } = await execa('java', [path.join(JAVA_DIR, program), ...files], { cwd: dir });
    const lines = stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    if (lines.length !== texts.length) throw new Error(`java ${program} answered ${lines.length} of ${texts.length} files`);
    return lines;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
