import { ConfigError } from '../errors.js';
import { CommandServiceManager, type ServiceCommandTemplates } from './command.js';
import { NoServiceManager } from './none.js';
import { RpcServiceManager } from './rpc.js';
import type { ServiceManager, ServiceManagerKind } from './service-manager.js';
import { SystemdServiceManager } from './systemd.js';
import { WindowsServiceManager } from './windows.js';

/** What the service layer needs of the configuration: CUPM_SERVICE_MANAGER, its commands and CUPM_SERVICE_TIMEOUT. */
export interface ServiceSettings {
  serviceManager: ServiceManagerKind;
  serviceCommands: ServiceCommandTemplates | undefined;
  serviceTimeoutSeconds: number;
  /** CUPM_SERVER and its account: the remote server the windows and rpc drivers control. */
  server?: { host: string; user: string | undefined; password: string | undefined } | undefined;
}

/** The driver CUPM_SERVICE_MANAGER names. */
export function createServiceManager(config: ServiceSettings): ServiceManager {
  const timeoutSeconds = config.serviceTimeoutSeconds;
  switch (config.serviceManager) {
    case 'windows':
      return new WindowsServiceManager({ timeoutSeconds, server: config.server?.host });
    case 'systemd':
      return new SystemdServiceManager({ timeoutSeconds });
    case 'command':
      if (!config.serviceCommands)
        throw new ConfigError('CUPM_SERVICE_MANAGER=command needs CUPM_SERVICE_COMMAND_STOP, _START and _STATUS.');
      return new CommandServiceManager(config.serviceCommands, timeoutSeconds);
    case 'rpc': {
      const server = config.server;
      if (!server?.user || server.password === undefined) {
        throw new ConfigError('CUPM_SERVICE_MANAGER=rpc needs CUPM_SERVER, CUPM_SERVER_USER and CUPM_SERVER_PASSWORD.');
      }
      return new RpcServiceManager({ host: server.host, user: server.user, password: server.password, timeoutSeconds });
    }
    case 'none':
      return new NoServiceManager();
  }
}
