// Forward mode: jvp against closed forms (numpy, test/fixtures/jvp_closed_forms.json, written by
// scripts/fixtures/jvp_closed_forms.py), nesting without perturbation confusion, grad over jvp, customOp's
// jvp and reference, linearize and jacobian, and the errors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  add,
  concat,
  customOp,
  DTypeError,
  div,
  exp,
  gather,
  grad,
  hvp,
  jacobian,
  jvp,
  linearize,
  logSumExp,
  matmul,
  mean,
  mul,
  pow,
  reshape,
  ShapeError,
  sigmoid,
  slice,
  split,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
} from '../src/index.js';
import { expectClose, F64 } from './close.js';

interface Entry {
  shape: number[];
  values: number[];
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/jvp_closed_forms.json', import.meta.url), 'utf8'),
) as Record<string, Record<string, Entry>>;
const load = (e: Entry): Tensor => tensor(e.values, { dtype: 'float64', shape: e.shape });
const f64 = (values: number[], shape?: number[]) => tensor(values, { dtype: 'float64', shape });

/** J·v and d²/dt² f(x + t·v), the second as jvp of jvp along the same direction. */
function directional(f: (...xs: Tensor[]) => Tensor, xs: Tensor[], vs: Tensor[]) {
  const [out, first] = jvp(f, xs, vs);
  const [, second] = jvp((...ys: Tensor[]) => jvp(f, ys, vs)[1], xs, vs);
  return { out, first, second };
}

describe('jvp against closed forms', () => {
  const unary: [string, (x: Tensor) => Tensor][] = [
    ['tanh', tanh],
    ['sigmoid', sigmoid],
    ['logSumExp', (x) => logSumExp(x, { axis: 1 })],
  ];
  for (const [name, f] of unary) {
    it(`${name}: the value, J·v and the second derivative along v`, () => {
      const c = fixture[name]!;
      const { out, first, second } = directional(f, [load(c.x!)], [load(c.v!)]);
      expectClose(out, c.out!, F64, 'out');
      expectClose(first, c.first!, F64, 'first');
      expectClose(second, c.second!, { atol: 1e-12, rtol: 1e-10 }, 'second');
    });
  }

  it('a matmul chain A·B·C along (dA, dB, dC), to second order', () => {
    const c = fixture.matmulChain!;
    const chain = (a: Tensor, b: Tensor, cc: Tensor) => matmul(matmul(a, b), cc);
    const { out, first, second } = directional(
      chain,
      [load(c.a!), load(c.b!), load(c.c!)],
      [load(c.da!), load(c.db!), load(c.dc!)],
    );
    expectClose(out, c.out!, F64, 'out');
    expectClose(first, c.first!, F64, 'first');
    expectClose(second, c.second!, F64, 'second');
  });
});

describe('nested jvp', () => {
  it('keeps the levels apart: d/dx (x · d/dy (x·y)) = 2x, not the 3x or x of a confused perturbation', () => {
    const x = f64([1.5, -2]);
    const y = f64([0.25, 4]);
    const ones = f64([1, 1]);
    const inner = (x: Tensor) => jvp((y: Tensor) => mul(x, y), [y], [ones])[1];
    const [, d] = jvp((x: Tensor) => mul(x, inner(x)), [x], [ones]);
    expect(Array.from(d.data)).toEqual([3, -4]);
  });

  it('third derivative of exp by three nested jvps', () => {
    const x = f64([0.3]);
    const one = f64([1]);
    const d1 = (x: Tensor) => jvp(exp, [x], [one])[1];
    const d2 = (x: Tensor) => jvp(d1, [x], [one])[1];
    const [, d3] = jvp(d2, [x], [one]);
    expect(d3.item()).toBeCloseTo(Math.exp(0.3), 14);
  });
});

