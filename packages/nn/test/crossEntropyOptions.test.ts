// crossEntropy with PyTorch's options (reduction 'none', ignoreIndex, class weight, labelSmoothing): the
// fused op's backward against its reference's tape and finite differences (checkOverride), its values and
// grads against numpy following aten 1.13 (fixtures/cross_entropy_options.json, which
// scripts/fixtures/verify_cross_entropy_torch.py holds against torch itself), and its refusals.
import { DTypeError, grad, mul, ShapeError, sum, type Tensor, tensor } from '@tapegrad/core';
import { checkOverride } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CrossEntropyOptions,
  crossEntropy,
  crossEntropyOpWith,
  crossEntropyReference,
  linear,
  linearCrossEntropy,
} from '../src/index.js';
import { gridLogits } from './arbitraries.js';
import { expectClose, fixture } from './assertClose.js';

interface Case {
  name: string;
  dtype: 'float64' | 'float32';
  logits: number[][];
  targets: number[];
  weight: number[] | null;
  ignoreIndex: number;
  labelSmoothing: number;
  reduction: 'none' | 'mean' | 'sum';
  upstream: number | number[];
  /** null stands for NaN (JSON has none). */
  loss: number | null | (number | null)[];
  dlogits: number[][];
}
const { cases } = fixture<{ cases: Case[] }>('cross_entropy_options.json');

const optionsOf = (c: Case): CrossEntropyOptions => ({
  reduction: c.reduction,
  ignoreIndex: c.ignoreIndex,
  labelSmoothing: c.labelSmoothing,
  ...(c.weight ? { weight: tensor(c.weight, { dtype: c.dtype }) } : {}),
});

/** loss·upstream summed: the scalar whose grad is the fixture's dlogits. */
const weighted = (loss: Tensor, c: Case): Tensor =>
  c.reduction === 'none' ? sum(mul(loss, tensor(c.upstream as number[], { dtype: c.dtype }))) : loss;

const expectedLoss = (c: Case): number[] => [c.loss].flat().map((v) => (v === null ? Number.NaN : v));

/** NaN where expected is NaN, close elsewhere. */
function expectLoss(actual: Tensor, c: Case, tol: { atol: number; rtol: number }): void {
  const expected = expectedLoss(c);
  expect(actual.shape).toEqual(c.reduction === 'none' ? [c.targets.length] : []);
  expected.forEach((e, i) => {
    if (Number.isNaN(e)) expect(actual.data[i]).toBeNaN();
    else expect(Math.abs(actual.data[i]! - e)).toBeLessThanOrEqual(tol.atol + tol.rtol * Math.abs(e));
  });
}

describe('crossEntropy with PyTorch’s options, against numpy following aten 1.13', () => {
  for (const c of cases) {
    // float32: the row sums are float64, the result rounded once; logits near ±1e4 keep ~1e-3 absolute
    // precision in float32, so the fixture's values are those of the float32-rounded logits themselves.
    const tol = c.dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-6, rtol: 2e-7 };
    const gradTol = c.dtype === 'float64' ? { atol: 1e-15, rtol: 1e-10 } : { atol: 1e-7, rtol: 1e-5 };
    it(`${c.name} (${c.dtype})`, () => {
      const logits = tensor(c.logits, { dtype: c.dtype });
      const options = optionsOf(c);
      expectLoss(crossEntropy(logits, c.targets, options), c, tol);
      expectLoss(crossEntropy(logits, tensor(c.targets, { dtype: c.dtype }), options), c, tol);
      const dLogits = grad((x: Tensor) => weighted(crossEntropy(x, c.targets, options), c))(logits);
      expect(dLogits.dtype).toBe(c.dtype);
      expectClose(dLogits, c.dlogits, gradTol);
      if (c.dtype === 'float64') {
        // the reference composition gives the same values and grads
        expectLoss(crossEntropyReference(logits, c.targets, options), c, { atol: 1e-12, rtol: 1e-12 });
        const dReference = grad((x: Tensor) => weighted(crossEntropyReference(x, c.targets, options), c))(
          logits,
        );
        expectClose(dReference, c.dlogits, { atol: 1e-14, rtol: 1e-10 });
      }
    });
  }

  it('the default path (no options) gives what labelSmoothing 0, an unused ignoreIndex and unit weights give', () => {
    const c = cases.find((k) => k.name === 'plain mean' && k.dtype === 'float64')!;
    const logits = tensor(c.logits, { dtype: 'float64' });
    const plain = crossEntropy(logits, c.targets).item();
    // a zero weight vector would differ; ones give the same value through the other op
    const ones = tensor(new Array(c.logits[0]!.length).fill(1), { dtype: 'float64' });
    expect(crossEntropy(logits, c.targets, { weight: ones }).item()).toBeCloseTo(plain, 13);
    expect(crossEntropy(logits, c.targets, { labelSmoothing: 0 }).item()).toBeCloseTo(plain, 13);
    expect(crossEntropy(logits, c.targets, { ignoreIndex: 99 }).item()).toBeCloseTo(plain, 13);
    // an ignoreIndex that some target has does change it
    expect(c.targets).toContain(4);
    expect(crossEntropy(logits, c.targets, { ignoreIndex: 4 }).item()).not.toBeCloseTo(plain, 3);
  });
});

