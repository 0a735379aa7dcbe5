// ESLint (flat config): typescript-eslint's type-aware recommended rules, and two rules of the
// house: only src/cli/ (and the bench's own report) talks on the console, and only the runner
// modules below start processes with execa.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * The modules that run programs. Everything else asks one of them: a CommandRunner (every
 * service driver runs its programs through it), the PostgreSQL tools, a SchedulerHost, the port probe.
 */
const RUNNERS = [
  'src/system/command-runner.ts', // CommandRunner: sc.exe, reg.exe, net.exe, uninstallers, Samba's net, systemctl, CUPM_SERVICE_COMMAND_*
  'src/pg/tools.ts', // the PostgreSQL client tools: finding them,
  'src/pg/dumpall.ts', // pg_dumpall,
  'src/pg/psql.ts', // psql
  'src/schedule/install/host.ts', // SchedulerHost: crontab, schtasks, systemctl for the schedule
  'src/restore/ports.ts', // the port probe: ss, netstat, lsof, tasklist
  'src/sandbox/**', // throwaway clusters and services for the demo, the tests and the bench
  'scripts/**', // the bench and its helpers
  'test/**', // tests start real peers
];

const NODE_GLOBALS = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'TextDecoder',
    'TextEncoder',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'bench/tmp/', '.tmp/', 'test/fixtures/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `_name` marks a parameter or binding kept for its position; an unused caught error is fine.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Async without await is how many port implementations keep one signature (ServiceManager, hosts).
      '@typescript-eslint/require-await': 'off',
      // A caught value passed on as it is (catch (error) { reject(error) }) is not a new non-Error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `${x satisfies never}`-style exhaustiveness messages are fine.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowNever: true }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // Tests read JSON and drive libraries whose shapes they assert on: `any` there is checked by expect().
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Plain JavaScript: the small scripts that run as separate processes (stand-ins, the bin).
    files: ['**/*.js', '**/*.mjs', '**/*.cjs', 'bin/*'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: NODE_GLOBALS },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { ...NODE_GLOBALS, require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/**', 'scripts/**'],
    ignores: ['src/cli/**', 'scripts/bench.ts', 'scripts/bench/**', 'scripts/*.mjs'],
    rules: { 'no-console': 'error' },
  },
  {
    ignores: RUNNERS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'execa',
              message: 'run programs through a runner module (eslint.config.js lists them): a CommandRunner, src/pg',
            },
          ],
        },
      ],
    },
  },
);