describe('grad and jvp compose (reverse over forward)', () => {
  it('grad of ⟨∇f, v⟩ by jvp is H·v, against central differences of the gradient', () => {
    const w = f64([0.5, -1, 2, 0.25, 1.5, -0.75], [2, 3]);
    const f = (x: Tensor) => sum(tanh(matmul(w, x)));
    const x = f64([0.2, -0.4, 0.9]);
    const v = f64([1, 0.5, -2]);
    const hv = grad((x: Tensor) => jvp(f, [x], [v])[1])(x);
    const eps = 1e-6;
    const shifted = (s: number) =>
      grad(f)(
        f64(
          Array.from(x.data, (xi, i) => xi + s * v.data[i]!),
          [3],
        ),
      );
    const up = shifted(eps);
    const down = shifted(-eps);
    const numeric = Array.from(up.data, (u, i) => (u - down.data[i]!) / (2 * eps));
    expectClose(hv, { shape: [3], values: numeric }, { atol: 1e-8, rtol: 1e-6 });
  });

  it('a jvp leaves no tangent behind: the same tensors under grad afterwards give the plain gradient', () => {
    const x = f64([0.1, 0.2]);
    jvp(tanh, [x], [f64([1, 1])]);
    const g = grad((x: Tensor) => sum(tanh(x)))(x);
    expectClose(g, { shape: [2], values: [0.1, 0.2].map((v) => 1 - Math.tanh(v) ** 2) }, F64);
  });
});

describe('jvp of grad (forward over reverse)', () => {
  // A loss through many ops' vjps: matmul, tanh, sigmoid, logSumExp, gather and slice (scatter/take),
  // transpose, concat, mean, pow, div.
  const w = f64([0.5, -1, 2, 0.25, 1.5, -0.75, 0.3, 0.9, -0.4, 1.1, -0.6, 0.2], [4, 3]);
  const index = tensor([[2, 0, 1]], { dtype: 'float64' });
  const f = (x: Tensor) => {
    const h = tanh(matmul(w, x)); // [4, 3]
    const s = sigmoid(transpose(h)); // [3, 4]
    const picked = gather(s, 1, reshape(index, [3, 1])); // [3, 1]
    const both = concat([slice(h, [1], [3]), pow(transpose(picked), 2)], 0); // [3, 3]
    return add(mean(logSumExp(both, { axis: 1 })), sum(div(both, 3)));
  };
  const x = f64([0.2, -0.4, 0.9, 0.1, 0.5, -0.3, -0.7, 0.8, 0.05], [3, 3]);
  const v = f64([1, 0.5, -2, 0.3, -0.1, 0.7, 0.2, -0.9, 0.4], [3, 3]);

  it('gives H·v: equal to hvp (reverse over reverse) and to central differences of the gradient', () => {
    const [g, hv] = jvp(grad(f), [x], [v]);
    expectClose(g, { shape: [3, 3], values: Array.from(grad(f)(x).data) }, F64, 'gradient');
    const [byReverse] = hvp(f, [x], [v]);
    expectClose(hv, { shape: [3, 3], values: Array.from(byReverse!.data) }, { atol: 1e-12, rtol: 1e-10 });
    const eps = 1e-6;
    const at = (s: number) =>
      grad(f)(
        f64(
          Array.from(x.data, (xi, i) => xi + s * v.data[i]!),
          [3, 3],
        ),
      );
    const [up, down] = [at(eps), at(-eps)];
    const numeric = Array.from(up.data, (u, i) => (u - down.data[i]!) / (2 * eps));
    expectClose(hv, { shape: [3, 3], values: numeric }, { atol: 1e-7, rtol: 1e-6 });
  });

  it('of log-sum-exp is the closed form p⊙v − p·⟨p, v⟩ per row', () => {
    const c = fixture.logSumExp!;
    const [xs, vs] = [load(c.x!), load(c.v!)];
    const [, hv] = jvp(
      grad((x: Tensor) => sum(logSumExp(x, { axis: 1 }))),
      [xs],
      [vs],
    );
    const want = Array.from(xs.data, (_, i) => {
      const row = Math.floor(i / 4);
      const xr = Array.from(xs.data.slice(row * 4, row * 4 + 4));
      const lse = Math.log(xr.reduce((a, b) => a + Math.exp(b), 0));
      const p = xr.map((b) => Math.exp(b - lse));
      const pv = p.reduce((a, pi, k) => a + pi * vs.data[row * 4 + k]!, 0);
      return p[i % 4]! * (vs.data[i]! - pv);
    });
    expectClose(hv, { shape: [3, 4], values: want }, { atol: 1e-14, rtol: 1e-12 });
  });

  it('goes through a customOp by its reference, and names one it cannot differentiate', () => {
    const fused = (extra: object) =>
      customOp<null>({
        name: 'fusedTanh',
        forward: ([x]) => ({ outputs: tanh(x!), residuals: null }),
        backward: ([g], _, [x]) => [mul(g!, sub(1, mul(tanh(x!), tanh(x!))))],
        ...extra,
      });
    const withReference = fused({ reference: (x: Tensor) => tanh(x) });
    const loss = (op: typeof withReference) => (x: Tensor) => sum(mul(op(x) as Tensor, x));
    const [, hv] = jvp(grad(loss(withReference)), [x], [v]);
    const [want] = hvp((x: Tensor) => sum(mul(tanh(x), x)), [x], [v]);
    expectClose(hv, { shape: [3, 3], values: Array.from(want!.data) }, F64);
    expect(() => jvp(grad(loss(fused({}))), [x], [v])).toThrow("'fusedTanh'");
  });
});

