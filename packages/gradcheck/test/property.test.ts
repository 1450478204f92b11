// The property runner: a failure is shrunk, reported with its witness and replayable from its seed
// and path; the run count follows TAPEGRAD_DEEP; @fast-check/vitest's test.prop drives it too.
import { fc, test } from '@fast-check/vitest';
import { customOp, mul, sigmoid, sub, type Tensor, tanh } from '@tapegrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import { seededTensors, shapes, tensors } from '../src/arbitraries.js';
import { assertGradcheck } from '../src/gradcheck.js';
import { checkGradientsProperty, defaultNumRuns, PropertyFailure } from '../src/property.js';

// d σ = g·y·(1 - y); the bug drops the (1 - y)
const brokenSigmoid = customOp<Tensor>({
  name: 'brokenSigmoid',
  forward: ([x]) => ({ outputs: sigmoid(x!), residuals: sigmoid(x!) }),
  backward: ([g], y) => [mul(g!, y)],
});

const run = (options: { seed?: number; path?: string } = {}): PropertyFailure => {
  try {
    checkGradientsProperty(brokenSigmoid, seededTensors(shapes().map((s) => [s])), options);
  } catch (error) {
    if (error instanceof PropertyFailure) return error;
    throw error;
  }
  throw new Error('the broken sigmoid passed');
};

describe('checkGradientsProperty', () => {
  it('reports the shrunk witness, the failing element and how to replay it', () => {
    const failure = run({ seed: 42 });
    const [x] = failure.counterexample as [Tensor];
    expect(x.shape).toEqual([]); // the bug needs no dimension at all
    expect(failure.message).toMatch(
      /^gradient property of brokenSigmoid failed after \d+ run\(s\); shrunk \d+/,
    );
    expect(failure.message).toContain(`input 0: float64 [] = ${JSON.stringify(x.item())}`);
    expect(failure.message).toContain('jacobian: d output 0[] / d input 0[]');
    expect(failure.message).toContain(`replay with { seed: 42, path: '${failure.path}' }`);
    const y = 1 / (1 + Math.exp(-x.item()));
    expect(failure.report!.failures[0]!.numeric).toBeCloseTo(y * (1 - y), 8);
  });

  it('replays the same witness from the seed and path it printed', () => {
    const first = run();
    const again = run({ seed: first.seed, path: first.path });
    expect((again.counterexample[0] as Tensor).toArray()).toEqual(
      (first.counterexample[0] as Tensor).toArray(),
    );
  });

  it('passes a correct op and runs the default number of times', () => {
    const result = checkGradientsProperty(
      (x: Tensor) => tanh(x),
      tensors().map((x) => [x]),
    );
    expect(result.numRuns).toBe(defaultNumRuns());
  });
});

describe('defaultNumRuns', () => {
  const saved = { deep: process.env.TAPEGRAD_DEEP, runs: process.env.TAPEGRAD_NUM_RUNS };
  afterEach(() => {
    for (const [key, value] of [
      ['TAPEGRAD_DEEP', saved.deep],
      ['TAPEGRAD_NUM_RUNS', saved.runs],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('is 50, fifteen times that with TAPEGRAD_DEEP=1, and TAPEGRAD_NUM_RUNS outright', () => {
    delete process.env.TAPEGRAD_DEEP;
    delete process.env.TAPEGRAD_NUM_RUNS;
    expect(defaultNumRuns()).toBe(50);
    process.env.TAPEGRAD_DEEP = '1';
    expect(defaultNumRuns()).toBe(750);
    process.env.TAPEGRAD_NUM_RUNS = '7';
    expect(defaultNumRuns()).toBe(7);
  });
});

// The same check under @fast-check/vitest: it draws, shrinks and reports; assertGradcheck judges.
test.prop([tensors({ min: -3, max: 3 })], { numRuns: 30 })('tanh passes gradcheck under test.prop', (x) => {
  assertGradcheck((a: Tensor) => tanh(a), [x]);
});

it('the same predicate over a broken op fails, and fast-check carries the gradcheck report', () => {
  // d x(1 - x) = 1 - 2x; this backward says 1.
  const wrong = customOp<null>({
    name: 'wrong',
    forward: ([x]) => ({ outputs: mul(x!, sub(1, x!)), residuals: null }),
    backward: ([g]) => [g!],
  });
  const details = fc.check(
    fc.property(tensors({ min: 0.1, max: 1 }), (x) => {
      assertGradcheck(wrong, [x]);
    }),
    { seed: 3 },
  );
  expect(details.failed).toBe(true);
  expect(String(details.errorInstance)).toContain('jacobian: d output 0');
});
