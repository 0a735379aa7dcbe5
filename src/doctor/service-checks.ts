import type { Config } from '../config/config.js';
import { createServiceManager } from '../services/index.js';
import { ServiceNotFoundError, type ServiceManager } from '../services/service-manager.js';
import { fail, failFrom, pass, warn, type CheckResult } from './check.js';

/** The service manager works, and every configured service exists; its state is reported. */
export async function serviceChecks(config: Config, manager?: ServiceManager): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    manager ??= createServiceManager(config);
  } catch (error) {
    return [failFrom('services.manager', 'Service manager', error)];
  }
  if (manager.kind === 'none') {
    results.push(
      warn(
        'services.manager',
        'Service manager',
        'CUPM_SERVICE_MANAGER=none: backups and restores do not stop the CUPM services',
        'set CUPM_SERVICE_MANAGER (windows on a CUPM server) so the services are stopped for a consistent dump',
      ),
    );
    return results;
  }
  let answered = false;
  for (const service of config.services) {
    const id = `services.${service}`;
    const title = `Service "${service}"`;
    try {
      const state = await manager.status(service);
      answered = true;
      if (state === 'running') results.push(pass(id, title, 'exists, running'));
      else if (state === 'stopped')
        results.push(warn(id, title, 'exists, stopped', 'start it if CUPM should be up; a backup leaves a stopped service stopped'));
      else
        results.push(
          warn(
            id,
            title,
            'exists, changing state (pending or paused)',
            'look at it in the Services console; a backup waits for it to settle',
          ),
        );
    } catch (error) {
      if (error instanceof ServiceNotFoundError) {
        answered = true;
        results.push(
          fail(
            id,
            title,
            `does not exist (service manager ${manager.kind})`,
            'check CUPM_SERVICES: key names or display names, comma-separated, in stop order',
          ),
        );
      } else {
        results.push(failFrom(id, title, error));
      }
    }
  }
  results.unshift(
    answered
      ? pass('services.manager', 'Service manager', `${manager.kind} answers`)
      : fail(
          'services.manager',
          'Service manager',
          `${manager.kind} did not answer for any service`,
          'see the lines below; check CUPM_SERVICE_MANAGER and its commands',
        ),
  );
  return results;
}
