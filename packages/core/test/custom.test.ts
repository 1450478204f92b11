// customOp: hand-written backwards with explicit residuals, single and multi-output, null grads,
// residuals only while recording, and errors that name the op when a backward is wrong.
import { describe, expect, it } from 'vitest';
import {
  add,
  customOp,
  type DType,
  DTypeError,
  grad,
  mul,
  noGrad,
  pow,
  ShapeError,
  sum,
  type Tensor,
  tensor,
  vjp,
  zeros,
} from '../src/index.js';
import * as kernels from '../src/kernels.js';
import { expectClose } from './close.js';
import { numericGrad } from './fd.js';

const f64 = (values: number[]) => tensor(values, { dtype: 'float64' });
const values = (t: Tensor) => Array.from(t.data);
const mapData = (t: Tensor, f: (v: number) => number) =>
  tensor(kernels.map(t.data, new Float64Array(t.size), f), { dtype: t.dtype, shape: [...t.shape] });

// cube(x) = x³, saving x² for backward. d = g·3x²
const seen: { needsGrad: boolean[] } = { needsGrad: [] };
const cube = customOp<Tensor>({
  name: 'cube',
  forward([x], { needsGrad }) {
    seen.needsGrad.push(needsGrad);
    const square = mapData(x!, (v) => v * v);
    return { outputs: mapData(x!, (v) => v * v * v), residuals: square };
  },
  backward([g], square) {
    return [mul(mul(g!, square), 3)];
  },
  reference: (x) => pow(x!, 3),
});

// Two outputs, (x·y, x + y), and a mask input that gets no grad. d(xy) = (g·y, g·x); d(x+y) = (g, g)
const received: Tensor[][] = [];
const productAndSum = customOp<null>({
  name: 'productAndSum',
  forward([x, y, mask]) {
    const product = mapData(x!, () => 0);
    const total = mapData(x!, () => 0);
    for (let i = 0; i < x!.size; i++) {
      product.data[i] = x!.data[i]! * y!.data[i]! * mask!.data[i]!;
      total.data[i] = x!.data[i]! + y!.data[i]!;
    }
    return { outputs: [product, total], residuals: null };
  },
  backward([gProduct, gTotal], _, [x, y, mask]) {
    received.push([gProduct!, gTotal!]);
    const masked = mul(gProduct!, mask!);
    return [add(mul(masked, y!), gTotal!), add(mul(masked, x!), gTotal!), null];
  },
});

