// Higher order: grad of grad, hessian, hvp and backward({ createGraph }) against Hessians derived by
// hand and evaluated in numpy (fixtures/second_order.json, written by scripts/fixtures/second_order.py),
// graphs where one tensor feeds several ops, nesting semantics (JAX's), and customOp's three paths.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  customOp,
  exp,
  grad,
  hessian,
  hvp,
  logSumExp,
  matmul,
  mul,
  noGrad,
  sigmoid,
  sum,
  type Tensor,
  tanh,
  tensor,
  valueAndGrad,
  vjp,
} from '../src/index.js';
import { backwardScratch } from '../src/kernels.js';
import { expectClose } from './close.js';

type Nested = number | Nested[];
interface Case {
  name: string;
  inputs: Record<string, Nested>;
  hessian: Nested;
  third?: number[];
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/second_order.json', import.meta.url), 'utf8'),
) as {
  cases: Case[];
};
const cases = Object.fromEntries(fixture.cases.map((c) => [c.name, c]));
const input = (c: Case, name: string): Tensor => tensor(c.inputs[name]!, { dtype: 'float64' });
const want = (values: Nested) => {
  const t = tensor(values, { dtype: 'float64' });
  return { shape: t.shape, values: t.data };
};
// Second derivatives through several ops round a little more than one op does.
const TOL = { atol: 1e-12, rtol: 1e-10 };

/** The scalar functions of x whose Hessians the fixture holds (the others' inputs are closed over). */
const functions: Record<string, (c: Case) => (x: Tensor) => Tensor> = {
  tanh: () => (x) => sum(tanh(x)),
  sigmoid: () => (x) => sum(sigmoid(x)),
  logSumExp: () => (x) => logSumExp(x),
  logSumExpRows: () => (x) => sum(logSumExp(x, { axis: 1 })),
  tanhTimesSigmoid: () => (x) => sum(mul(tanh(x), sigmoid(x))),
  matmulChainSquare: (c) => (x) => {
    const y = matmul(matmul(input(c, 'a'), x), input(c, 'b'));
    return sum(mul(y, y));
  },
  twoLayerTanh: (c) => (x) => sum(tanh(matmul(input(c, 'w2'), tanh(matmul(input(c, 'w1'), x))))),
};

/** H·v from the fixture's H (flattened to [n, n]). */
function hessianTimes(h: Tensor, v: Tensor): number[] {
  const n = v.size;
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += h.data[i * n + j]! * v.data[j]!;
    return s;
  });
}

describe('second derivatives of closed forms (numpy)', () => {
  for (const [name, make] of Object.entries(functions)) {
    const c = cases[name]!;
    const f = make(c);
    const x = input(c, 'x');

    it(`${name}: hessian(f)(x)`, () => {
      expectClose(hessian(f)(x), want(c.hessian), TOL, name);
    });

    it(`${name}: hvp(f, [x], [v]) is H·v`, () => {
      const v = tensor(
        Array.from({ length: x.size }, (_, i) => Math.sin(i + 1)),
        { dtype: 'float64', shape: [...x.shape] },
      );
      const [hv] = hvp(f, [x], [v]);
      expectClose(
        hv!,
        { shape: x.shape, values: hessianTimes(tensor(c.hessian, { dtype: 'float64' }), v) },
        TOL,
      );
    });

    it(`${name}: backward({ createGraph }) then backward of ⟨x.grad, v⟩ adds H·v`, () => {
      const leaf = tensor(c.inputs.x!, { dtype: 'float64', requiresGrad: true });
      f(leaf).backward(undefined, { createGraph: true });
      const g = leaf.grad!;
      expect(g.requiresGrad).toBe(true);
      const v = tensor(
        Array.from({ length: x.size }, (_, i) => Math.cos(i)),
        { dtype: 'float64', shape: [...x.shape] },
      );
      leaf.grad = null;
      sum(mul(g, v)).backward();
      const hv = hessianTimes(tensor(c.hessian, { dtype: 'float64' }), v);
      expectClose(leaf.grad!, { shape: x.shape, values: hv }, TOL);
    });
  }

  it('tanh: grad(grad(grad(f))) of sum(tanh) gives the third derivative', () => {
    const c = cases.tanh!;
    const d1 = (x: Tensor) => sum(grad((y: Tensor) => sum(tanh(y)))(x));
    const d2 = (x: Tensor) => sum(grad(d1)(x));
    expectClose(grad(d2)(input(c, 'x')), want(c.third!), TOL);
  });

  it('a cross block: vjp of grad in a (grad of the first argument) along b', () => {
    const c = cases.matvecTanhCross!;
    const a = input(c, 'a');
    const b = input(c, 'b');
    const f = (p: Tensor, q: Tensor) => sum(tanh(matmul(p, q)));
    const [, pull] = vjp((q: Tensor) => grad(f)(a, q), b);
    const rows: number[] = [];
    for (let e = 0; e < a.size; e++) {
      const seed = new Float64Array(a.size);
      seed[e] = 1;
      rows.push(...pull(tensor(seed, { dtype: 'float64', shape: [...a.shape] }))[0]!.data);
    }
    expectClose(tensor(rows, { dtype: 'float64', shape: [2, 3, 3] }), want(c.hessian), TOL);
  });
});

