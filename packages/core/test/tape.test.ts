// The tape engine: shared inputs, diamonds, accumulation into .grad, seeds, freed graphs, detach,
// noGrad, and a 10,000-step unrolled chain walked without recursion.
import { describe, expect, it } from 'vitest';
import {
  add,
  DTypeError,
  exp,
  matmul,
  mul,
  noGrad,
  relu,
  ShapeError,
  sum,
  type Tensor,
  tanh,
  tensor,
  where,
  zeroGrad,
} from '../src/index.js';
import { savedValuesFreed } from '../src/kernels.js';
import { expectClose } from './close.js';
import { numericGrad } from './fd.js';

const leaf = (values: number[], dtype: 'float32' | 'float64' = 'float64') =>
  tensor(values, { dtype, requiresGrad: true });
const values = (t: Tensor | null) => Array.from(t!.data);

describe('graph shapes', () => {
  it('x·x: one tensor feeding an op twice gets both contributions (2x)', () => {
    const x = leaf([1.5, -2, 0.25]);
    sum(mul(x, x)).backward();
    expect(values(x.grad)).toEqual([3, -4, 0.5]);
  });

  it('x @ x: both operands of matmul are the same tensor', () => {
    const f = (x: Tensor) =>
      sum(
        mul(
          matmul(x, x),
          tensor(
            [
              [1, 2],
              [3, 4],
            ],
            { dtype: 'float64' },
          ),
        ),
      );
    const x = tensor(
      [
        [0.5, -1],
        [2, 0.25],
      ],
      { dtype: 'float64', requiresGrad: true },
    );
    f(x).backward();
    const [numeric] = numericGrad((t) => f(t!), [x], tensor(1, { dtype: 'float64' }));
    expectClose(x.grad!, { shape: [2, 2], values: numeric!.data }, { atol: 1e-8, rtol: 1e-7 });
  });

  it('a diamond a→b, a→c, b+c sums both paths', () => {
    const a = leaf([0.3, -0.7]);
    const b = tanh(a);
    const c = exp(a);
    sum(add(b, c)).backward();
    const want = [0.3, -0.7].map((v) => 1 - Math.tanh(v) ** 2 + Math.exp(v));
    expectClose(a.grad!, { shape: [2], values: want }, { atol: 1e-15, rtol: 1e-15 });
  });

  it('a tensor used by several later ops at different depths', () => {
    // x enters at depth 0, 1, 2 and 3 of the same graph.
    const f = (x: Tensor) => {
      const h1 = tanh(x);
      const h2 = mul(h1, x);
      const h3 = add(exp(h2), x);
      return sum(mul(h3, x));
    };
    const x = leaf([0.4, -1.1, 0.9]);
    f(x).backward();
    const seed = tensor(1, { dtype: 'float64' });
    const [numeric] = numericGrad((t) => f(t!), [x], seed);
    expectClose(x.grad!, { shape: [3], values: numeric!.data }, { atol: 1e-8, rtol: 1e-7 });
  });

  it('only leaves that require grad receive .grad; intermediates and constants do not', () => {
    const x = leaf([1, 2]);
    const constant = tensor([3, 4], { dtype: 'float64' });
    const h = mul(x, constant);
    sum(h).backward();
    expect(values(x.grad)).toEqual([3, 4]);
    expect(constant.grad).toBeNull();
    expect(h.grad).toBeNull();
    expect(h.isLeaf).toBe(false);
    expect(x.isLeaf).toBe(true);
  });

  it('grads summed back over broadcast axes are accumulated in float64, even for float32', () => {
    const bias = tensor([0], { requiresGrad: true });
    const seed = new Float32Array(1001).fill(1);
    seed[0] = 2 ** 24;
    add(tensor(new Float32Array(1001)), bias).backward(tensor(seed));
    expect(bias.grad!.dtype).toBe('float32');
    expect(bias.grad!.item()).toBe(2 ** 24 + 1000);
  });

  it('a non-scalar output is seeded by a tensor of its shape', () => {
    const x = leaf([1, 2, 3]);
    mul(x, x).backward(tensor([1, 10, 100], { dtype: 'float64' }));
    expect(values(x.grad)).toEqual([2, 40, 600]);
  });
});

