// grad, valueAndGrad and vjp: argnums, inputs the output ignores, repeated vjp calls, and purity.
import { describe, expect, it } from 'vitest';
import {
  add,
  DTypeError,
  grad,
  mul,
  ShapeError,
  sum,
  type Tensor,
  tanh,
  tensor,
  valueAndGrad,
  vjp,
} from '../src/index.js';

const f64 = (values: number[]) => tensor(values, { dtype: 'float64' });
const values = (t: Tensor | Tensor[]) =>
  Array.isArray(t) ? t.map((u) => Array.from(u.data)) : Array.from(t.data);

// f(x, y, z) = Σ x²·y + 3z; df/dx = 2xy, df/dy = x², df/dz = 3
const f = (x: Tensor, y: Tensor, z: Tensor) => sum(add(mul(mul(x, x), y), mul(z, 3)));
const x = f64([1, 2]);
const y = f64([3, -1]);
const z = f64([5, 7]);

describe('grad and valueAndGrad', () => {
  it('differentiates argument 0 by default and returns one tensor', () => {
    expect(values(grad(f)(x, y, z))).toEqual([6, -4]);
  });

  it('argnums as a number picks one argument', () => {
    expect(values(grad(f, { argnums: 1 })(x, y, z))).toEqual([1, 4]);
  });

  it('argnums as a list returns a list, in the order asked', () => {
    expect(values(grad(f, { argnums: [2, 0] })(x, y, z))).toEqual([
      [3, 3],
      [6, -4],
    ]);
    expect(values(grad(f, { argnums: [1] })(x, y, z))).toEqual([[1, 4]]);
  });

  it('an input the function ignores gets zeros of its shape and dtype', () => {
    const ignoresY = (a: Tensor, _b: Tensor) => sum(mul(a, a));
    const [gx, gy] = grad(ignoresY, { argnums: [0, 1] })(
      x,
      tensor([[1, 2, 3]], { dtype: 'float64' }),
    ) as Tensor[];
    expect(values(gx!)).toEqual([2, 4]);
    expect(gy!.shape).toEqual([1, 3]);
    expect(gy!.dtype).toBe('float64');
    expect(values(gy!)).toEqual([0, 0, 0]);
  });

  it('a constant function gets zeros', () => {
    const constant = (_a: Tensor) => sum(f64([1, 2]));
    expect(values(grad(constant)(x))).toEqual([0, 0]);
  });

  it('valueAndGrad returns the value, detached, with the grads', () => {
    const [value, grads] = valueAndGrad(f, { argnums: [0, 1] })(x, y, z);
    expect(value.item()).toBe(1 * 3 + 4 * -1 + 3 * 12);
    expect(value.node).toBeNull();
    expect(value.requiresGrad).toBe(false);
    expect(values(grads)).toEqual([
      [6, -4],
      [1, 4],
    ]);
  });

  it('non-tensor arguments pass through untouched', () => {
    const scaled = (a: Tensor, factor: number) => sum(mul(a, factor));
    expect(values(grad(scaled)(x, 2.5))).toEqual([2.5, 2.5]);
  });

  it('is pure: it neither reads nor writes the .grad of the tensors it is given', () => {
    const leaf = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    expect(values(grad((a: Tensor) => sum(mul(a, a)))(leaf))).toEqual([2, 4]);
    expect(leaf.grad).toBeNull();
    expect(values(grad((a: Tensor) => sum(mul(a, a)))(leaf))).toEqual([2, 4]);
  });

  it('refuses a non-scalar function, a bad argnums and a non-tensor argument', () => {
    expect(() => grad((a: Tensor) => mul(a, 2))(x)).toThrow(ShapeError);
    expect(() => grad((a: Tensor) => mul(a, 2))(x)).toThrow(/grad: output has shape \[2\]/);
    expect(() => grad(f, { argnums: 3 })(x, y, z)).toThrow('grad: argnums 3 is out of range for 3 arguments');
    expect(() => grad((_a: Tensor, _n: number) => sum(x), { argnums: 1 })(x, 2)).toThrow(
      'grad: argument 1 is not a Tensor',
    );
  });
});

describe('vjp', () => {
  it('returns the output and a pullback giving the grad of every primal', () => {
    const [out, pullback] = vjp((a, b) => mul(a!, b!), x, y);
    expect(values(out)).toEqual([3, -2]);
    expect(out.node).toBeNull();
    expect(values(pullback(f64([1, 10])))).toEqual([
      [3, -10],
      [1, 20],
    ]);
  });

  it('can be called twice, and is linear in the cotangent', () => {
    const [, pullback] = vjp((a) => tanh(mul(a!, a!)), x);
    const first = values(pullback(f64([1, 1])));
    expect(values(pullback(f64([1, 1])))).toEqual(first);
    const doubled = values(pullback(f64([2, 2]))) as number[][];
    expect(doubled[0]).toEqual((first as number[][])[0]!.map((v) => 2 * v));
  });

  it('refuses a cotangent of the wrong shape or dtype', () => {
    const [, pullback] = vjp((a) => mul(a!, 2), x);
    expect(() => pullback(f64([1, 2, 3]))).toThrow('vjp: seed shape [3] differs from output shape [2]');
    expect(() => pullback(tensor([1, 2], { dtype: 'float32' }))).toThrow(DTypeError);
  });
});
