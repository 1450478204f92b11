// clipGradNorm / clipGradValue against numpy re-implementations of torch.nn.utils (nn_layers.json).
import { tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { clipGradNorm, clipGradValue, Parameter } from '../src/index.js';
import { expectClose, fixture } from './assertClose.js';

type Case = { maxNorm: number; total: number; clipped: number[][] };
const { clip } = fixture<{
  clip: { grads: number[][] } & Record<'l2' | 'inf' | 'l1', Case> & {
      value: { clipValue: number; clipped: number[][] };
    };
}>('nn_layers.json');

function withGrads(): Parameter[] {
  return clip.grads.map((g) => {
    const p = new Parameter(tensor(g, { dtype: 'float64' }));
    p.grad = tensor(g, { dtype: 'float64' });
    return p;
  });
}

describe('clipGradNorm', () => {
  for (const [name, normType] of [
    ['l2', 2],
    ['inf', Infinity],
    ['l1', 1],
  ] as const) {
    it(`returns the total ${name} norm and scales by maxNorm / (total + 1e-6)`, () => {
      const params = withGrads();
      const c = clip[name];
      expect(clipGradNorm(params, c.maxNorm, { normType })).toBeCloseTo(c.total, 12);
      params.forEach((p, i) => {
        expectClose(p.grad!, c.clipped[i]!);
      });
    });
  }

  it('leaves grads under the limit alone and skips parameters without grad', () => {
    const params = withGrads();
    const before = params.map((p) => p.grad);
    const extra = new Parameter(tensor([1]));
    expect(clipGradNorm([...params, extra], 1e6)).toBeCloseTo(clip.l2.total, 12);
    params.forEach((p, i) => {
      expect(p.grad).toBe(before[i]);
    });
    expect(extra.grad).toBeNull();
    expect(() => clipGradNorm(params, -1)).toThrow(/maxNorm/);
  });
});

describe('clipGradValue', () => {
  it('clamps every grad into [-v, v]', () => {
    const params = withGrads();
    clipGradValue(params, clip.value.clipValue);
    params.forEach((p, i) => {
      expectClose(p.grad!, clip.value.clipped[i]!);
    });
  });
});
