// Proof that the checks catch real gradient bugs: each broken backward must fail, with a shrunk
// witness of no dimension above 2, while its correct twin passes the very same check.
import { add, customOp, mul, reshape, slice, sub, type Tensor, tanh, tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { broadcastableShapes, seededTensors, shapes } from '../src/arbitraries.js';
import { checkOverride, type PropertyFailure } from '../src/index.js';
import { checkOverrideAt, OverrideError } from '../src/override.js';
import { checkGradientsProperty } from '../src/property.js';
import { failure } from './failure.js';
import {
  type CellBug,
  cellInputNames,
  cellInputs,
  lstmCell,
  lstmSequence,
  sequenceInputNames,
  sequenceInputs,
} from './lstm.js';

/**
 * Every tensor in the shrunk witness has no dimension above 2, but for a cell's stacked weights
 * (named W…, [n_a, n_a + n_x]): their width is two dimensions of 2 at most side by side. A witness
 * that must keep its error as large as the first failure's may need n_x = 2 where n_a = 1.
 */
function expectSmallWitness(f: PropertyFailure, names?: readonly string[]): void {
  const tensorsIn = f.counterexample
    .map((v, i) => [v, names?.[i] ?? ''] as const)
    .filter(
      (pair): pair is readonly [Tensor, string] =>
        typeof pair[0] === 'object' && pair[0] !== null && 'shape' in pair[0],
    );
  expect(tensorsIn.length).toBeGreaterThan(0);
  for (const [t, name] of tensorsIn) {
    t.shape.forEach((d, axis) => {
      expect(d).toBeLessThanOrEqual(name.startsWith('W') && axis === 1 ? 4 : 2);
    });
  }
  // The message shows the witness's values and how to replay it.
  expect(f.message).toMatch(/shrunk \d+ time\(s\) to these inputs:\n {2}.+: float64 \[/);
  expect(f.message).toMatch(/replay with \{ seed: -?\d+, path: '[\d:]*' \}/);
}

const tanhOp = (square: boolean) =>
  customOp<Tensor>({
    name: square ? 'tanh' : 'tanh(forgets the square)',
    forward: ([x]) => {
      const y = tanh(x!);
      return { outputs: y, residuals: y };
    },
    // d tanh = g·(1 - y²); the bug writes g·(1 - y)
    backward: ([g], y) => [mul(g!, sub(1, square ? mul(y, y) : y))],
    reference: (x) => tanh(x!),
  });

describe('a tanh vjp that forgets the square', () => {
  const inputs = seededTensors(
    shapes().map((s) => [s]),
    { min: -3, max: 3 },
  );

  it('fails gradcheck with a tiny witness, naming the element and both values', () => {
    const f = failure(() => checkGradientsProperty(tanhOp(false), inputs));
    expectSmallWitness(f);
    const first = f.report!.failures[0]!;
    expect(first.kind).toBe('jacobian');
    // At the failing element, numeric is tanh's derivative 1 - y² and analytic the bug's 1 - y.
    const x = f.counterexample[0] as Tensor;
    const y = Math.tanh(x.data[flat(first.element!, x.shape)]!);
    expect(first.numeric).toBeCloseTo(1 - y * y, 6);
    expect(first.analytic).toBeCloseTo(1 - y, 12);
  });

  it('fails the override check, which blames the hand-written backward', () => {
    const f = failure(() => checkOverride(tanhOp(false), inputs));
    expectSmallWitness(f);
    expect(f.error).toBeInstanceOf(OverrideError);
    expect(f.message).toContain('verdict: the hand-written backward is wrong');
    expect(f.message).toMatch(
      /hand-written backward vs tape of reference:\n {2}d output 0\[[\d,]*\] \/ d input 0\[/,
    );
    // And at a point of our choosing, the report's parts: two oracles outvote the third.
    const report = checkOverrideAt(tanhOp(false), [tensor([0.5, -1.2], { dtype: 'float64' })]);
    expect(report.ok).toBe(false);
    expect(report.verdict).toMatch(/^the hand-written backward is wrong/);
    expect(report.tapeVsNumeric.ok).toBe(true);
    expect(report.handVsNumeric.failures.map((x) => x.element)).toEqual([[0], [1]]);
  });

  it('passes both checks with the square', () => {
    expect(checkGradientsProperty(tanhOp(true), inputs).numRuns).toBeGreaterThan(0);
    expect(checkOverride(tanhOp(true), inputs).numRuns).toBeGreaterThan(0);
  });
});

/** The flat position of a multi-index. */
function flat(index: readonly number[], shape: readonly number[]): number {
  return index.reduce((pos, i, ax) => pos * shape[ax]! + i, 0);
}

/**
 * A broadcasting add whose vjp takes the first entry along each broadcast axis instead of summing.
 * (Returning g unreduced is no bug here: the engine sums every grad back to its input's shape, so
 * the mistake must be one the engine cannot undo.)
 */
const broadcastAdd = (sums: boolean) =>
  customOp<null>({
    name: sums ? 'add' : 'add(first row, not the sum)',
    forward: ([a, b]) => ({ outputs: add(a!, b!), residuals: null }),
    backward: ([g], _, inputs) =>
      inputs.map((x) => {
        if (sums) return g!; // d(a + b) = g, which the engine sums back over broadcast axes
        const lead = g!.rank - x.rank;
        const stops = g!.shape.map((d, ax) => (ax < lead || x.shape[ax - lead] === 1 ? 1 : d));
        return reshape(
          slice(
            g!,
            stops.map(() => 0),
            stops,
          ),
          x.shape,
        );
      }),
    reference: (a, b) => add(a!, b!),
  });

describe('a broadcasting add whose vjp does not sum over the broadcast axis', () => {
  const inputs = seededTensors(broadcastableShapes(2));

  it('fails gradcheck with a tiny witness that does broadcast', () => {
    const f = failure(() => checkGradientsProperty(broadcastAdd(false), inputs));
    expectSmallWitness(f);
    const [a, b] = f.counterexample as [Tensor, Tensor];
    expect(a.size).not.toBe(b.size); // no bug without a broadcast
    expect(f.report!.failures[0]!.kind).toBe('jacobian');
  });

  it('fails the override check against core add, blaming the hand-written backward', () => {
    const f = failure(() => checkOverride(broadcastAdd(false), inputs));
    expectSmallWitness(f);
    expect(f.message).toContain('the hand-written backward is wrong');
  });

  it('passes when the engine sums the grad back', () => {
    expect(checkOverride(broadcastAdd(true), inputs).numRuns).toBeGreaterThan(0);
  });
});

describe("the notebook's LSTM cell backward", () => {
  const options = { names: cellInputNames, numRuns: 20 };
  const bugs: [CellBug, string][] = [
    ['dxt-uses-a_prev-columns-of-Wc', 'xt'],
    ['da_prev-uses-x-columns-of-Wi', 'aPrev'],
    ['dW-uses-[x; a_prev]-stack', 'W'],
  ];

  for (const [bug, blamed] of bugs) {
    it(`${bug}: fails with a tiny witness, naming ${blamed}`, () => {
      const f = failure(() => checkGradientsProperty(lstmCell(bug), cellInputs, options));
      expectSmallWitness(f, cellInputNames);
      const failing = f.report?.failures ?? [];
      expect(failing.length).toBeGreaterThan(0);
      expect(failing.every((x) => x.input.startsWith(blamed))).toBe(true);
    });
  }

  it('dxt with the a_prev columns of Wc: the override check blames the hand-written backward', () => {
    const f = failure(() => checkOverride(lstmCell('dxt-uses-a_prev-columns-of-Wc'), cellInputs, options));
    expectSmallWitness(f, cellInputNames);
    expect(f.message).toMatch(
      /hand-written backward vs tape of reference:\n {2}d output \d\[[\d,]*\] \/ d xt\[/,
    );
    expect(f.message).toContain('verdict: the hand-written backward is wrong');
  });

  it('the correct backward passes gradcheck and the override check', () => {
    expect(checkGradientsProperty(lstmCell(), cellInputs, options).numRuns).toBe(20);
    expect(checkOverride(lstmCell(), cellInputs, options).numRuns).toBe(20);
  });
});

describe("the notebook's lstm_backward", () => {
  const options = { names: sequenceInputNames, numRuns: 15 };

  it('dropping da_prev/dc_prev between steps fails, with a two-step witness', () => {
    const f = failure(() => checkGradientsProperty(lstmSequence(true), sequenceInputs, options));
    expectSmallWitness(f);
    const x = f.counterexample[9] as Tensor;
    expect(x.shape[2]).toBe(2); // one step carries nothing to drop
    const ov = failure(() => checkOverride(lstmSequence(true), sequenceInputs, options));
    expectSmallWitness(ov);
    expect(ov.message).toContain('verdict: the hand-written backward is wrong');
  });

  it('carrying them passes gradcheck and the override check', () => {
    expect(checkGradientsProperty(lstmSequence(), sequenceInputs, options).numRuns).toBe(15);
    expect(checkOverride(lstmSequence(), sequenceInputs, options).numRuns).toBe(15);
  });
});
