// Forward mode through nn's fused ops: with no jvp rule of their own, jvp runs their references, so
// checkJvp's transpose identity holds the reference's tangents against the fused, hand-written backward
// (⟨u, J·v⟩ by the reference = ⟨Jᵀu, v⟩ by the fused op), and central differences hold both.
import { type CustomOp, jvp, RandomState, type Tensor, tensor } from '@tapegrad/core';
import { checkJvp, runProperty } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crossEntropyOps,
  gruCellOp,
  gruSequenceOp,
  Linear,
  LSTM,
  linearCrossEntropyOps,
  linearOp,
  lstmCellOp,
  lstmSequenceOp,
  mse,
  rnnTanhCell,
  rnnTanhSequence,
} from '../src/index.js';

const value = fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000);
const of = (shape: number[]) => {
  const count = shape.reduce((n, d) => n * d, 1);
  return fc
    .array(value, { minLength: count, maxLength: count })
    .map((values) => tensor(values, { dtype: 'float64', shape }));
};
const size = fc.integer({ min: 1, max: 3 });

/** A recurrent op's inputs: x ([B, I], or [T, B, I] for a sequence), the states, weights and biases. */
const recurrentInputs = (gates: number, states: number, sequence: boolean) =>
  fc
    .tuple(size, size, size, size)
    .chain(([steps, batch, input, hidden]) =>
      fc.tuple(
        of(sequence ? [steps, batch, input] : [batch, input]),
        ...Array.from({ length: states }, () => of([batch, hidden])),
        of([gates * hidden, input]),
        of([gates * hidden, hidden]),
        of([gates * hidden]),
        of([gates * hidden]),
      ),
    );

const targets = (rows: number, classes: number) =>
  fc
    .array(fc.integer({ min: 0, max: classes - 1 }), { minLength: rows, maxLength: rows })
    .map((t) => tensor(t, { dtype: 'float64' }));

const cases: [string, CustomOp<never> | CustomOp, fc.Arbitrary<Tensor[]>, number[]][] = [
  ['rnnTanhCell', rnnTanhCell, recurrentInputs(1, 1, false), []],
  ['lstmCell', lstmCellOp, recurrentInputs(4, 2, false), []],
  ['gruCell', gruCellOp, recurrentInputs(3, 1, false), []],
  ['rnnTanhSequence', rnnTanhSequence, recurrentInputs(1, 1, true), []],
  ['lstmSequence', lstmSequenceOp, recurrentInputs(4, 2, true), []],
  ['gruSequence', gruSequenceOp, recurrentInputs(3, 1, true), []],
  [
    'linear',
    linearOp,
    fc.tuple(size, size, size).chain(([n, i, o]) => fc.tuple(of([n, i]), of([o, i]), of([o]))),
    [],
  ],
  [
    'crossEntropy (mean)',
    crossEntropyOps.mean,
    fc.tuple(size, size).chain(([n, c]) => fc.tuple(of([n, c]), targets(n, c))),
    [1],
  ],
  [
    'linearCrossEntropy (sum)',
    linearCrossEntropyOps.sum,
    fc.tuple(size, size, size).chain(([n, i, c]) => fc.tuple(of([n, i]), of([c, i]), targets(n, c), of([c]))),
    [2],
  ],
];

describe('jvp through nn’s fused ops (their references)', () => {
  for (const [name, op, inputs, nondiff] of cases) {
    it(`${name}: the reference's jvp is the transpose of the fused backward, and matches central differences`, () => {
      const result = runProperty(
        `jvp of ${name}`,
        fc.tuple(inputs, fc.nat()),
        ([args, seed]) => checkJvp(op as (...args: unknown[]) => Tensor, args, { nondiff, seed }),
        { numRuns: 15 },
      );
      expect(result.numRuns).toBe(15);
    });
  }
});

describe('jvp of an LSTM loss through the layers', () => {
  it('J·v of mse(head(lstm(x))) in the weights and input equals central differences', () => {
    const rng = new RandomState(7);
    const lstm = new LSTM(3, 4, { rng, dtype: 'float64' });
    const head = new Linear(4, 2, { rng, dtype: 'float64' });
    const x = rng.uniform(-1, 1, [5, 2, 3], { dtype: 'float64' });
    const target = rng.uniform(-1, 1, [5, 2, 2], { dtype: 'float64' });
    const loss = (input: Tensor) => mse(head.forward(lstm.forward(input).output), target);
    const v = rng.uniform(-1, 1, [5, 2, 3], { dtype: 'float64' });
    const [out, dt] = jvp(loss, [x], [v]);
    const eps = 1e-6;
    const at = (s: number) =>
      loss(
        tensor(
          Float64Array.from(x.data, (xi, i) => xi + s * v.data[i]!),
          { shape: [5, 2, 3] },
        ),
      ).item();
    expect(out.item()).toBeCloseTo(loss(x).item(), 14);
    expect(dt.item()).toBeCloseTo((at(eps) - at(-eps)) / (2 * eps), 8);
    expect(Math.abs(dt.item())).toBeGreaterThan(1e-4); // a direction the loss does move along
  });
});
