import type { Command } from 'commander';
import type { ExitCode } from '../errors.js';
import { ExitWith } from './exit-code.js';
import { nightly } from '../schedule/nightly.js';
import { configFor, interruptSignal, withCommonOptions, type CommonOptions } from './common.js';
import { encryptToOverride, withEncryptTo } from './encryption-options.js';
import { printJson, terminalReporter, printOut } from './output.js';

interface NightlyFlags extends CommonOptions {
  stop: boolean;
  allowLive?: boolean;
  encryptTo?: string[];
}

export function registerNightly(program: Command): void {
  withCommonOptions(withEncryptTo(
    program
      .command('nightly')
      .description('the scheduled run: backup, verify, off-site copies, retention, notification, status record (exit 6: verified, but a copy or retention failed)')
      .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
      .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)'),
  )).action(async (flags: NightlyFlags) => {
    const config = configFor(flags, encryptToOverride(flags));
    const record = await nightly(config, { noStop: !flags.stop, allowLive: flags.allowLive, signal: interruptSignal() }, terminalReporter());
    if (flags.json) printJson(record);
    else if (record.verified && record.archive) printOut(record.archive.path + '\n');
    if (record.exitCode !== 0) throw new ExitWith(record.exitCode as ExitCode);
  });
}