describe('accumulation into .grad (PyTorch semantics)', () => {
  it('two backward calls over two graphs add up; zeroGrad clears', () => {
    const x = leaf([1, -2]);
    sum(mul(x, 3)).backward();
    sum(mul(x, x)).backward();
    expect(values(x.grad)).toEqual([3 + 2, 3 - 4]);
    zeroGrad([x]);
    expect(x.grad).toBeNull();
    sum(mul(x, 5)).backward();
    expect(values(x.grad)).toEqual([5, 5]);
  });

  it('retainGraph lets the same graph be walked twice, accumulating', () => {
    const x = leaf([2]);
    const y = sum(mul(x, x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(values(x.grad)).toEqual([8]);
  });

  it('a second backward through a freed graph errors, naming the op, and changes nothing', () => {
    const x = leaf([2]);
    const y = sum(tanh(x));
    y.backward();
    const before = values(x.grad);
    expect(() => y.backward()).toThrow(/freed by an earlier backward.*retainGraph/);
    expect(() => y.backward()).toThrow(/'sum'/);
    expect(values(x.grad)).toEqual(before);
  });

  it('a graph sharing a freed part with a fresh one errors too', () => {
    const x = leaf([0.5]);
    const shared = tanh(x);
    sum(shared).backward();
    expect(() => sum(mul(shared, 2)).backward()).toThrow(/'tanh' was freed/);
  });
});

describe('seeds', () => {
  it('a non-scalar output without a seed errors clearly', () => {
    const y = mul(leaf([1, 2]), 2);
    expect(() => y.backward()).toThrow(ShapeError);
    expect(() => y.backward()).toThrow('backward: output has shape [2]; a non-scalar output needs a seed');
  });

  it('a seed of the wrong shape or dtype errors', () => {
    const y = mul(leaf([1, 2]), 2);
    expect(() => y.backward(tensor([1, 2, 3], { dtype: 'float64' }))).toThrow(
      'backward: seed shape [3] differs from output shape [2]',
    );
    expect(() => y.backward(tensor([1, 2], { dtype: 'float32' }))).toThrow(DTypeError);
    expect(() => y.backward(tensor([1, 2], { dtype: 'float32' }))).toThrow(
      'backward: seed dtype float32 differs from output dtype float64',
    );
  });

  it('backward of something that does not require grad errors', () => {
    expect(() => sum(tensor([1, 2])).backward()).toThrow(/does not require grad/);
  });
});

describe('cutting the graph', () => {
  it('detach cuts the graph: d(detach(x)·x)/dx = x, not 2x', () => {
    const x = leaf([3, -1]);
    const cut = x.detach();
    expect(cut.requiresGrad).toBe(false);
    expect(cut.node).toBeNull();
    expect(values(cut)).toEqual([3, -1]);
    sum(mul(cut, x)).backward();
    expect(values(x.grad)).toEqual([3, -1]);
  });

  it('detach of an intermediate stops the grad at it', () => {
    const x = leaf([0.5]);
    const h = tanh(x);
    sum(add(mul(h.detach(), x), h)).backward();
    // d/dx [c·x + tanh x] with c = tanh(0.5) held constant
    expect(x.grad!.item()).toBeCloseTo(Math.tanh(0.5) + 1 - Math.tanh(0.5) ** 2, 15);
  });

  it('a node every path to which is cut by a null grad is skipped: where gets its mask from relu', () => {
    // where's condition gets no grad, so relu's node is collected but never reached by a grad.
    // d/dx Σ where(relu(x), x, 0) = [relu(x) ≠ 0]
    const x = leaf([1, -2, 3]);
    const mask = relu(x);
    expect(mask.node).not.toBeNull();
    sum(where(mask, x, 0)).backward();
    expect(values(x.grad)).toEqual([1, 0, 1]);
  });

  it('noGrad records nothing: no node, requiresGrad false, and it restores recording after', () => {
    const x = leaf([1, 2]);
    const y = noGrad(() => tanh(mul(x, x)));
    expect(y.node).toBeNull();
    expect(y.requiresGrad).toBe(false);
    expect(() => sum(y).backward()).toThrow(/does not require grad/);
    expect(() =>
      noGrad(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    const z = tanh(x);
    expect(z.node).not.toBeNull();
    expect(z.requiresGrad).toBe(true);
  });
});

describe('a 10,000-step unrolled chain', () => {
  it('h = tanh(h·w + x) backpropagates without stack overflow and matches a hand loop', () => {
    const steps = 10_000;
    const w0 = [0.9, -1.2, 1.05];
    const x0 = [0.1, 0.3, -0.2];
    const hInit = [0.5, -0.5, 0];
    const w = leaf(w0);
    const x = leaf(x0);
    const h0 = leaf(hInit);
    let h = h0;
    for (let t = 0; t < steps; t++) h = tanh(add(mul(h, w), x));
    sum(h).backward();

    // Hand BPTT per element: forward keeps every h, backward walks them in reverse.
    const want = { w: [0, 0, 0], x: [0, 0, 0], h0: [0, 0, 0] };
    for (let i = 0; i < 3; i++) {
      const hs = [hInit[i]!];
      for (let t = 0; t < steps; t++) hs.push(Math.tanh(hs[t]! * w0[i]! + x0[i]!));
      let dh = 1;
      for (let t = steps; t >= 1; t--) {
        const dz = dh * (1 - hs[t]! ** 2);
        want.w[i]! += dz * hs[t - 1]!;
        want.x[i]! += dz;
        dh = dz * w0[i]!;
      }
      want.h0[i] = dh;
    }
    const tol = { atol: 1e-12, rtol: 1e-10 };
    expectClose(w.grad!, { shape: [3], values: want.w }, tol, 'w');
    expectClose(x.grad!, { shape: [3], values: want.x }, tol, 'x');
    expectClose(h0.grad!, { shape: [3], values: want.h0 }, tol, 'h0');
    // Not a degenerate check: these grads are far from zero.
    expect(Math.min(...values(w.grad).map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('savedValuesFreed', () => {
  it('is true for unrecorded results and after a freeing backward, false while a graph may still run', () => {
    const x = tensor([0.5, -1], { dtype: 'float64', requiresGrad: true });
    expect(savedValuesFreed(noGrad(() => tanh(x)))).toBe(true);
    const kept = tanh(x);
    expect(savedValuesFreed(kept)).toBe(false);
    sum(kept).backward(undefined, { retainGraph: true });
    expect(savedValuesFreed(kept)).toBe(false);
    sum(kept).backward();
    expect(savedValuesFreed(kept)).toBe(true);
  });
});
