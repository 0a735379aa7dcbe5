import type { Command } from 'commander';
import type { ExitCode } from '../errors.js';
import { ExitWith } from './exit-code.js';
import { nightly } from '../schedule/nightly.js';
import { withCommonOptions } from './common.js';
import { encryptToOverride, withEncryptTo } from './encryption-options.js';
import { runCommand, withFleetOptions, type FleetFlags } from './fleet.js';

interface NightlyFlags extends FleetFlags {
  stop: boolean;
  allowLive?: boolean;
  encryptTo?: string[];
}

export function registerNightly(program: Command): void {
  withFleetOptions(
    withCommonOptions(
      withEncryptTo(
        program
          .command('nightly')
          .description(
            'the scheduled run: backup, verify, off-site copies, retention, notification, status record (exit 6: verified, but a copy or retention failed)',
          )
          .option('--no-stop', 'do not stop the services (sessions on the database are still refused)')
          .option('--allow-live', 'back up even with other sessions on the database (recorded in the manifest)'),
      ),
    ),
  ).action(async (flags: NightlyFlags) => {
    await runCommand(flags, async (io) => {
      const config = io.config(encryptToOverride(flags));
      const record = await nightly(config, { noStop: !flags.stop, allowLive: flags.allowLive, signal: io.signal() }, io.reporter);
      if (flags.json) io.json(record);
      else if (record.verified && record.archive) io.out(record.archive.path + '\n');
      if (record.exitCode !== 0) throw new ExitWith(record.exitCode as ExitCode);
    });
  });
}
