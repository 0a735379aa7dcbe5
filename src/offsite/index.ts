import type { Destination } from './destination.js';
import { FolderDestination } from './folder.js';
import { S3Destination } from './s3.js';
import type { S3Settings } from './s3-settings.js';
import { SftpDestination, type SftpSettings } from './sftp.js';
import type { OffsiteTarget } from './targets.js';

/** What the drivers need of the off-site configuration (CUPM_OFFSITE and the SFTP credentials). */
export interface DestinationSettings {
  targets: OffsiteTarget[];
  sftp: SftpSettings;
  s3: S3Settings;
}

/** The driver for a configured off-site target. */
export function createDestination(target: OffsiteTarget, settings: DestinationSettings): Destination {
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
export function configuredDestinations(settings: DestinationSettings): Destination[] {
  return settings.targets.map((target) => createDestination(target, settings));
}