describe('jvp API', () => {
  const x = f64([1, 2, 3]);
  const t = f64([1, 0, -1]);

  it('returns [f(x), J·t], with a list for a function of several outputs', () => {
    const [out, dt] = jvp((x: Tensor) => split(mul(x, x), [1, 2]), [x], [t]);
    expect(out.map((o) => Array.from(o.data))).toEqual([[1], [4, 9]]);
    expect(dt.map((o) => Array.from(o.data))).toEqual([[2], [0, -6]]);
  });

  it('gives zeros for an output that does not depend on the primals, and closed-over tensors are constants', () => {
    const c = f64([5, 6, 7]);
    const [, dt] = jvp(() => mul(c, 2), [x], [t]);
    expect(Array.from(dt.data)).toEqual([0, 0, 0]);
    const [, dc] = jvp((y: Tensor) => mul(y, c), [x], [t]);
    expect(Array.from(dc.data)).toEqual([5, 0, -7]);
  });

  it('refuses tangents that do not match the primals, naming which', () => {
    expect(() => jvp(tanh, [x], [f64([1, 2])])).toThrow(ShapeError);
    expect(() => jvp(tanh, [x], [f64([1, 2])])).toThrow('jvp: tangent 0 has shape [2], its primal [3]');
    expect(() => jvp(tanh, [x], [tensor([1, 2, 3])])).toThrow(DTypeError);
    expect(() => jvp(tanh, [x], [])).toThrow('jvp: 1 primal(s) but 0 tangent(s)');
    expect(() => jvp(tanh, [x], [[1, 2, 3] as unknown as Tensor])).toThrow('jvp: tangent 0 is 1,2,3');
    expect(() => jvp(() => 3 as unknown as Tensor, [x], [t])).toThrow('must return a Tensor or an array');
  });

  it('linearize: the output once, and fJvp(t) equal to jvp at the same primals', () => {
    const f = (x: Tensor) => sum(mul(tanh(x), x));
    const [out, fJvp] = linearize(f, [x]);
    expect(out.item()).toBeCloseTo(f(x).item(), 15);
    for (const dir of [t, f64([0.5, 0.5, 2])]) {
      expect(fJvp(dir).item()).toBe(jvp(f, [x], [dir])[1].item());
    }
    expect(() => fJvp(f64([1]))).toThrow('linearize: tangent 0 has shape [1]');
  });
});

