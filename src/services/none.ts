import type { ServiceManager, ServiceState } from './service-manager.js';

/** CUPM_SERVICE_MANAGER=none: services are not touched (the consistency guard still applies). */
export class NoServiceManager implements ServiceManager {
  readonly kind = 'none';

  async status(): Promise<ServiceState> {
    // Reported as stopped, so the scoped helper neither stops nor starts anything.
    return 'stopped';
  }

  async stop(): Promise<void> {}

  async start(): Promise<void> {}
}
