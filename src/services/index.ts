import { ConfigError } from '../errors.js';
import { CommandServiceManager, type ServiceCommandTemplates } from './command.js';
import { NoServiceManager } from './none.js';
import type { ServiceManager, ServiceManagerKind } from './service-manager.js';
import { SystemdServiceManager } from './systemd.js';
import { WindowsServiceManager } from './windows.js';

/** What the service layer needs of the configuration: CUPM_SERVICE_MANAGER, its commands and CUPM_SERVICE_TIMEOUT. */
export interface ServiceSettings {
  serviceManager: ServiceManagerKind;
  serviceCommands: ServiceCommandTemplates | undefined;
  serviceTimeoutSeconds: number;
}

/** The driver CUPM_SERVICE_MANAGER names. */
export function createServiceManager(config: ServiceSettings): ServiceManager {
  const timeoutSeconds = config.serviceTimeoutSeconds;
  switch (config.serviceManager) {
    case 'windows':
      return new WindowsServiceManager({ timeoutSeconds });
    case 'systemd':
      return new SystemdServiceManager({ timeoutSeconds });
    case 'command':
      if (!config.serviceCommands) throw new ConfigError('CUPM_SERVICE_MANAGER=command needs CUPM_SERVICE_COMMAND_STOP, _START and _STATUS.');
      return new CommandServiceManager(config.serviceCommands, timeoutSeconds);
    case 'none':
      return new NoServiceManager();
  }
}
