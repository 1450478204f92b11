// Recording mode and the grad API (issue 19): grad, valueAndGrad and vjp under noGrad and inside a
// customOp's backward give true grads (checked against closed forms), leave the outer pass intact, and
// restore the mode; backward() under noGrad; leaf grads that are plain values.
import { describe, expect, it } from 'vitest';
import {
  add,
  customOp,
  grad,
  isGradEnabled,
  mul,
  noGrad,
  sum,
  type Tensor,
  tanh,
  tensor,
  valueAndGrad,
  vjp,
} from '../src/index.js';
import { backwardScratch } from '../src/kernels.js';
import { expectClose, F64 } from './close.js';

const f64 = (values: number[], requiresGrad = false) => tensor(values, { dtype: 'float64', requiresGrad });
const xs = [0.3, -1.2, 2.5, 0];
// f(x) = Σ tanh(x)·x, so df/dx = tanh(x) + x·(1 - tanh²(x)).
const f = (x: Tensor) => sum(mul(tanh(x), x));
const fValue = xs.reduce((s, v) => s + Math.tanh(v) * v, 0);
const dfdx = xs.map((v) => Math.tanh(v) + v * (1 - Math.tanh(v) ** 2));

describe('grad, valueAndGrad and vjp record f whatever the mode', () => {
  it('noGrad(() => grad(f)(x)) is the true gradient, not zeros', () => {
    const g = noGrad(() => grad(f)(f64(xs)));
    expectClose(g, { shape: [4], values: dfdx }, F64);
    expect(isGradEnabled()).toBe(true);
  });

  it('valueAndGrad and vjp under noGrad: the value and the grad', () => {
    const [value, g] = noGrad(() => valueAndGrad(f)(f64(xs)));
    expect(value.item()).toBeCloseTo(fValue, 12);
    expectClose(g, { shape: [4], values: dfdx }, F64);

    // vjp of t ↦ tanh(t)·t with cotangent c: c·(tanh(x) + x(1 - tanh²x)); its vjpFn also works later,
    // outside the noGrad it was traced in, and under another.
    const ct = [1, -2, 0.5, 3];
    const [out, pull] = noGrad(() => vjp((t) => mul(tanh(t), t), f64(xs)));
    expectClose(out, { shape: [4], values: xs.map((v) => Math.tanh(v) * v) }, F64);
    const want = dfdx.map((d, i) => d * ct[i]!);
    expectClose(pull(f64(ct))[0]!, { shape: [4], values: want }, F64);
    expectClose(noGrad(() => pull(f64(ct)))[0]!, { shape: [4], values: want }, F64);
  });

  it('f runs with recording on; the caller’s mode is restored after, also when f throws', () => {
    const seen: boolean[] = [];
    noGrad(() =>
      grad((x: Tensor) => {
        seen.push(isGradEnabled());
        return f(x);
      })(f64(xs)),
    );
    expect(seen).toEqual([true]);
    noGrad(() => {
      expect(() =>
        grad((_: Tensor): Tensor => {
          throw new Error('f failed');
        })(f64(xs)),
      ).toThrow('f failed');
      expect(isGradEnabled()).toBe(false);
      // Not a Tensor from f: refused, and the mode is back too.
      expect(() => grad((() => 3) as unknown as (t: Tensor) => Tensor)(f64(xs))).toThrow(
        /^grad: the function must return a Tensor/,
      );
      expect(isGradEnabled()).toBe(false);
    });
    expect(isGradEnabled()).toBe(true);
  });

  it('a tensor f closes over is a constant: its graph is neither walked nor freed', () => {
    const x = f64([1, 2, 3], true);
    const y = mul(x, f64([2, 2, 2])); // recorded, outside f
    const z = f64([0.5, -1, 4]);
    // d/dz Σ z·y = y
    expectClose(grad((t: Tensor) => sum(mul(t, y)))(z), { shape: [3], values: [2, 4, 6] }, F64);
    expect(x.grad).toBeNull();
    sum(y).backward(); // y's graph is whole
    expectClose(x.grad!, { shape: [3], values: [2, 2, 2] }, F64);
    // Now that backward has freed y's graph, f may still use y (as an input of its ops, or as its very
    // result): a constant is not walked, so nothing reports the freed graph.
    expectClose(grad((t: Tensor) => sum(mul(t, y)))(z), { shape: [3], values: [2, 4, 6] }, F64);
    const total = sum(mul(x, 3));
    total.backward();
    expectClose(grad((_t: Tensor) => total)(z), { shape: [3], values: [0, 0, 0] }, F64);
  });
});