describe('one tensor feeding several ops', () => {
  const x = tensor([0.5, -1.25, 2], { dtype: 'float64' });

  it('x·x·x: the Hessian is diag(6x)', () => {
    const h = hessian((y: Tensor) => sum(mul(mul(y, y), y)))(x);
    expectClose(
      h,
      want([
        [3, 0, 0],
        [0, -7.5, 0],
        [0, 0, 12],
      ]),
      TOL,
    );
  });

  it('y = exp(x) used twice, y·y: d²/dx² e^{2x} = 4e^{2x}', () => {
    const g2 = grad((z: Tensor) =>
      sum(
        grad((y: Tensor) => {
          const e = exp(y);
          return sum(mul(e, e));
        })(z),
      ),
    )(x);
    expectClose(g2, { shape: [3], values: [...x.data].map((v) => 4 * Math.exp(2 * v)) }, TOL);
  });
});

describe('backward({ createGraph })', () => {
  it('keeps the graph, so a second backward runs, and accumulates .grad with a graph', () => {
    const leaf = tensor([0.5, -1], { dtype: 'float64', requiresGrad: true });
    const y = sum(mul(mul(leaf, leaf), leaf));
    y.backward(undefined, { createGraph: true });
    y.backward(undefined, { createGraph: true });
    const g = leaf.grad!; // 2·3x²
    expectClose(g, want([1.5, 6]), TOL);
    leaf.grad = null;
    sum(g).backward(); // d/dx Σ 6x² = 12x
    expectClose(leaf.grad!, want([6, -12]), TOL);
  });

  it('without it, .grad is a plain value and the graph is freed', () => {
    const leaf = tensor([0.5], { dtype: 'float64', requiresGrad: true });
    const y = sum(mul(leaf, leaf));
    y.backward();
    expect(leaf.grad!.requiresGrad).toBe(false);
    expect(() => y.backward()).toThrow(/freed by an earlier backward/);
  });
});

describe('nesting semantics', () => {
  const x = tensor([0.3, -0.2], { dtype: 'float64' });

  it('a tensor closed over by the inner grad is the outer variable (JAX): d/dx Σ ∂/∂y Σ x·y = 1', () => {
    const g = grad((z: Tensor) => sum(grad((y: Tensor) => sum(mul(z, y)))(z)))(x);
    expectClose(g, want([1, 1]), TOL);
  });

  it('valueAndGrad and vjp inside grad hand back differentiable values', () => {
    const f = (y: Tensor) => sum(tanh(mul(y, y)));
    const viaValue = grad((z: Tensor) => valueAndGrad(f)(z)[0])(x);
    const viaVjp = grad((z: Tensor) => vjp(f, z)[0])(x);
    const direct = grad(f)(x);
    expectClose(viaValue, { shape: [2], values: direct.data }, TOL);
    expectClose(viaVjp, { shape: [2], values: direct.data }, TOL);
  });

  it('under noGrad inside an outer grad the inner grad is a constant', () => {
    const g = grad((z: Tensor) =>
      sum(
        mul(
          noGrad(() => grad((y: Tensor) => sum(mul(y, y)))(z)),
          z,
        ),
      ),
    )(x);
    // d/dz Σ c·z with c = 2z held constant: c itself.
    expectClose(g, want([0.6, -0.4]), TOL);
  });

  it('a first-order grad outside any trace carries no graph', () => {
    const g = grad((y: Tensor) => sum(tanh(y)))(tensor([0.1], { dtype: 'float64', requiresGrad: true }));
    expect(g.requiresGrad).toBe(false);
    expect(g.node).toBe(null);
  });
});

