// StrykerJS for `pnpm mutate <scope>` (scripts/mutate/run.mjs sets MUTATE_SCOPE; the scopes, what each
// mutates and which tests it runs, are in scripts/mutate/scopes.mjs). Not part of CI: see README.
import { fileURLToPath } from 'node:url';
import { currentScope } from './scripts/mutate/scopes.mjs';

const scope = currentScope();

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // By path: under pnpm the runner is not beside @stryker-mutator/core, where Stryker looks by default.
  plugins: [fileURLToPath(import.meta.resolve('@stryker-mutator/vitest-runner'))],
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  mutate: scope.mutate,
  testFiles: scope.tests,
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // A mutant in module-level code forces a reload and every test; backward code is in functions.
  ignoreStatic: true,
  // The machine may be shared: leave room before calling a slow mutant a timeout.
  timeoutMS: 20_000,
  dryRunTimeoutMinutes: 10,
  incremental: true,
  incrementalFile: `reports/mutation/${scope.name}.incremental.json`,
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${scope.name}.json` },
  clearTextReporter: { reportTests: false, reportMutants: false },
  ignorePatterns: ['bench', 'examples', 'docs', 'reports', 'runs', 'dist', '.vitest-*'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