describe('grad inside a customOp backward (a backward pass within a running one)', () => {
  // scaledTanh(x, w) = tanh(x)·w. Its backward gets dx from grad() over a function that closes over w,
  // a tensor of the outer graph: d/dx = g·(1 - tanh²x)·w and d/dw = g·tanh(x).
  const scaledTanh = (how: 'grad' | 'valueAndGrad' | 'vjp') =>
    customOp<null>({
      name: `scaledTanh(${how})`,
      forward: ([x, w]) => ({ outputs: mul(tanh(x!), w!), residuals: null }),
      backward([g], _, [x, w]) {
        const inner = (t: Tensor) => sum(mul(tanh(t), w!));
        let local: Tensor;
        if (how === 'grad') local = grad(inner)(x!);
        else if (how === 'valueAndGrad') local = valueAndGrad(inner)(x!)[1];
        else local = vjp((t) => mul(tanh(t), w!), x!)[1](tensor(new Float64Array(x!.size).fill(1)))[0]!;
        return [mul(g!, local), mul(g!, tanh(x!))];
      },
    });

  for (const how of ['grad', 'valueAndGrad', 'vjp'] as const) {
    it(`${how}: the op's grads and the outer ones match the closed form`, () => {
      const x = f64(xs, true);
      const w0 = f64([0.5, 1.5, -1, 2], true);
      const c = f64([1, -1, 2, 0.25]);
      const w = mul(w0, 2); // on the outer tape, before the op: the inner pass must not free it
      // L = Σ c·tanh(x)·w + Σ x·x
      const loss = add(sum(mul(scaledTanh(how)(x, w) as Tensor, c)), sum(mul(x, x)));
      loss.backward();
      const t = xs.map(Math.tanh);
      const wv = [1, 3, -2, 4];
      const cv = [1, -1, 2, 0.25];
      expectClose(
        x.grad!,
        { shape: [4], values: xs.map((v, i) => cv[i]! * (1 - t[i]! ** 2) * wv[i]! + 2 * v) },
        F64,
        'dL/dx',
      );
      expectClose(w0.grad!, { shape: [4], values: t.map((ti, i) => 2 * cv[i]! * ti) }, F64, 'dL/dw0');
      expect(isGradEnabled()).toBe(true);
    });
  }

  it('the inner pass does not clobber the outer pass’s backward scratch', () => {
    // inner's backward hands on a scratch buffer of 5s; outer's holds one of 7s across the inner pass.
    const inner = customOp<null>({
      name: 'innerScratch',
      forward: ([x]) => ({ outputs: mul(x!, 1), residuals: null }),
      backward: ([g]) => {
        const buffer = backwardScratch('float64', g!.size)!.fill(5);
        return [tensor(buffer, { shape: [...g!.shape] })];
      },
    });
    let held: number[] = [];
    const outer = customOp<null>({
      name: 'outerScratch',
      forward: ([x]) => ({ outputs: mul(x!, 1), residuals: null }),
      backward: ([g], _, [x]) => {
        const mine = backwardScratch('float64', g!.size)!.fill(7);
        const local = grad((t: Tensor) => sum(inner(t) as Tensor))(x!);
        // Ask for more scratch after the inner pass (two, to use up what it handed back): had it
        // handed back the outer pass's buffer too, one of these would be that buffer, and its 7s gone.
        backwardScratch('float64', g!.size)!.fill(9);
        backwardScratch('float64', g!.size)!.fill(9);
        held = Array.from(mine);
        return [mul(g!, local)];
      },
    });
    const x = f64([1, 2, 3, 4], true);
    sum(outer(x) as Tensor).backward();
    expect(held).toEqual([7, 7, 7, 7]);
    expect(Array.from(x.grad!.data)).toEqual([5, 5, 5, 5]);
  });

  it('backward() inside a vjp: on what it computed, a clear error; on the outer graph, a clear error', () => {
    const computes = customOp<null>({
      name: 'computes',
      forward: ([x]) => ({ outputs: mul(x!, 1), residuals: null }),
      backward: ([g], _, [x]) => {
        sum(mul(x!, x!)).backward(); // recording is off in a backward: no graph
        return [g!];
      },
    });
    const x = f64([1, 2], true);
    expect(() => sum(computes(x) as Tensor).backward()).toThrow(
      /^backward: the output does not require grad .*inside a backward pass nothing is recorded: use grad\(f\) there/,
    );
    expect(isGradEnabled()).toBe(true);

    const freesOuter = customOp<null>({
      name: 'freesOuter',
      forward: ([x]) => ({ outputs: mul(x!, 1), residuals: null }),
      backward: ([g], _, [x]) => {
        x!.backward(f64([1, 1])); // walks (and frees) the outer graph the running pass has yet to run
        return [g!];
      },
    });
    const w = f64([1, 2], true);
    const loss = sum(freesOuter(mul(w, 3)) as Tensor);
    expect(() => loss.backward()).toThrow(
      /^backward: the graph through 'mul' was freed during this backward, by a backward run inside a vjp/,
    );
    expect(isGradEnabled()).toBe(true);
  });
});