describe('customOp at second order', () => {
  // square(x) = x², backward 2·g·x in core ops of the input.
  const squareOp = (options: { differentiable?: boolean; reference?: boolean }) =>
    customOp<null>({
      name: 'square',
      forward: ([v]) => ({ outputs: noGrad(() => mul(v!, v!)), residuals: null }),
      backward: ([g], _, [v]) => [mul(mul(g!, v!), 2)],
      differentiableBackward: options.differentiable,
      reference: options.reference ? (v) => mul(v, v) : undefined,
    });
  const x = tensor([1.5, -0.5], { dtype: 'float64' });
  // d²/dx² Σ tanh(x²) = 2(1-t²) - 8x²t(1-t²), t = tanh(x²)
  const expected = [...x.data].map((v) => {
    const t = Math.tanh(v * v);
    return 2 * (1 - t * t) - 8 * v * v * t * (1 - t * t);
  });
  const secondDerivative = (op: (v: Tensor) => Tensor) =>
    grad((z: Tensor) => sum(grad((y: Tensor) => sum(tanh(op(y))))(z)))(x);

  it('differentiableBackward: the backward itself is recorded', () => {
    const op = squareOp({ differentiable: true });
    expectClose(
      secondDerivative((v) => op(v) as Tensor),
      { shape: [2], values: expected },
      TOL,
    );
  });

  it('otherwise its reference is differentiated', () => {
    let calls = 0;
    const op = customOp<null>({
      name: 'square',
      forward: ([v]) => ({ outputs: noGrad(() => mul(v!, v!)), residuals: null }),
      // Right at first order, but computed off the tape: recorded, it would be a constant, and the
      // second derivative would lose its 2(1-t²) term.
      backward: ([g], _, [v]) => [
        tensor(
          [...g!.data].map((gv, i) => 2 * gv * v!.data[i]!),
          { dtype: 'float64', shape: [...v!.shape] },
        ),
      ],
      reference: (v) => {
        calls++;
        return mul(v, v);
      },
    });
    expectClose(
      secondDerivative((v) => op(v) as Tensor),
      { shape: [2], values: expected },
      TOL,
    );
    expect(calls).toBeGreaterThan(0);
  });

  it('with neither, the first derivative works and the second throws naming the op', () => {
    const op = squareOp({});
    const first = grad((y: Tensor) => sum(tanh(op(y) as Tensor)))(x);
    expect(first.size).toBe(2);
    expect(() => secondDerivative((v) => op(v) as Tensor)).toThrow(
      /square: cannot differentiate its backward/,
    );
  });

  it('a graph-building pass lends no scratch: a backward asking for it gets null', () => {
    const asked: (unknown | null)[] = [];
    const op = customOp<null>({
      name: 'asks',
      forward: ([v]) => ({ outputs: noGrad(() => mul(v!, 1)), residuals: null }),
      backward: ([g]) => {
        asked.push(backwardScratch('float64', 4));
        return [g!];
      },
      differentiableBackward: true,
    });
    const leaf = tensor([1, 2, 3, 4], { dtype: 'float64', requiresGrad: true });
    sum(op(leaf) as Tensor).backward(undefined, { createGraph: true });
    sum(op(leaf) as Tensor).backward();
    expect(asked[0]).toBe(null);
    expect(asked[1]).not.toBe(null);
  });
});
