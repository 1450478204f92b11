// The fused classifier-head loss linearCrossEntropy: its hand-written backward against the tape of its
// reference (crossEntropy of linear) and finite differences (checkOverride); its values and grads against
// numpy (fixtures/linear_cross_entropy.json); the same numbers as the two ops it fuses, on the wasm kernels
// too; a second backward; its workspace reused, never shared by two live graphs; and its refusals.
import {
  astype,
  DTypeError,
  grad,
  mul,
  noGrad,
  RandomState,
  ShapeError,
  type Tensor,
  tensor,
  valueAndGrad,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { checkOverride } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { crossEntropy, linear, linearCrossEntropy, linearCrossEntropyOps } from '../src/index.js';
import { expectClose, fixture } from './assertClose.js';

interface Case {
  x: number[][];
  weight: number[][];
  bias: number[];
  targets: number[];
  mean: number;
  sum: number;
  dx_mean: number[][];
  dweight_mean: number[][];
  dbias_mean: number[];
}
const cases = fixture<Record<'float64' | 'float32', Case>>('linear_cross_entropy.json');

/** x [N, in], weight [C, in], N class indices and bias [C] (sizes 1..4, float64 on a 1e-3 grid). */
const headAndTargets = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))
  .chain(([rows, features, classes]) => {
    const of = (shape: number[]) =>
      fc
        .array(fc.integer({ min: -2000, max: 2000 }), {
          minLength: shape.reduce((n, d) => n * d, 1),
          maxLength: shape.reduce((n, d) => n * d, 1),
        })
        .map((v) =>
          tensor(
            v.map((k) => k / 1000),
            { dtype: 'float64', shape },
          ),
        );
    return fc.tuple(
      of([rows, features]),
      of([classes, features]),
      fc
        .array(fc.integer({ min: 0, max: classes - 1 }), { minLength: rows, maxLength: rows })
        .map((t) => tensor(t, { dtype: 'float64' })),
      of([classes]),
    );
  });

type Dtype = 'float32' | 'float64';

/** A head of the given sizes with random values and targets. */
function head(rows: number, features: number, classes: number, dtype: Dtype, seed = 3) {
  const rng = new RandomState(seed);
  const of = (shape: number[], scale: number) =>
    tensor(
      Array.from(rng.randn(...shape).data, (v) => v * scale),
      { dtype, shape },
    );
  return {
    x: of([rows, features], 1),
    weight: of([classes, features], 0.3),
    bias: of([classes], 0.1),
    targets: Array.from(rng.randint(0, classes, [rows]).data),
  };
}

const argnums = { argnums: [0, 1, 2] };