describe('backward() and the recording mode', () => {
  it('backward() inside noGrad works (it records nothing itself), and leaves the mode off', () => {
    const x = f64(xs, true);
    const loss = f(x);
    noGrad(() => {
      loss.backward();
      expect(isGradEnabled()).toBe(false);
    });
    expectClose(x.grad!, { shape: [4], values: dfdx }, F64);
    expect(isGradEnabled()).toBe(true);
  });

  it('a backward records nothing: vjps run with recording off, and the grads they hand on carry no node', () => {
    // mul's vjp computes g·x with x on the tape: recorded, that grad would reach probe with a node (and
    // .grad stays a plain value either way, as deliver detaches, so only what a vjp receives tells).
    const seen: { recording: boolean; requiresGrad: boolean; node: boolean }[] = [];
    const probe = customOp<null>({
      name: 'probe',
      forward: ([x]) => ({ outputs: mul(x!, 1), residuals: null }),
      backward: ([g]) => {
        seen.push({ recording: isGradEnabled(), requiresGrad: g!.requiresGrad, node: g!.node !== null });
        return [g!];
      },
    });
    const x = f64(xs, true);
    // d/dx Σ probe(x)·x = 2x
    sum(mul(probe(x) as Tensor, x)).backward();
    expect(seen).toEqual([{ recording: false, requiresGrad: false, node: false }]);
    expectClose(x.grad!, { shape: [4], values: xs.map((v) => 2 * v) }, F64);
    expect(isGradEnabled()).toBe(true);
  });

  it('a leaf’s .grad is a plain value: no grad required, no node, even when the seed is on the tape', () => {
    const x = f64(xs, true);
    f(x).backward();
    expect(x.grad!.requiresGrad).toBe(false);
    expect(x.grad!.node).toBeNull();

    // add's vjp hands the seed on as it is; the seed here is itself recorded.
    const s0 = f64([1, 2, 3, 4], true);
    const seed = mul(s0, 1);
    const y = f64([0, 0, 0, 0], true);
    add(y, 1).backward(seed);
    expect(Array.from(y.grad!.data)).toEqual([1, 2, 3, 4]);
    expect(y.grad!.requiresGrad).toBe(false);
    expect(y.grad!.node).toBeNull();
    // The seed straight onto a leaf root.
    const leaf = f64([1, 1, 1, 1], true);
    leaf.backward(seed);
    expect(leaf.grad!.requiresGrad).toBe(false);
    expect(leaf.grad!.node).toBeNull();
    // A seed that is itself a leaf requiring grad (no node): .grad is a copy of it that requires none.
    const other = f64([1, 1, 1, 1], true);
    add(other, 1).backward(s0);
    expect(other.grad).not.toBe(s0);
    expect(other.grad!.requiresGrad).toBe(false);
    expect(Array.from(other.grad!.data)).toEqual([1, 2, 3, 4]);
    // vjp with a cotangent on the tape.
    const [, pull] = vjp((t) => add(t, 1), f64(xs));
    const [back] = pull(seed);
    expect(back!.requiresGrad).toBe(false);
    expect(back!.node).toBeNull();
  });
});
