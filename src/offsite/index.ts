import type { OffsiteSettings } from '../config/offsite-settings.js';
import type { Destination } from './destination.js';
import { FolderDestination } from './folder.js';
import { S3Destination } from './s3.js';
import { SftpDestination } from './sftp.js';
import type { OffsiteTarget } from './targets.js';

/** The driver for a configured off-site target. */
export function createDestination(target: OffsiteTarget, settings: OffsiteSettings): Destination {
  switch (target.kind) {
    case 'folder':
      return new FolderDestination(target);
    case 'sftp':
      return new SftpDestination(target, settings.sftp);
    case 's3':
      return new S3Destination(target, settings.s3);
  }
}

/** Every configured destination, in the order of CUPM_OFFSITE. */
export function configuredDestinations(settings: OffsiteSettings): Destination[] {
  return settings.targets.map((target) => createDestination(target, settings));
}