describe('customOp under jvp', () => {
  // x³ by hand; d = 3x²·t
  const cube = (x: Tensor) => mul(x, mul(x, x));
  const fused = (extra: object) =>
    customOp<null>({
      name: 'myCube',
      forward: ([x]) => ({ outputs: cube(x!), residuals: null }),
      backward: ([g], _, [x]) => [mul(g!, mul(mul(x!, x!), 3))],
      ...extra,
    });
  const x = f64([0.1, 1.2]);
  const t = f64([2, -1]);
  const want = [2 * 3 * 0.1 ** 2, -3 * 1.2 ** 2];

  it('uses its jvp rule when it has one', () => {
    let calls = 0;
    const op = fused({
      jvp: (inputs: readonly Tensor[], [tx]: readonly (Tensor | null)[]) => {
        calls++;
        return [mul(tx!, mul(mul(inputs[0]!, inputs[0]!), 3))];
      },
    });
    const [, d] = jvp((x: Tensor) => op(x) as Tensor, [x], [t]);
    expect(calls).toBe(1);
    expectClose(d, { shape: [2], values: want }, F64);
  });

  it('goes through its reference when it has no jvp', () => {
    const op = fused({ reference: cube });
    const [, d] = jvp((x: Tensor) => op(x) as Tensor, [x], [t]);
    expectClose(d, { shape: [2], values: want }, F64);
  });

  it('with neither, a jvp through it is an error naming it (and without a tangent it runs as usual)', () => {
    const op = fused({});
    expect(() => jvp((x: Tensor) => op(x) as Tensor, [x], [t])).toThrow(
      "jvp: customOp 'myCube' has neither a jvp rule nor a reference",
    );
    const [out] = jvp((y: Tensor) => add(y, op(x) as Tensor), [x], [t]);
    expect(out.size).toBe(2);
  });
});

describe('jacobian', () => {
  const w = f64([1, 2, 3, 4, 5, 6], [3, 2]);
  const linear = (x: Tensor) => matmul(w, x);
  const x = f64([0.5, -1]);

  it('of x ↦ W·x is W, forward and reverse, shaped out ++ in', () => {
    for (const mode of ['fwd', 'rev'] as const) {
      const j = jacobian(linear, { mode })(x);
      expect(j.shape).toEqual([3, 2]);
      expect(Array.from(j.data)).toEqual(Array.from(w.data));
    }
  });

  it('lists one Jacobian per argnum, each of shape out ++ that input', () => {
    const f = (a: Tensor, b: Tensor) => mul(a, sum(b));
    const a = f64([1, 2]);
    const b = f64([3, 4, 5], [3, 1]);
    for (const mode of ['fwd', 'rev'] as const) {
      const [ja, jb] = jacobian(f, { argnums: [0, 1], mode })(a, b);
      expect(ja!.shape).toEqual([2, 2]);
      expect(Array.from(ja!.data)).toEqual([12, 0, 0, 12]);
      expect(jb!.shape).toEqual([2, 3, 1]);
      expect(Array.from(jb!.data)).toEqual([1, 1, 1, 2, 2, 2]);
    }
  });

  it('picks forward mode when the inputs are fewer than the outputs, reverse otherwise', () => {
    // An op forward mode cannot go through tells which mode ran.
    const opaque = customOp<null>({
      name: 'opaque',
      forward: ([x]) => ({ outputs: mul(x!, 2), residuals: null }),
      backward: ([g]) => [mul(g!, 2)],
    });
    const widen = (x: Tensor) => matmul(w, opaque(x) as Tensor); // 2 inputs, 3 outputs
    const narrow = (x: Tensor) => sum(opaque(x) as Tensor); // 2 inputs, 1 output
    expect(() => jacobian(widen)(x)).toThrow("customOp 'opaque'");
    expect(Array.from(jacobian(narrow)(x).data)).toEqual([2, 2]);
    expect(Array.from(jacobian(widen, { mode: 'rev' })(x).data)).toEqual(Array.from(w.data, (v) => 2 * v));
  });

  it('forward over forward gives the Hessian: of Σ exp(x)·x it is diag((x + 2)·eˣ)', () => {
    const f = (x: Tensor) => sum(mul(exp(x), x));
    const gradient = (x: Tensor) => jacobian(f, { mode: 'fwd' })(x);
    const h = jacobian(gradient, { mode: 'fwd' })(x);
    const d = [0.5, -1].map((v) => (v + 2) * Math.exp(v));
    expectClose(h, { shape: [2, 2], values: [d[0]!, 0, 0, d[1]!] }, F64);
  });

  it('refuses a bad mode, argnums or output', () => {
    expect(() => jacobian(linear, { mode: 'both' as 'fwd' })).toThrow("mode must be 'fwd' or 'rev'");
    expect(() => jacobian(linear, { argnums: 1 })(x)).toThrow('argnums 1 is out of range');
    expect(() => jacobian((x: Tensor) => split(x, 2) as unknown as Tensor, { mode: 'fwd' })(x)).toThrow(
      'must return one Tensor',
    );
  });
});
