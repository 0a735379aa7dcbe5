import type { Command } from 'commander';
import { runDemo } from '../demo/demo.js';
import { interruptSignal, withCommonOptions, type CommonOptions } from './common.js';
import { printJson, terminalReporter } from './output.js';

interface DemoFlags extends CommonOptions {
  outputDir: string;
}

export function registerDemo(program: Command): void {
  withCommonOptions(
    program
      .command('demo')
      .description('back up a throwaway sample CUPM server (PostgreSQL, install tree, stand-in services), verify and list it')
      .option('--output-dir <dir>', 'where to keep the demo archive', 'demo-backups'),
  ).action(async (flags: DemoFlags) => {
    const reporter = terminalReporter();
    const result = await runDemo(flags.outputDir, reporter, interruptSignal());
    const archive = result.backup.archive;
    reporter.info(
      [
        '',
        'Done. What happened:',
        `  - stopped ${result.backup.services.stopped.join(', ')}; dumped PostgreSQL with pg_dumpall; started them again`,
        `  - wrote ${archive}`,
        '    (the dump, install.log, dfc.properties, dfc.keystore, login-config.xml, dfc-ds.xml, manifest.json)',
        '  - verified every entry against the manifest, and listed the folder',
        '',
        `Look inside:  unzip -l ${archive}`,
        `Check it:     ./bin/cupm-backup verify ${archive}`,
      ].join('\n'),
    );
    if (flags.json) printJson({ archive, verified: result.verify.ok, services: result.backup.services });
  });
}
