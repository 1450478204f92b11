// The vitest config of `pnpm mutate` (Stryker's vitest runner loads it): only the test files of the
// scope being mutated, and each @tapegrad package aliased to its src so that nn's and gradcheck's
// tests run core's mutated sources (Stryker's sandbox has no packages/*/node_modules links).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { currentScope } from './scripts/mutate/scopes.mjs';

const src = (pkg: string, entry = 'index'): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    conditions: ['source'],
    // Exact matches: a bare '@tapegrad/core' key would also catch '@tapegrad/core/kernels' as a prefix.
    alias: [
      { find: /^@tapegrad\/core$/, replacement: src('core') },
      { find: /^@tapegrad\/core\/kernels$/, replacement: src('core', 'kernels') },
      { find: /^@tapegrad\/nn$/, replacement: src('nn') },
      { find: /^@tapegrad\/gradcheck$/, replacement: src('gradcheck') },
    ],
  },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: currentScope().tests,
    testTimeout: 60_000,
  },
});