describe('linearCrossEntropy: crossEntropy(linear(x, weight, bias)) as one op', () => {
  const threads = kernels.getThreads();
  afterAll(() => kernels.setThreads(threads));

  for (const reduction of ['mean', 'sum'] as const) {
    it(`checkOverride: backward against the composition's tape and finite differences (${reduction}, float64)`, () => {
      checkOverride(linearCrossEntropyOps[reduction], headAndTargets, {
        names: ['x', 'weight', 'targets', 'bias'],
        nondiff: [2],
        numRuns: 40,
      });
    });
  }

  for (const dtype of ['float64', 'float32'] as const) {
    const c = cases[dtype];
    // float32: logits in the thousands on one row carry x·Wᵀ's own rounding (about 1e-4 there).
    const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 0, rtol: 1e-6 };
    const gradTol = dtype === 'float64' ? { atol: 1e-13, rtol: 1e-10 } : { atol: 1e-5, rtol: 1e-4 };
    it(`matches numpy, mean and sum, value and the grads of x, weight and bias (${dtype})`, () => {
      const [x, weight, bias] = [c.x, c.weight, c.bias].map((v) => tensor(v, { dtype })) as Tensor[];
      expectClose(linearCrossEntropy(x!, weight!, bias!, c.targets), [c.mean], tol);
      const sum = linearCrossEntropy(x!, weight!, bias!, tensor(c.targets), { reduction: 'sum' });
      expectClose(sum, [c.sum], tol);
      const f = (x: Tensor, w: Tensor, b: Tensor) => linearCrossEntropy(x, w, b, c.targets);
      const [dx, dw, db] = grad(f, argnums)(x!, weight!, bias!) as Tensor[];
      expectClose(dx!, c.dx_mean, gradTol);
      expectClose(dw!, c.dweight_mean, gradTol);
      expectClose(db!, c.dbias_mean, gradTol);
      expect([dx!.dtype, dw!.dtype, db!.dtype]).toEqual([dtype, dtype, dtype]);
    });
  }

  /**
   * How far 'mean' may differ from the composition, element by element: the composition scales d logits
   * (each within [-1, 1]) by 1/N before its products and the fused op scales their results, so each sum
   * of k terms differs by the rounding of k + 2 operations on at most Σ|terms|/N: (k + 2)·ε·Σ|terms|/N,
   * with Σ|terms| at most Σ_c |W[c, f]| for dx, Σ_r |x[r, f]| for dW and the rows for db.
   */
  function meanBounds(x: Tensor, weight: Tensor, dtype: Dtype): number[][] {
    const [rows, features] = x.shape as [number, number];
    const classes = weight.shape[0]!;
    const eps = dtype === 'float32' ? 2 ** -24 : 2 ** -53;
    const columnSums = (t: Tensor, n: number) =>
      Array.from({ length: features }, (_, f) => {
        let total = 0;
        for (let r = 0; r < n; r++) total += Math.abs(t.data[r * features + f]!);
        return total;
      });
    const [wSums, xSums] = [columnSums(weight, classes), columnSums(x, rows)];
    const bound = (k: number, sum: number) => ((k + 2) * eps * sum) / Math.max(rows, 1);
    return [
      Array.from({ length: rows * features }, (_, i) => bound(classes, wSums[i % features]!)),
      Array.from({ length: classes * features }, (_, i) => bound(rows, xSums[i % features]!)),
      Array.from({ length: classes }, () => bound(rows, rows)),
    ];
  }

  // The fused op runs the same kernels on the same values as the two ops: 'sum' under g = 1 gives their
  // numbers to the bit ('mean' scales the results rather than d logits: within meanBounds).
  function expectComposition(rows: number, features: number, classes: number, dtype: Dtype, seed: number) {
    const { x, weight, bias, targets } = head(rows, features, classes, dtype, seed);
    const bounds = meanBounds(x, weight, dtype);
    for (const reduction of ['sum', 'mean'] as const) {
      const fused = valueAndGrad(
        (x: Tensor, w: Tensor, b: Tensor) => linearCrossEntropy(x, w, b, targets, { reduction }),
        argnums,
      )(x, weight, bias) as [Tensor, Tensor[]];
      const composed = valueAndGrad(
        (x: Tensor, w: Tensor, b: Tensor) => crossEntropy(linear(x, w, b), targets, { reduction }),
        argnums,
      )(x, weight, bias) as [Tensor, Tensor[]];
      expect(fused[0].item()).toBe(composed[0].item());
      for (let i = 0; i < 3; i++) {
        if (reduction === 'sum') {
          expect(Array.from(fused[1][i]!.data)).toEqual(Array.from(composed[1][i]!.data));
        } else {
          const [got, want] = [fused[1][i]!.data, composed[1][i]!.data];
          for (let j = 0; j < want.length; j++) {
            const diff = Math.abs(got[j]! - want[j]!);
            if (!(diff <= bounds[i]![j]!)) {
              throw new Error(`grad ${i}[${j}]: ${got[j]} against ${want[j]}, beyond ${bounds[i]![j]}`);
            }
          }
        }
      }
    }
  }

  // Large enough for the wasm gemms and softmax rows on two threads, where they exist.
  for (const dtype of ['float32', 'float64'] as const) {
    it(`equals linear then crossEntropy: 400×64 → 48 classes on two threads (${dtype})`, async () => {
      kernels.setThreads(2);
      await kernels.threadsReady();
      expectComposition(400, 64, 48, dtype, 3);
    });
  }

  it('equals linear then crossEntropy for any sizes, JS and wasm kernels (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom<Dtype>('float32', 'float64'),
        fc.integer({ min: 0, max: 1000 }),
        (rows, features, classes, dtype, seed) => expectComposition(rows, features, classes, dtype, seed),
      ),
      { numRuns: 60 },
    );
  });

  it('without a bias: the composition without one, and no bias grad', () => {
    const { x, weight, targets } = head(5, 3, 4, 'float64');
    const [value, [dx, dw]] = valueAndGrad(
      (x: Tensor, w: Tensor) => linearCrossEntropy(x, w, null, targets),
      { argnums: [0, 1] },
    )(x, weight) as [Tensor, Tensor[]];
    const [expected, [ex, ew]] = valueAndGrad((x: Tensor, w: Tensor) => crossEntropy(linear(x, w), targets), {
      argnums: [0, 1],
    })(x, weight) as [Tensor, Tensor[]];
    expect(value.item()).toBeCloseTo(expected.item(), 14);
    expectClose(dx!, [Array.from(ex!.data)], { atol: 1e-15, rtol: 1e-12 });
    expectClose(dw!, [Array.from(ew!.data)], { atol: 1e-15, rtol: 1e-12 });
  });

  it('a second backward (retainGraph) gives the first grads again; nothing recorded gives the same value', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const { x, weight, bias, targets } = head(7, 4, 5, dtype);
      for (const t of [x, weight, bias]) t.requiresGrad = true;
      // g = 3 reaches the op, so each backward scales its results
      const loss = mul(linearCrossEntropy(x, weight, bias, targets), tensor(3, { dtype }));
      loss.backward(undefined, { retainGraph: true });
      const first = [x, weight, bias].map((t) => Array.from(t.grad!.data));
      for (const t of [x, weight, bias]) t.grad = null;
      loss.backward();
      expect([x, weight, bias].map((t) => Array.from(t.grad!.data))).toEqual(first);
      const value = linearCrossEntropy(x, weight, bias, targets).item();
      expect(noGrad(() => linearCrossEntropy(x, weight, bias, targets)).item()).toBe(value);
    }
  });

  it('two graphs alive at once keep their own saved values; a later iteration reuses them', () => {
    const a = head(6, 4, 3, 'float32', 1);
    const b = head(6, 4, 3, 'float32', 2);
    const f = (x: Tensor, w: Tensor, bias: Tensor, targets: number[]) => {
      for (const t of [x, w, bias]) t.requiresGrad = true;
      return linearCrossEntropy(x, w, bias, targets);
    };
    const alone = (h: typeof a) =>
      grad((x: Tensor) => linearCrossEntropy(x, h.weight, h.bias, h.targets))(h.x).data.slice();
    const [expectA, expectB] = [alone(a), alone(b)];
    // Both forwards before either backward: the second must not take the first's buffers.
    const lossA = f(a.x, a.weight, a.bias, a.targets);
    const lossB = f(b.x, b.weight, b.bias, b.targets);
    lossA.backward();
    lossB.backward();
    expect(Array.from(a.x.grad!.data)).toEqual(Array.from(expectA));
    expect(Array.from(b.x.grad!.data)).toEqual(Array.from(expectB));
  });

  it('targets get no grad; the mean over no rows is NaN, as crossEntropy', () => {
    const { x, weight, bias, targets } = head(3, 2, 4, 'float64');
    const t = tensor(targets, { dtype: 'float64', requiresGrad: true });
    x.requiresGrad = true;
    linearCrossEntropy(x, weight, bias, t).backward();
    expect(t.grad).toBeNull();
    const empty = tensor([], { dtype: 'float64', shape: [0, 2] });
    expect(linearCrossEntropy(empty, weight, bias, []).item()).toBeNaN();
    expect(crossEntropy(linear(empty, weight, bias), []).item()).toBeNaN();
    expect(linearCrossEntropy(empty, weight, bias, [], { reduction: 'sum' }).item()).toBe(0);
  });

  it('refuses bad input, naming the op and what is wrong', () => {
    const { x, weight, bias } = head(2, 3, 4, 'float64');
    const cases: [() => unknown, new (...args: never[]) => Error, RegExp][] = [
      [
        () => linearCrossEntropy(tensor([1, 2, 3], { dtype: 'float64' }), weight, bias, [0]),
        ShapeError,
        /^linearCrossEntropy: x must be \[N, in\], got \[3\]/,
      ],
      [
        () => linearCrossEntropy(x, tensor([[1, 2]], { dtype: 'float64' }), null, [0, 0]),
        ShapeError,
        /^linearCrossEntropy: x \[2,3\] does not fit weight \[1,2\] = \[classes, in\]/,
      ],
      [
        () => linearCrossEntropy(x, weight, tensor([1, 2], { dtype: 'float64' }), [0, 0]),
        ShapeError,
        /^linearCrossEntropy: bias \[2\] does not fit weight \[4,3\]/,
      ],
      [
        () => linearCrossEntropy(x, astype(weight, 'float32'), bias, [0, 0]),
        DTypeError,
        /^linearCrossEntropy: dtypes differ: x float64, weight float32, bias float64/,
      ],
      [
        () => linearCrossEntropy(x, weight, bias, [0]),
        ShapeError,
        /^linearCrossEntropy: targets \[1\] do not match x \[2,3\] \(want \[2\]\)/,
      ],
      [
        () => linearCrossEntropy(x, weight, bias, [0, 4]),
        RangeError,
        /^linearCrossEntropy: target 4 at row 1 is not a class index in \[0, 4\)/,
      ],
      [
        () => linearCrossEntropy(x, weight, bias, [0, 1], { reduction: 'max' as 'sum' }),
        RangeError,
        /^linearCrossEntropy: reduction must be 'mean', 'sum' or 'none', got max/,
      ],
      [
        () => linearCrossEntropy(null as never, weight, bias, [0, 1]),
        TypeError,
        /^linearCrossEntropy: x and weight must be Tensors/,
      ],
      [
        () => linearCrossEntropy(x, weight, [1, 2, 3, 4] as never, [0, 1]),
        TypeError,
        /^linearCrossEntropy: bias must be a Tensor or null/,
      ],
    ];
    for (const [call, type, message] of cases) {
      expect(call).toThrow(type);
      expect(call).toThrow(message);
    }
  });
});
