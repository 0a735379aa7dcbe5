import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** An age key pair made by the real age-keygen: the identity file and its public key. */
export interface AgeKey {
  identityFile: string;
  recipient: string;
}

/** `age-keygen -o <dir>/<name>.txt`: the identity file as users make it, and its recipient. */
export async function ageKeygen(dir: string, name = 'identity'): Promise<AgeKey> {
  const identityFile = path.join(dir, `${name}.txt`);
  await fs.rm(identityFile, { force: true });
  await execa('age-keygen', ['-o', identityFile]);
  const { stdout } = await execa('age-keygen', ['-y', identityFile]);
  return { identityFile, recipient: stdout.trim() };
}

/** `age -r <recipient>... -o output input`: a file encrypted by the standard CLI. */
export async function ageEncrypt(recipients: string[], input: string, output: string): Promise<void> {
  await execa('age', [...recipients.flatMap((r) => ['-r', r]), '-o', output, input]);
}

/** `age -d -i identity -o output input`; rejects with age's own message when it cannot. */
export async function ageDecrypt(identityFile: string, input: string, output: string): Promise<void> {
  await execa('age', ['-d', '-i', identityFile, '-o', output, input]);
}

/** The secret key line of an identity file (to check it never appears in output). */
export async function secretKeyOf(key: AgeKey): Promise<string> {
  const text = await fs.readFile(key.identityFile, 'utf8');
  return text.split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-'))!;
}

/** Flips one byte of a file in place, at `offset` (negative: from the end). */
export async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const at = offset < 0 ? size + offset : offset;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0x01;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}
