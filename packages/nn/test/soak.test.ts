// The short soak: bench/soak.ts trains the echo LSTM (Embedding → LSTM → Linear, crossEntropy, Adam)
// for 300 steps in a child process with --expose-gc; the live heap after step 300 is within 5% of
// the heap after step 100, and the same run with a planted leak is far outside it.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const soak = fileURLToPath(new URL('../../../bench/soak.ts', import.meta.url));

interface Summary {
  heapAtBaseline: number;
  heapAtEnd: number;
  relativeChange: number;
  finalLoss: number;
}

function run(steps: number, leak: boolean): Summary {
  const output = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--conditions=source',
      '--import',
      'tsx',
      soak,
      '--steps',
      String(steps),
      '--every',
      '50',
      '--baseline',
      '100',
      '--hidden',
      '16',
    ],
    // A child that hangs is killed and fails the test (a synchronous wait would block this whole test
    // process past any test timeout); 300 steps take about a second.
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, SOAK_LEAK: leak ? '1' : '0' } },
  );
  return JSON.parse(output.trim().split('\n').pop()!);
}

describe('soak (short)', () => {
  it('300 training steps: the heap after step 300 is within 5% of the heap after step 100', () => {
    const summary = run(300, false);
    expect(Math.abs(summary.relativeChange)).toBeLessThan(0.05);
    expect(summary.finalLoss).toBeLessThan(0.1); // it did train
  });

  it('the same run keeping each step’s loss (and its graph) is caught: the check can fail', () => {
    const summary = run(200, true);
    expect(summary.relativeChange).toBeGreaterThan(0.25);
  });
});
