import type { OffsiteSettings } from '../config/offsite-settings.js';
import type { Destination } from './destination.js';
import { FolderDestination } from './folder.js';
import { SftpDestination } from './sftp.js';
import type { OffsiteTarget } from './targets.js';

/** The driver for a configured off-site target. */
export function createDestination(target: OffsiteTarget, settings: OffsiteSettings): Destination {
  return target.kind === 'folder' ? new FolderDestination(target) : new SftpDestination(target, settings.sftp);
}

/** Every configured destination, in the order of CUPM_OFFSITE. */
export function configuredDestinations(settings: OffsiteSettings): Destination[] {
  return settings.targets.map((target) => createDestination(target, settings));
}
