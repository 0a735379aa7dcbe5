// A mocha global fixture (.mocharc.json "require"): builds the bundled command from the sources as
// they are now, once per test run and before any test, so the tests' cupm-backup
// (test/support/bin/cupm-backup) runs what administrators run, never an older build.
import { buildCommand } from '../../scripts/build-command.js';

export async function mochaGlobalSetup(): Promise<void> {
  await buildCommand();
}
