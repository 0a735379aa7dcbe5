import type { Destination } from './destination.js';
import { FolderDestination } from './folder.js';
import { SftpDestination, type SftpSettings } from './sftp.js';
import type { OffsiteTarget } from './targets.js';

/** What the drivers need of the off-site configuration (CUPM_OFFSITE and the SFTP credentials). */
export interface DestinationSettings {
  targets: OffsiteTarget[];
  sftp: SftpSettings;
}

/** The driver for a configured off-site target. */
export function createDestination(target: OffsiteTarget, settings: DestinationSettings): Destination {
  return target.kind === 'folder' ? new FolderDestination(target) : new SftpDestination(target, settings.sftp);
}

/** Every configured destination, in the order of CUPM_OFFSITE. */
export function configuredDestinations(settings: DestinationSettings): Destination[] {
  return settings.targets.map((target) => createDestination(target, settings));
}