/** logits [N, C] (float64 on a 1e-3 grid in [-4, 4]), targets (row 0 always kept), weight [C] in [0.1, 2]. */
const inputs = (ignoreIndex: number) =>
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).chain(([rows, classes]) =>
    fc.tuple(
      gridLogits(rows, classes),
      fc.array(fc.integer({ min: -1, max: classes - 1 }), { minLength: rows, maxLength: rows }).map((t) =>
        tensor(
          t.map((k, i) => (k < 0 && i > 0 ? ignoreIndex : Math.max(k, 0))),
          { dtype: 'float64' },
        ),
      ),
      fc.array(fc.integer({ min: 100, max: 2000 }), { minLength: classes, maxLength: classes }).map((w) =>
        tensor(
          w.map((k) => k / 1000),
          { dtype: 'float64' },
        ),
      ),
    ),
  );

describe('crossEntropyOpWith: the fused op for the options', () => {
  for (const reduction of ['none', 'mean', 'sum'] as const) {
    for (const labelSmoothing of [0, 0.3]) {
      const op = crossEntropyOpWith({ reduction, ignoreIndex: -100, labelSmoothing });
      it(`checkOverride with weight (${reduction}, ε ${labelSmoothing})`, () => {
        checkOverride(op, inputs(-100), {
          names: ['logits', 'targets', 'weight'],
          nondiff: [1, 2],
          numRuns: 25,
        });
      });
      it(`checkOverride without weight (${reduction}, ε ${labelSmoothing})`, () => {
        checkOverride(
          op,
          inputs(-100).map(([logits, targets]) => [logits, targets] as const),
          { names: ['logits', 'targets'], nondiff: [1], numRuns: 15 },
        );
      });
    }
  }

  it('gives weight and targets no grad', () => {
    const logits = tensor([[1, 2, 0.5]], { dtype: 'float64', requiresGrad: true });
    const weight = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    crossEntropy(logits, [1], { weight, labelSmoothing: 0.1 }).backward();
    expect(weight.grad).toBeNull();
    expect(logits.grad).not.toBeNull();
  });

  it('every row ignored under mean: NaN, as torch, and zero grads', () => {
    const logits = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float64', requiresGrad: true },
    );
    const loss = crossEntropy(logits, [-100, -100]);
    expect(loss.item()).toBeNaN();
    loss.backward();
    expect(Array.from(logits.grad!.data)).toEqual([0, 0, 0, 0]);
    expect(crossEntropy(logits, [-100, -100], { reduction: 'sum' }).item()).toBe(0);
    expect(Array.from(crossEntropy(logits, [-100, -100], { reduction: 'none' }).data)).toEqual([0, 0]);
  });
});

