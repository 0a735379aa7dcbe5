import path from 'node:path';
import { checkRecipient } from '../archive/age.js';
import type { ArchiveKeys } from '../archive/encryption.js';

/** Encryption at rest (CUPM_ENCRYPT_TO, CUPM_IDENTITY). */
export interface EncryptionSettings {
  /** age recipients (`age1...`) new archives are encrypted to; empty: archives are plain ZIP files. */
  recipients: string[];
  /** The age identity file that opens encrypted archives; read when one is opened, not here. */
  identityFile: string | undefined;
}

type Get = (name: string) => string | undefined;
type Where = (name: string) => string;

export const ENCRYPTION_VARIABLES = ['CUPM_ENCRYPT_TO', 'CUPM_IDENTITY'];

/** Reads the encryption settings; problems are pushed, naming the recipient but never a key file's content. */
export function parseEncryptionSettings(
  get: Get,
  where: Where,
  problems: string[],
  context: { cwd: string; platform: NodeJS.Platform },
): EncryptionSettings {
  const paths = context.platform === 'win32' ? path.win32 : path.posix;
  const recipients: string[] = [];
  // Commas, spaces or line breaks between recipients; --encrypt-to (repeatable) arrives comma-joined.
  for (const recipient of (get('CUPM_ENCRYPT_TO') ?? '').split(/[\s,]+/).filter((r) => r !== '')) {
    try {
      checkRecipient(recipient);
      if (!recipients.includes(recipient)) recipients.push(recipient);
    } catch (error) {
      problems.push(`${where('CUPM_ENCRYPT_TO')}: "${recipient}": ${(error as Error).message}.`);
    }
  }
  const identity = get('CUPM_IDENTITY');
  return { recipients, identityFile: identity === undefined ? undefined : paths.resolve(context.cwd, identity) };
}

/** The keys that open encrypted archives under this configuration. */
export function archiveKeys(settings: EncryptionSettings): ArchiveKeys {
  return settings.identityFile === undefined ? {} : { identityFile: settings.identityFile };
}
