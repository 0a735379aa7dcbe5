// The tool's side of a Ctrl-C during a service stop: withServicesStopped around a job body, with
// the CLI's own Ctrl-C handling (interruptSignal), for the driver described in the environment
// variable CUPM_TEST_SCOPE (JSON, a ScopeSpec of ctrl-c-during-command.ts: the rpc password travels
// there, never on a command line). Prints one JSON line on stdout: what the scope threw, whether
// the body ran, and the reporter's lines.
//   CUPM_TEST_SCOPE='{...}' node --import tsx scope-under-ctrl-c.ts
import { interruptSignal } from '../../src/cli/common.js';
import { silentReporter, type Reporter } from '../../src/jobs/reporter.js';
import { RpcServiceManager } from '../../src/services/rpc.js';
import { withServicesStopped } from '../../src/services/scope.js';
import type { ServiceManager } from '../../src/services/service-manager.js';
import { SystemdServiceManager } from '../../src/services/systemd.js';
import { WindowsServiceManager } from '../../src/services/windows.js';
import type { ScopeOutcome, ScopeSpec } from './ctrl-c-during-command.js';

const spec = JSON.parse(process.env.CUPM_TEST_SCOPE ?? '') as ScopeSpec;
const manager: ServiceManager =
  spec.kind === 'systemd'
    ? new SystemdServiceManager(spec.options)
    : spec.kind === 'windows'
      ? new WindowsServiceManager(spec.options)
      : new RpcServiceManager(spec.options);
const signal = interruptSignal();
const lines: string[] = [];
const reporter: Reporter = { ...silentReporter, info: (line: string) => lines.push(line) };
let ran = false;
const error = await withServicesStopped(
  manager,
  spec.services,
  reporter,
  async () => {
    ran = true;
  },
  { signal },
).then(
  () => undefined,
  (e: unknown) => e,
);
const outcome: ScopeOutcome = {
  error: error instanceof Error ? { name: error.constructor.name, message: error.message } : undefined,
  ran,
  lines,
};
process.stdout.write(`${JSON.stringify(outcome)}\n`);
