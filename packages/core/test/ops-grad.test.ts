// Every vjp of the elementwise, reduction and matmul ops against central differences in float64,
// over broadcast, size-1, zero-size and scalar shapes; float32 grads must agree with float64 ones.
import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  astype,
  clip,
  type DType,
  div,
  exp,
  log,
  logSoftmax,
  logSumExp,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  neg,
  ops,
  pow,
  RandomState,
  relu,
  sigmoid,
  softmax,
  sqrt,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  vjp,
  where,
} from '../src/index.js';
import * as elementwise from '../src/ops/elementwise.js';
import * as matmulOps from '../src/ops/matmul.js';
import * as reduce from '../src/ops/reduce.js';
import { expectClose } from './close.js';
import { numericGrad } from './fd.js';

/** normal: (-2, 2); positive: (0.5, 2) for log, sqrt, pow and divisors; big: logits near 1e4. */
type Domain = 'normal' | 'positive' | 'big';

interface GradCase {
  name: string;
  op: string;
  f: (...xs: Tensor[]) => Tensor;
  shapes: number[][];
  domains?: Domain[];
  atol?: number;
}

const cases: GradCase[] = [];
const addCase = (c: GradCase) => cases.push(c);

const broadcastPairs = [
  [
    [2, 3],
    [2, 3],
  ],
  [
    [2, 1, 3],
    [4, 1],
  ],
  [[3], []],
  [[], [2, 2]],
  [
    [1, 1],
    [3, 1],
  ],
  [
    [0, 3],
    [1, 3],
  ],
];
const binaries = { add, sub, mul, div, maximum, minimum } as const;
for (const [op, fn] of Object.entries(binaries)) {
  for (const shapes of broadcastPairs) {
    addCase({
      name: `${op} ${JSON.stringify(shapes)}`,
      op,
      f: (a, b) => fn(a!, b!),
      shapes,
      domains: ['normal', op === 'div' ? 'positive' : 'normal'],
    });
  }
}
// A number operand is lifted to a scalar of the tensor's dtype and gets no grad.
addCase({ name: 'add x + 2', op: 'add', f: (x) => add(x!, 2), shapes: [[2, 3]] });
addCase({ name: 'sub 2 - x', op: 'sub', f: (x) => sub(2, x!), shapes: [[2, 3]] });
addCase({ name: 'mul 3 · x', op: 'mul', f: (x) => mul(3, x!), shapes: [[2, 3]] });
addCase({ name: 'div 2 / x', op: 'div', f: (x) => div(2, x!), shapes: [[2, 3]], domains: ['positive'] });

const unaries: Record<string, [(x: Tensor) => Tensor, Domain]> = {
  neg: [neg, 'normal'],
  exp: [exp, 'normal'],
  log: [log, 'positive'],
  sqrt: [sqrt, 'positive'],
  tanh: [tanh, 'normal'],
  sigmoid: [sigmoid, 'normal'],
  relu: [relu, 'normal'],
  abs: [abs, 'normal'],
};
for (const [op, [fn, domain]] of Object.entries(unaries)) {
  for (const shape of [[2, 3], [], [0, 3], [1, 4]]) {
    addCase({ name: `${op} [${shape}]`, op, f: (x) => fn(x!), shapes: [shape], domains: [domain] });
  }
}
for (const p of [2, 3, 0.5, -1, 0, 1.5]) {
  addCase({ name: `pow ${p}`, op: 'pow', f: (x) => pow(x!, p), shapes: [[2, 3]], domains: ['positive'] });
}
addCase({ name: 'pow 2 of negatives', op: 'pow', f: (x) => pow(x!, 2), shapes: [[4]] });
addCase({ name: 'clip [-0.5, 0.5]', op: 'clip', f: (x) => clip(x!, -0.5, 0.5), shapes: [[3, 4]] });
addCase({ name: 'clip [-10, 10]', op: 'clip', f: (x) => clip(x!, -10, 10), shapes: [[3, 4]] });

