// crossEntropy and mse against numpy (fixtures/nn_layers.json), including logits near ±1e4 and mse's
// broadcasting (as torch's mse_loss).
import { grad, ShapeError, type Tensor, tensor } from '@tapegrad/core';
import { describe, expect, it, vi } from 'vitest';
import { crossEntropy, mse } from '../src/index.js';
import { expectClose, fixture } from './assertClose.js';

const {
  crossEntropy: ce,
  mse: ms,
  mse_broadcast: broadcast,
} = fixture<{
  crossEntropy: {
    logits: number[][];
    targets: number[];
    mean: number;
    sum: number;
    dlogits_mean: number[][];
    dlogits_sum: number[][];
  };
  mse: {
    prediction: number[][];
    target: number[][];
    mean: number;
    sum: number;
    dprediction_mean: number[][];
  };
  mse_broadcast: {
    prediction: number[][];
    target: number[][];
    shape: number[];
    none: number[][];
    mean: number;
    sum: number;
    dprediction_mean: number[][];
  }[];
}>('nn_layers.json');

describe('crossEntropy', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    // float32 logits near 1e4 keep only ~1e-3 absolute precision, hence the looser tolerance.
    const tol = dtype === 'float64' ? { atol: 1e-9, rtol: 1e-9 } : { atol: 2e-3, rtol: 1e-4 };
    it(`matches numpy for large logits, mean and sum (${dtype})`, () => {
      const logits = tensor(ce.logits, { dtype });
      const targets = tensor(ce.targets, { dtype });
      expectClose(crossEntropy(logits, targets), [ce.mean], tol);
      expectClose(crossEntropy(logits, ce.targets, { reduction: 'sum' }), [ce.sum], tol);
      const dMean = grad((x: Tensor) => crossEntropy(x, ce.targets))(logits) as Tensor;
      expectClose(dMean, ce.dlogits_mean, { atol: dtype === 'float64' ? 1e-12 : 5e-4 });
      const dSum = grad((x: Tensor) => crossEntropy(x, targets, { reduction: 'sum' }))(logits) as Tensor;
      expectClose(dSum, ce.dlogits_sum, { atol: dtype === 'float64' ? 1e-12 : 2e-3 });
    });
  }

  it('refuses targets out of range, non-integer, or of the wrong length', () => {
    const logits = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => crossEntropy(logits, [0, 3])).toThrow(
      'crossEntropy: target 3 at row 1 is not a class index in [0, 3)',
    );
    expect(() => crossEntropy(logits, [-1, 0])).toThrow(/target -1 at row 0/);
    expect(() => crossEntropy(logits, [0.5, 0])).toThrow(/target 0.5/);
    expect(() => crossEntropy(logits, [0])).toThrow(/targets \[1\] do not match logits \[2,3\]/);
    expect(() => crossEntropy(tensor([1, 2]), [0])).toThrow(/logits must be \[N, C\]/);
    expect(() => crossEntropy(logits, [0, 1], { reduction: 'avg' as never })).toThrow(/reduction/);
  });
});

describe('mse', () => {
  it('matches numpy, mean and sum, with its grad', () => {
    const p = tensor(ms.prediction, { dtype: 'float64' });
    const t = tensor(ms.target, { dtype: 'float64' });
    expectClose(mse(p, t), [ms.mean]);
    expectClose(mse(p, t, { reduction: 'sum' }), [ms.sum]);
    expectClose(grad((x: Tensor) => mse(x, t))(p) as Tensor, ms.dprediction_mean);
  });

  it('broadcasts prediction and target either way as torch’s mse_loss, the mean over the broadcast shape', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      // equal shapes never warn (asked first: the warning is given once per process)
      mse(tensor([1, 2]), tensor([3, 4]));
      expect(warn.mock.calls.length).toBe(0);
      for (const c of broadcast) {
        const p = tensor(c.prediction, { dtype: 'float64' });
        const t = tensor(c.target, { dtype: 'float64' });
        const none = mse(p, t, { reduction: 'none' });
        expect(none.shape).toEqual(c.shape);
        expectClose(none, c.none);
        expectClose(mse(p, t), [c.mean]);
        expectClose(mse(p, t, { reduction: 'sum' }), [c.sum]);
        const dp = grad((x: Tensor) => mse(x, t))(p) as Tensor;
        expect(dp.shape).toEqual(p.shape);
        expectClose(dp, c.dprediction_mean);
      }
      // torch warns (once per call site, Python's default); tapegrad once per process, naming the shapes
      expect(warn.mock.calls.length).toBe(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(
        /^mse: prediction \[3,4\] and target \[4\] differ and are broadcast to \[3,4\]/,
      );
      expect(() => mse(tensor([[1, 2]]), tensor([1, 2]))).not.toThrow();
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses shapes that do not broadcast, naming mse and both shapes', () => {
    expect(() => mse(tensor([[1, 2, 3]]), tensor([1, 2]))).toThrow(ShapeError);
    expect(() => mse(tensor([[1, 2, 3]]), tensor([1, 2]))).toThrow(
      'mse: prediction [1,3] and target [2] differ and do not broadcast',
    );
    expect(() => mse(tensor([1, 2]), tensor([1, 2]), { reduction: 'avg' as never })).toThrow(
      "mse: reduction must be 'mean', 'sum' or 'none', got avg",
    );
  });
});
