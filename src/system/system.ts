import type { InstalledProgram } from './installed-programs.js';
import type { DeleteOutcome } from './windows-output.js';

export type { DeleteOutcome };

/** What running an uninstaller came to. */
export interface UninstallResult {
  outcome: 'done' | 'absent';
  detail: string;
}

/**
 * The Windows machine as the upgrade clean-up needs it: installed programs, local users, services
 * to delete, folders. As narrow as its one caller; services are stopped through the ServiceManager
 * port (src/services/), not here. Drivers: `WindowsSystemDriver` (reg.exe, net.exe, sc.exe, fs) with
 * the real command runner, or with a recorded one in tests.
 */
export interface WindowsSystem {
  readonly kind: string;
  /** The programs Add or Remove Programs lists (both registry views). */
  installedPrograms(): Promise<InstalledProgram[]>;
  /** Runs a program's uninstaller, silently where it can be, and waits for it. */
  uninstall(program: InstalledProgram): Promise<UninstallResult>;
  userExists(name: string): Promise<boolean>;
  /** `net user NAME /delete`. */
  deleteUser(name: string): Promise<Exclude<DeleteOutcome, 'marked-for-deletion'>>;
  /** Where this Windows keeps a user's profile folder: what the profile list records, else the default place. */
  profileFolders(user: string): Promise<string[]>;
  /** `sc.exe delete NAME` (key name or display name, matched case-insensitively). 'marked-for-deletion': it goes once its last handle closes. */
  deleteService(name: string): Promise<DeleteOutcome>;
  exists(windowsPath: string): Promise<boolean>;
  /** Deletes a folder and everything in it. */
  removeFolder(windowsPath: string): Promise<Exclude<DeleteOutcome, 'marked-for-deletion'>>;
}
