// Nothing global holds tape nodes: 100,000 recorded ops whose results are dropped must leave the
// heap about where 10,000 left it. Measured in a child process so that gc can be forced.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const probe = fileURLToPath(new URL('./heap-probe.ts', import.meta.url));

function run(leak: boolean): { at10k: number; at100k: number } {
  const output = execFileSync(
    process.execPath,
    ['--expose-gc', '--conditions=source', '--import', 'tsx', probe],
    {
      encoding: 'utf8',
      // A child that hangs is killed and fails the test instead of blocking this process for good.
      timeout: 120_000,
      env: { ...process.env, HEAP_PROBE_LEAK: leak ? '1' : '0' },
    },
  );
  return JSON.parse(output.trim().split('\n').pop()!);
}

// Each leaked iteration would keep two nodes, two 64-element float64 outputs and their closures
// (over 1 KB), so 90,000 ops leaked are ~50 MB; 8 MB of slack is far below that and far above noise.
const SLACK = 8 * 1024 * 1024;

describe('garbage', () => {
  it('100,000 recorded ops without backward do not grow the heap', () => {
    const { at10k, at100k } = run(false);
    expect(at100k - at10k).toBeLessThan(SLACK);
  });

  it('the probe does see a planted leak (so the check above can fail)', () => {
    const { at10k, at100k } = run(true);
    expect(at100k - at10k).toBeGreaterThan(SLACK);
  });
});
