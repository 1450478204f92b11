import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import type { Reporter, TestModule } from 'vitest/node';

// Under CI, the test files running at each moment are kept in .vitest-running: a run that hangs is
// stopped by .ci/run, which prints them (a file whose test blocks its process never reports an end).
const running = new Set<string>();
const keep = () => writeFileSync('.vitest-running', [...running].map((f) => `  ${f}\n`).join(''));
const runningFiles: Reporter = {
  onTestModuleStart(module: TestModule) {
    running.add(relative(process.cwd(), module.moduleId));
    keep();
  },
  onTestModuleEnd(module: TestModule) {
    running.delete(relative(process.cwd(), module.moduleId));
    keep();
  },
};

// Tests run on the TypeScript sources: the `source` export condition resolves each
// workspace package to src/index.ts, so no build is needed first.
export default defineConfig({
  ssr: { resolve: { conditions: ['source'] } },
  resolve: { conditions: ['source'] },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
      'bench/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 60_000,
    // CI reads the counts from a JSON report (.ci/run prints `N passed, N failed` from it).
    reporters: process.env.CI ? ['default', 'json', runningFiles] : ['default'],
    outputFile: { json: '.vitest-report.json' },
  },
});
