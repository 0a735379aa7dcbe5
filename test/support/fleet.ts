import { writeFile } from 'node:fs/promises';

/** Writes one fleet server's env file (dotenv), each value quoted so spaces and backslashes stay as they are. */
export async function writeServerEnvFile(file: string, settings: Record<string, string>): Promise<void> {
  const lines = Object.entries(settings).map(([name, value]) => {
    if (!value.includes("'")) return `${name}='${value}'`;
    if (!/["\\\n]/.test(value)) return `${name}="${value}"`;
    throw new Error(`${name}: a value with both quote kinds cannot be written to a dotenv file here`);
  });
  await writeFile(file, lines.join('\n') + '\n', { mode: 0o600 });
}