const cond = (dtype: DType) => tensor([1, 0, 1], { dtype });
addCase({
  name: 'where cond [3], a [2,3], b [2,1]',
  op: 'where',
  f: (a, b) => where(cond(a!.dtype), a!, b!),
  shapes: [
    [2, 3],
    [2, 1],
  ],
});
// Central differences cannot see through float32 rounding; the cross-dtype grad is tested in errors.test.ts.
addCase({
  name: 'astype to its own dtype',
  op: 'astype',
  f: (x) => mul(astype(x!, x!.dtype), x!),
  shapes: [[2, 3]],
});

const matmulPairs = [
  [
    [3, 4],
    [4, 2],
  ],
  [
    [2, 3, 4],
    [4, 5],
  ],
  [
    [3, 4],
    [2, 4, 5],
  ],
  [
    [2, 1, 3, 4],
    [3, 4, 2],
  ],
  [[4], [4, 2]],
  [[3, 4], [4]],
  [[4], [4]],
  [[2, 3, 4], [4]],
  [[4], [2, 4, 3]],
  [
    [0, 3],
    [3, 2],
  ],
  [
    [3, 0],
    [0, 2],
  ],
  [
    [1, 4],
    [4, 1],
  ],
];
for (const shapes of matmulPairs) {
  addCase({ name: `matmul ${JSON.stringify(shapes)}`, op: 'matmul', f: (a, b) => matmul(a!, b!), shapes });
}

const reductions = { sum, mean, max, min, logSumExp } as const;
const reducePlans: [number[], { axis?: number | number[]; keepDims?: boolean }][] = [
  [[2, 3, 4], {}],
  [[2, 3, 4], { axis: 0 }],
  [[2, 3, 4], { axis: -1 }],
  [[2, 3, 4], { axis: [0, 2] }],
  [[2, 3, 4], { axis: [-1, 0], keepDims: true }],
  [[3, 1], { axis: 1 }],
  [[], {}],
  [[0, 3], { axis: 1 }],
];
for (const [op, fn] of Object.entries(reductions)) {
  for (const [shape, options] of reducePlans) {
    addCase({
      name: `${op} [${shape}] ${JSON.stringify(options)}`,
      op,
      f: (x) => fn(x!, options),
      shapes: [shape],
    });
  }
}
addCase({ name: 'sum [0,3] over axis 0', op: 'sum', f: (x) => sum(x!, { axis: 0 }), shapes: [[0, 3]] });
addCase({ name: 'mean [0,3] over axis 1', op: 'mean', f: (x) => mean(x!, { axis: 1 }), shapes: [[0, 3]] });

for (const [op, fn] of Object.entries({ softmax, logSoftmax })) {
  for (const [shape, axis] of [
    [[2, 5], -1],
    [[2, 5], 0],
    [[3, 2, 4], 1],
    [[4], -1],
    [[2, 1], -1],
  ] as [number[], number][]) {
    addCase({ name: `${op} [${shape}] axis ${axis}`, op, f: (x) => fn(x!, axis), shapes: [shape] });
  }
}
// Logits near 1e4: the shifted forms keep values and grads finite (and fd's roundoff is ~1e-6 there).
for (const [op, f] of Object.entries({
  logSumExp: (x: Tensor) => logSumExp(x, { axis: -1 }),
  softmax: (x: Tensor) => softmax(x),
  logSoftmax: (x: Tensor) => logSoftmax(x),
})) {
  addCase({
    name: `${op} near 1e4`,
    op,
    f: (x) => f(x!),
    shapes: [[2, 4]],
    domains: ['big'],
    atol: 2e-5,
  });
}

function draw(rs: RandomState, shape: number[], domain: Domain): Tensor {
  if (domain === 'positive') return rs.uniform(0.5, 2, shape);
  if (domain === 'big') return add(rs.uniform(-3, 3, shape), 1e4);
  return rs.uniform(-2, 2, shape);
}

const cast = (t: Tensor, dtype: DType): Tensor => (t.dtype === dtype ? t : astype(t, dtype));