describe('customOp', () => {
  it('exposes its name, spec and reference', () => {
    expect(cube.opName).toBe('cube');
    expect(cube.spec.name).toBe('cube');
    expect(values(cube.reference!(f64([2])) as Tensor)).toEqual([8]);
  });

  it('single output: forward value and a backward that matches finite differences', () => {
    const x = f64([0.5, -1.5, 2]);
    const [out, pullback] = vjp((a) => cube(a!) as Tensor, x);
    expect(values(out)).toEqual([0.125, -3.375, 8]);
    const seed = f64([1, -2, 0.5]);
    const [numeric] = numericGrad((a) => cube(a!) as Tensor, [x], seed);
    expectClose(pullback(seed)[0]!, { shape: [3], values: numeric!.data }, { atol: 1e-6, rtol: 1e-6 });
  });

  it('multi-output: an unused output’s grad arrives as zeros of its shape', () => {
    received.length = 0;
    const x = f64([1, 2]);
    const y = f64([3, 4]);
    const mask = f64([1, 0]);
    const [gx, gy] = grad((a: Tensor, b: Tensor) => sum((productAndSum(a, b, mask) as Tensor[])[0]!), {
      argnums: [0, 1],
    })(x, y) as Tensor[];
    expect(values(gx!)).toEqual([3, 0]);
    expect(values(gy!)).toEqual([1, 0]);
    expect(received).toHaveLength(1);
    expect(received[0]![1]!.shape).toEqual([2]);
    expect(received[0]![1]!.dtype).toBe('float64');
    expect(values(received[0]![1]!)).toEqual([0, 0]);
  });

  it('multi-output: both outputs used add their grads', () => {
    const x = f64([1, 2]);
    const y = f64([3, 4]);
    const mask = f64([1, 1]);
    const both = (a: Tensor, b: Tensor) => {
      const [product, total] = productAndSum(a, b, mask) as Tensor[];
      return sum(mul(product!, total!));
    };
    const analytic = grad(both, { argnums: [0, 1] })(x, y) as Tensor[];
    const numeric = numericGrad((a, b) => both(a!, b!), [x, y], tensor(1, { dtype: 'float64' }));
    analytic.forEach((g, i) => {
      expectClose(g, { shape: [2], values: numeric[i]!.data }, { atol: 1e-6, rtol: 1e-6 });
    });
  });

  it('multi-output of mixed dtypes: each unused output gets zeros of its own dtype and size, none shared', () => {
    // The engine cuts the zeros of the first unused output's dtype from one buffer; the others get their
    // own. Four outputs, the last one used: two unused of one dtype (views of that buffer, which must not
    // overlap: a backward may hand one on as a leaf's .grad) and one of the other dtype between them.
    const layouts: [DType, number][][] = [
      [
        ['float64', 2],
        ['float32', 3],
        ['float64', 4],
        ['float32', 1],
      ],
      [
        ['float32', 2],
        ['float64', 3],
        ['float32', 4],
        ['float64', 1],
      ],
    ];
    for (const layout of layouts) {
      const got: Tensor[] = [];
      const fourOutputs = customOp<null>({
        name: 'fourOutputs',
        forward: () => ({
          outputs: layout.map(([dtype, size]) => zeros([size], { dtype })),
          residuals: null,
        }),
        backward: (grads) => {
          got.push(...grads);
          const g = grads[3]!.item();
          return [tensor([g, g], { dtype: 'float64' })];
        },
      });
      const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
      sum((fourOutputs(x) as Tensor[])[3]!).backward();
      const label = layout.map(([dtype, size]) => `${dtype}[${size}]`).join(', ');
      expect(
        got.map((g) => [g.dtype, g.shape, g.data.length, g.data.constructor.name]),
        label,
      ).toEqual(
        layout.map(([dtype, size]) => [
          dtype,
          [size],
          size,
          dtype === 'float64' ? 'Float64Array' : 'Float32Array',
        ]),
      );
      for (const g of got.slice(0, 3)) expect(Array.from(g.data), label).toEqual(new Array(g.size).fill(0));
      for (const [i, a] of got.entries()) {
        for (const b of got.slice(i + 1)) {
          const disjoint =
            a.data.buffer !== b.data.buffer ||
            a.data.byteOffset + a.data.byteLength <= b.data.byteOffset ||
            b.data.byteOffset + b.data.byteLength <= a.data.byteOffset;
          expect(disjoint, `${label}: two output grads overlap`).toBe(true);
        }
      }
      expect(values(x.grad!)).toEqual([1, 1]);
    }
  });

  it('a null grad leaves a non-differentiable input without grad', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const mask = tensor([1, 1], { dtype: 'float64', requiresGrad: true });
    sum((productAndSum(x, f64([3, 4]), mask) as Tensor[])[0]!).backward();
    expect(values(x.grad!)).toEqual([3, 4]);
    expect(mask.grad).toBeNull();
  });

  it('an undefined grad (or a hole in the array) counts as null: no grad, no error', () => {
    const withHoles = (grads: (g: Tensor) => (Tensor | null)[]) =>
      customOp<null>({
        name: 'withHoles',
        forward: ([a, b]) => ({ outputs: add(mul(a!, 2), b!), residuals: null }),
        backward: ([g]) => grads(g!),
      });
    const holey = (g: Tensor) => {
      const grads = new Array<Tensor | null>(2);
      grads[0] = mul(g, 2);
      return grads;
    };
    for (const grads of [(g: Tensor) => [mul(g, 2), undefined as never], holey]) {
      const a = f64([1, 2]);
      const b = f64([3, 4]);
      a.requiresGrad = true;
      b.requiresGrad = true;
      sum(withHoles(grads as never)(a, b) as Tensor).backward();
      expect(values(a.grad!)).toEqual([2, 2]);
      expect(b.grad).toBeNull();
    }
  });

  it('keeps residuals only while recording', () => {
    seen.needsGrad.length = 0;
    const plain = cube(f64([2])) as Tensor;
    const leaf = tensor([2], { dtype: 'float64', requiresGrad: true });
    const quiet = noGrad(() => cube(leaf)) as Tensor;
    const recorded = cube(leaf) as Tensor;
    expect(seen.needsGrad).toEqual([false, false, true]);
    expect(plain.node).toBeNull();
    expect(quiet.node).toBeNull();
    expect(quiet.requiresGrad).toBe(false);
    expect(recorded.node?.op).toBe('cube');
  });

  it('an output that aliases an input is cut from the input’s graph', () => {
    const identity = customOp<null>({
      name: 'identity',
      forward: ([x]) => ({ outputs: x!, residuals: null }),
      backward: ([g]) => [g!],
    });
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const out = identity(x) as Tensor;
    expect(out).not.toBe(x);
    expect(out.node?.op).toBe('identity');
    expect(x.node).toBeNull();
    sum(mul(out, 2)).backward();
    expect(values(x.grad!)).toEqual([2, 2]);
  });
});

describe('customOp backward errors name the op', () => {
  const faulty = (name: string, make: (x: Tensor) => Tensor | null) =>
    customOp<null>({
      name,
      forward: ([x]) => ({ outputs: mapData(x!, (v) => 2 * v), residuals: null }),
      backward: ([g]) => [make(g!)],
    });

  it('a grad of the wrong shape', () => {
    const op = faulty('badShape', () => f64([1, 2, 3]));
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const run = () => sum(op(x) as Tensor).backward();
    expect(run).toThrow(ShapeError);
    expect(() => sum(op(x) as Tensor).backward()).toThrow(
      "backward: 'badShape' returned a grad of shape [3] for input 0 of shape [2]",
    );
  });

  it('a grad of the wrong dtype', () => {
    const op = faulty('badDType', (g) => tensor(Array.from(g.data), { dtype: 'float32' }));
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    expect(() => sum(op(x) as Tensor).backward()).toThrow(DTypeError);
    expect(() => sum(op(x) as Tensor).backward()).toThrow(
      "backward: 'badDType' returned a float32 grad for float64 input 0",
    );
  });

  it('the wrong number of grads', () => {
    const op = customOp<null>({
      name: 'tooMany',
      forward: ([x]) => ({ outputs: mapData(x!, (v) => v), residuals: null }),
      backward: ([g]) => [g!, g!],
    });
    const x = tensor([1], { dtype: 'float64', requiresGrad: true });
    expect(() => (op(x) as Tensor).backward()).toThrow("backward: 'tooMany' returned 2 grads for 1 inputs");
  });

  it('a non-tensor input or output', () => {
    expect(() => cube(2 as unknown as Tensor)).toThrow('cube: input 0 is not a Tensor');
    const broken = customOp<null>({
      name: 'broken',
      forward: () => ({ outputs: 3 as unknown as Tensor, residuals: null }),
      backward: () => [],
    });
    expect(() => broken(f64([1]))).toThrow('broken: forward output 0 is not a Tensor');
  });
});
