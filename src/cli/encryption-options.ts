import path from 'node:path';
import type { Command } from 'commander';
import type { ArchiveKeys } from '../archive/encryption.js';
import { readSources } from '../config/sources.js';

/** Adds --encrypt-to (repeatable) to a command that writes archives. */
export function withEncryptTo(command: Command): Command {
  return command.option(
    '--encrypt-to <recipient>',
    'encrypt the archive to this age public key (age1..., from age-keygen); repeatable; written as <name>.zip.age (default CUPM_ENCRYPT_TO)',
    (value: string, previous: string[] = []) => [...previous, value],
  );
}

/** Adds --identity to a command that reads archives. */
export function withIdentity(command: Command): Command {
  return command.option(
    '--identity <file>',
    'the age identity file (from age-keygen) that opens encrypted archives (default CUPM_IDENTITY)',
  );
}

/** --encrypt-to as the CUPM_ENCRYPT_TO override (flags beat every other source). */
export function encryptToOverride(flags: { encryptTo?: string[] }): Record<string, string | undefined> {
  return { CUPM_ENCRYPT_TO: flags.encryptTo?.join(',') };
}

/** --identity as the CUPM_IDENTITY override. */
export function identityOverride(flags: { identity?: string }): Record<string, string | undefined> {
  return { CUPM_IDENTITY: flags.identity };
}

/**
 * The keys for commands that only read archives (verify, list): --identity, else CUPM_IDENTITY
 * from the environment or the env file, without requiring the rest of the configuration to be
 * valid (a verify on another machine has no PostgreSQL settings, and needs none).
 */
export function keysFromFlags(flags: { identity?: string; envFile?: string }): ArchiveKeys {
  if (flags.identity) return { identityFile: path.resolve(flags.identity) };
  const cwd = process.cwd();
  const raw = readSources({ env: process.env, cwd, envFile: flags.envFile });
  const file = raw.values.CUPM_IDENTITY?.trim();
  return file ? { identityFile: path.resolve(cwd, file) } : {};
}