describe('crossEntropy refuses', () => {
  const logits = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  it('a weight of the wrong length, rank or dtype, naming crossEntropy and the shapes', () => {
    expect(() => crossEntropy(logits, [0, 1], { weight: tensor([1, 2]) })).toThrow(ShapeError);
    expect(() => crossEntropy(logits, [0, 1], { weight: tensor([1, 2]) })).toThrow(
      'crossEntropy: weight [2] does not fit logits [2,3] (want [3], one per class)',
    );
    expect(() => crossEntropy(logits, [0, 1], { weight: tensor([[1, 2, 3]]) })).toThrow(
      /crossEntropy: weight \[1,3\] does not fit logits \[2,3\]/,
    );
    expect(() => crossEntropy(logits, [0, 1], { weight: tensor([1, 2, 3], { dtype: 'float64' }) })).toThrow(
      DTypeError,
    );
    expect(() => crossEntropy(logits, [0, 1], { weight: tensor([1, 2, 3], { dtype: 'float64' }) })).toThrow(
      'crossEntropy: weight is float64, logits float32',
    );
    expect(() => crossEntropy(logits, [0, 1], { weight: [1, 2, 3] as never })).toThrow(
      /weight must be a Tensor/,
    );
  });

  it('labelSmoothing outside [0, 1], naming the value', () => {
    for (const bad of [-0.1, 1.5, Number.NaN]) {
      expect(() => crossEntropy(logits, [0, 1], { labelSmoothing: bad })).toThrow(RangeError);
      expect(() => crossEntropy(logits, [0, 1], { labelSmoothing: bad })).toThrow(
        `crossEntropy: labelSmoothing must be in [0, 1], got ${bad}`,
      );
    }
  });

  it('targets out of range that are not ignoreIndex, a non-integer ignoreIndex, an unknown reduction', () => {
    expect(() => crossEntropy(logits, [0, -1])).toThrow(
      'crossEntropy: target -1 at row 1 is not a class index in [0, 3) nor ignoreIndex -100',
    );
    expect(() => crossEntropy(logits, [0, -100], { ignoreIndex: -1 })).toThrow(/target -100 at row 1/);
    expect(crossEntropy(logits, [0, -1], { ignoreIndex: -1 }).item()).toBeCloseTo(2.4076059644443806, 6);
    expect(() => crossEntropy(logits, [0, 1], { ignoreIndex: 0.5 })).toThrow(
      'crossEntropy: ignoreIndex must be an integer, got 0.5',
    );
    expect(() => crossEntropy(logits, [0, 1], { reduction: 'avg' as never })).toThrow(
      "crossEntropy: reduction must be 'mean', 'sum' or 'none', got avg",
    );
  });
});

describe('linearCrossEntropy takes the same options', () => {
  const x = tensor(
    [
      [0.5, -1, 2],
      [1, 0.25, -0.5],
      [-2, 1, 0],
      [0.1, 0.2, 0.3],
    ],
    { dtype: 'float64' },
  );
  const weight = tensor(
    [
      [0.3, -0.2, 0.1],
      [-0.5, 0.4, 0.9],
    ],
    { dtype: 'float64' },
  );
  const bias = tensor([0.05, -0.1], { dtype: 'float64' });
  const classWeight = tensor([0.7, 1.9], { dtype: 'float64' });
  const targets = [1, -100, 0, 1];
  for (const options of [
    { reduction: 'none' },
    { ignoreIndex: -100 },
    { weight: classWeight },
    { labelSmoothing: 0.2, weight: classWeight, reduction: 'sum' },
  ] as CrossEntropyOptions[]) {
    it(`as crossEntropy(linear(…)) with ${JSON.stringify({ ...options, weight: options.weight ? 'w' : undefined })}`, () => {
      const fused = (xv: Tensor, w: Tensor) => sum(linearCrossEntropy(xv, w, bias, targets, options));
      const composed = (xv: Tensor, w: Tensor) =>
        sum(crossEntropyReference(linear(xv, w, bias), targets, options));
      expectClose(fused(x, weight), [composed(x, weight).item()], { atol: 1e-14, rtol: 1e-13 });
      const [dx, dw] = grad(fused, { argnums: [0, 1] })(x, weight) as Tensor[];
      const [rx, rw] = grad(composed, { argnums: [0, 1] })(x, weight) as Tensor[];
      expectClose(dx!, Array.from(rx!.data), { atol: 1e-14, rtol: 1e-12 });
      expectClose(dw!, Array.from(rw!.data), { atol: 1e-14, rtol: 1e-12 });
    });
  }

  it('refuses options as crossEntropy does, under its own name', () => {
    expect(() => linearCrossEntropy(x, weight, bias, [0, 1, 0, 1], { labelSmoothing: 2 })).toThrow(
      'linearCrossEntropy: labelSmoothing must be in [0, 1], got 2',
    );
    expect(() => linearCrossEntropy(x, weight, bias, [0, 1, 0, 1], { weight: tensor([1, 2, 3]) })).toThrow(
      /linearCrossEntropy: weight \[3\] does not fit/,
    );
  });
});
