// The vitest config of `pnpm mutate` (Stryker's vitest runner loads it): only the test files of the
// scope being mutated, and each @tapegrad package aliased to its src so that nn's and gradcheck's
// tests run core's mutated sources (Stryker's sandbox has no packages/*/node_modules links).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { currentScope } from './scripts/mutate/scopes.mjs';

const src = (pkg: string): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    conditions: ['source'],
    alias: {
      '@tapegrad/core': src('core'),
      '@tapegrad/nn': src('nn'),
      '@tapegrad/gradcheck': src('gradcheck'),
    },
  },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: currentScope().tests,
    testTimeout: 60_000,
  },
});
