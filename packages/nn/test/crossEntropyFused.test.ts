// The fused crossEntropy op: its hand-written backward against the tape of crossEntropyReference and
// finite differences (checkOverride), and its values and grads against numpy (fixtures/cross_entropy.json).
import { grad, mul, noGrad, type Tensor, tensor } from '@tapegrad/core';
import { checkOverride } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crossEntropy, crossEntropyOps, crossEntropyReference } from '../src/index.js';
import { gridLogits } from './arbitraries.js';
import { expectClose, fixture } from './assertClose.js';

interface Case {
  logits: number[][];
  targets: number[];
  mean: number;
  sum: number;
  dlogits_mean: number[][];
}
const cases = fixture<Record<'float64' | 'float32', Case>>('cross_entropy.json');

/** logits [N, C] (N, C in 1..5, float64 on a 1e-3 grid in [-4, 4]) and N class indices in [0, C). */
const logitsAndTargets = fc
  .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
  .chain(([rows, classes]) =>
    fc.tuple(
      gridLogits(rows, classes),
      fc
        .array(fc.integer({ min: 0, max: classes - 1 }), { minLength: rows, maxLength: rows })
        .map((t) => tensor(t, { dtype: 'float64' })),
    ),
  );

describe('crossEntropy as one fused op', () => {
  for (const reduction of ['mean', 'sum'] as const) {
    it(`checkOverride: backward = softmax - onehot (${reduction}, float64)`, () => {
      checkOverride(crossEntropyOps[reduction], logitsAndTargets, {
        names: ['logits', 'targets'],
        nondiff: [1],
        numRuns: 40,
      });
    });
  }

  for (const dtype of ['float64', 'float32'] as const) {
    const c = cases[dtype];
    // float32: the loss is summed in float64 and rounded once; softmax is kept in float32.
    const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 0, rtol: 2e-7 };
    const gradTol = dtype === 'float64' ? { atol: 1e-15, rtol: 1e-10 } : { atol: 1e-8, rtol: 1e-6 };
    it(`matches numpy with logits near ±1e4, mean and sum, value and grad (${dtype})`, () => {
      const logits = tensor(c.logits, { dtype });
      expectClose(crossEntropy(logits, c.targets), [c.mean], tol);
      expectClose(crossEntropy(logits, tensor(c.targets), { reduction: 'sum' }), [c.sum], tol);
      const dMean = grad((x: Tensor) => crossEntropy(x, c.targets))(logits);
      expectClose(dMean, c.dlogits_mean, gradTol);
      const dSum = grad((x: Tensor) => crossEntropy(x, c.targets, { reduction: 'sum' }))(logits);
      const rows = c.targets.length;
      expectClose(
        dSum,
        c.dlogits_mean.map((row) => row.map((v) => v * rows)),
        { atol: gradTol.atol * rows, rtol: gradTol.rtol },
      );
      expect(dSum.dtype).toBe(dtype);
    });
  }

  it('computes the same value when nothing is recorded, and gives targets no grad', () => {
    const c = cases.float64;
    const logits = tensor(c.logits, { dtype: 'float64' });
    expect(noGrad(() => crossEntropy(logits, c.targets)).item()).toBe(crossEntropy(logits, c.targets).item());
    const targets = tensor(c.targets, { dtype: 'float64', requiresGrad: true });
    const loss = crossEntropy(tensor(c.logits, { dtype: 'float64', requiresGrad: true }), targets);
    loss.backward();
    expect(targets.grad).toBeNull();
  });

  it('a second backward (retainGraph) gives the same d logits as the first, which took the saved values', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const c = cases[dtype];
      for (const reduction of ['mean', 'sum'] as const) {
        const logits = tensor(c.logits, { dtype, requiresGrad: true });
        // g = 3 reaches the op, so each backward scales what it takes
        const loss = mul(crossEntropy(logits, c.targets, { reduction }), tensor(3, { dtype }));
        loss.backward(undefined, { retainGraph: true });
        const first = Array.from(logits.grad!.data);
        logits.grad = null;
        loss.backward();
        expect(Array.from(logits.grad!.data)).toEqual(first);
        const rows = reduction === 'mean' ? 1 : c.targets.length;
        expectClose(
          logits.grad!,
          c.dlogits_mean.map((row) => row.map((v) => 3 * v * rows)),
          dtype === 'float64' ? { atol: 1e-14 * rows, rtol: 1e-10 } : { atol: 1e-7 * rows, rtol: 1e-5 },
        );
      }
    }
  });

  it('the reference composition agrees with the fused op in float64', () => {
    const c = cases.float64;
    const logits = tensor(c.logits, { dtype: 'float64' });
    expectClose(crossEntropyReference(logits, c.targets), [c.mean], { atol: 1e-12, rtol: 1e-12 });
  });
});