describe('op registry coverage', () => {
  it('has a finite-difference case for every elementwise, reduction and matmul op', () => {
    const owned = new Set<unknown>([
      ...Object.values(elementwise),
      ...Object.values(reduce),
      ...Object.values(matmulOps),
    ]);
    const names = Object.entries(ops)
      .filter(([, fn]) => owned.has(fn))
      .map(([name]) => name);
    const covered = new Set(cases.map((c) => c.op));
    expect(names.filter((n) => !covered.has(n))).toEqual([]);
  });
});

describe('vjp against central differences (float64)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const rs = new RandomState(7);
    const inputs = c.shapes.map((s, i) => draw(rs, s, c.domains?.[i] ?? 'normal'));
    const [out, pullback] = vjp(c.f, ...inputs);
    const seed = rs.uniform(-1, 1, [...out.shape]);
    const analytic = pullback(seed);
    const numeric = numericGrad(c.f, inputs, seed);
    analytic.forEach((g, i) => {
      expect(g.dtype).toBe('float64');
      expect(Array.from(g.data).every(Number.isFinite), `grad ${i} finite`).toBe(true);
      expectClose(
        g,
        { shape: numeric[i]!.shape, values: numeric[i]!.data },
        { atol: c.atol ?? 1e-6, rtol: 1e-5 },
        `grad ${i}`,
      );
    });
  });
});

describe('float32 grads agree with float64 grads', () => {
  it.each(cases.filter((c) => !c.domains?.includes('big')).map((c) => [c.name, c] as const))('%s', (_, c) => {
    const rs = new RandomState(11);
    const inputs = c.shapes.map((s, i) => cast(draw(rs, s, c.domains?.[i] ?? 'normal'), 'float32'));
    const [out, pullback] = vjp(c.f, ...inputs);
    expect(out.dtype).toBe('float32');
    const seed = cast(rs.uniform(-1, 1, [...out.shape]), 'float32');
    const grads32 = pullback(seed);
    const [, pullback64] = vjp(c.f, ...inputs.map((t) => cast(t, 'float64')));
    const grads64 = pullback64(cast(seed, 'float64'));
    grads32.forEach((g, i) => {
      expect(g.dtype).toBe('float32');
      expectClose(
        g,
        { shape: grads64[i]!.shape, values: grads64[i]!.data },
        { atol: 1e-5, rtol: 1e-4 },
        `grad ${i}`,
      );
    });
  });
});

describe('ties and kinks (PyTorch conventions, not derivatives)', () => {
  const grads = (f: (...xs: Tensor[]) => Tensor, ...xs: Tensor[]) => {
    const [out, pullback] = vjp(f, ...xs);
    return pullback(tensor(new Float64Array(out.size).fill(1), { shape: [...out.shape] })).map((g) =>
      Array.from(g.data),
    );
  };
  const t = (v: number[]) => tensor(v, { dtype: 'float64' });

  it('maximum and minimum split a tie evenly', () => {
    expect(grads((a, b) => maximum(a!, b!), t([1, 2, 3]), t([1, 0, 4]))).toEqual([
      [0.5, 1, 0],
      [0.5, 0, 1],
    ]);
    expect(grads((a, b) => minimum(a!, b!), t([1, 2, 3]), t([1, 0, 4]))).toEqual([
      [0.5, 0, 1],
      [0.5, 1, 0],
    ]);
  });

  it('max and min keep the first of tied values, as numpy’s maximum.reduce (only ±0 can tell)', () => {
    const signs = (x: Tensor) => Array.from(x.data, (v) => Object.is(v, -0));
    expect(signs(max(t([-0, 0])))).toEqual([true]);
    expect(signs(max(t([0, -0])))).toEqual([false]);
    expect(signs(min(t([-0, 0])))).toEqual([true]);
    expect(signs(min(t([0, -0])))).toEqual([false]);
  });

  it('max and min share the grad among the elements that tie for the extreme', () => {
    expect(grads((x) => max(x!), t([3, 1, 3, 2]))).toEqual([[0.5, 0, 0.5, 0]]);
    expect(
      grads(
        (x) => min(x!, { axis: 1 }),
        tensor(
          [
            [1, 1, 2],
            [0, 5, 0],
          ],
          { dtype: 'float64' },
        ),
      ),
    ).toEqual([[0.5, 0.5, 0, 0.5, 0, 0.5]]);
  });

  it('relu and abs have zero grad at 0; clip passes the grad on its bounds', () => {
    expect(grads((x) => relu(x!), t([-1, 0, 2]))).toEqual([[0, 0, 1]]);
    expect(grads((x) => abs(x!), t([-1, 0, 2]))).toEqual([[-1, 0, 1]]);
    expect(grads((x) => clip(x!, -1, 1), t([-2, -1, 0, 1, 2]))).toEqual([[0, 1, 1, 1, 0]]);
  });

  it('relu and clip give x itself where it is in range (NaN and -0 too, as torch on CPU); clip with min = max pins', () => {
    // torch.relu is clamp_min(x, 0), which keeps x unless x < 0: relu(-0) = -0 and relu(NaN) = NaN.
    const r = relu(t([-0, 0, Number.NaN, -3, 2])).data;
    expect(Array.from(r)).toEqual([-0, 0, Number.NaN, 0, 2]);
    expect([Object.is(r[0], -0), Object.is(r[1], 0), Object.is(r[3], 0)]).toEqual([true, true, true]);
    // clamp(-0, min = 0) is -0 too: a value on a bound is x itself, not the bound.
    expect(Object.is(clip(t([-0]), 0, 1).data[0], -0)).toBe(true);
    // min = max is a valid interval of one point: every value is pinned, and the grad passes at it alone.
    expect(Array.from(clip(t([0, 1, 2]), 1, 1).data)).toEqual([1, 1, 1]);
    expect(grads((x) => clip(x!, 1, 1), t([0, 1, 2]))).toEqual([[0, 1, 0]]);
  });

  it('pow at 0 and at negatives: torch.pow’s grad, g·p·x^(p-1), except exactly 0 for p = 0', () => {
    // torch's pow_backward returns zeros for p = 0 (so d x⁰ at x = 0 is 0, not 0·0⁻¹ = NaN); otherwise
    // p·x^(p-1) in IEEE arithmetic: 1 for p = 1 at 0, +inf for p = 0.5 at 0 (−inf for p = −1), NaN where
    // a non-integer power of a negative is NaN (as the forward is), 0 for p = 1.5 at 0. For p = 0 the
    // output grad is multiplied by 0, so a non-finite g still gives NaN (JAX's choice; torch's zeros_like
    // would hide it).
    const table: [p: number, x: number[], value: number[], grad: number[]][] = [
      [0, [0, -2, 3, -0.5], [1, 1, 1, 1], [0, 0, 0, 0]],
      [1, [0, -2, 3], [0, -2, 3], [1, 1, 1]],
      [2, [0, -2, 3], [0, 4, 9], [0, -4, 6]],
      [3, [0, -2], [0, -8], [0, 12]],
      [0.5, [0, -1, 4], [0, Number.NaN, 2], [Infinity, Number.NaN, 0.25]],
      [1.5, [0, -1, 4], [0, Number.NaN, 8], [0, Number.NaN, 3]],
      [-1, [0, -2, 4], [Infinity, -0.5, 0.25], [-Infinity, -0.25, -1 / 16]],
    ];
    for (const [p, x, value, grad] of table) {
      expect(Array.from(pow(t(x), p).data), `pow(x, ${p}) at ${x}`).toEqual(value);
      expect(grads((v) => pow(v!, p), t(x))[0], `d pow(x, ${p}) at ${x}`).toEqual(grad);
    }
  });

  it('where sends no grad to the condition and routes the rest by it', () => {
    const c = t([1, 0, 1]);
    const [out, pullback] = vjp((a, b) => where(c, a!, b!), t([1, 2, 3]), t([4, 5, 6]));
    expect(Array.from(out.data)).toEqual([1, 5, 3]);
    expect(pullback(t([10, 20, 30])).map((g) => Array.from(g.data))).toEqual([
      [10, 0, 30],
      [0, 20, 0],
    ]);
  });
});
