// Backward scratch: grads handed from backward to backward in buffers that later passes reuse. The tape
// must copy one before it becomes a leaf's grad (directly, or passed through by reshape), keep a pass's
// buffers apart from a nested pass's, and give them back, zeroed for the next, when a pass ends, also by
// a throw.
import { describe, expect, it } from 'vitest';
import {
  add,
  customOp,
  type DType,
  grad,
  mul,
  reshape,
  sum,
  Tensor,
  tensor,
  valueAndGrad,
} from '../src/index.js';
import { backwardScratch } from '../src/kernels.js';

const values = (t: Tensor) => Array.from(t.data);

// twice(x) = 2x, whose backward writes 2g into backward scratch (fresh values outside a pass), noting
// whether the buffer came zeroed. `inside` runs in its backward before it returns, with that buffer.
const hooks: { inside: ((scratch: Float64Array | Float32Array) => void) | null } = { inside: null };
const arrivedZeroed: boolean[] = [];
const twiceOp = customOp<null>({
  name: 'twice',
  forward([x]) {
    return {
      outputs: tensor(
        Array.from(x!.data, (v) => 2 * v),
        { dtype: x!.dtype, shape: [...x!.shape] },
      ),
      residuals: null,
    };
  },
  backward([g]) {
    const out = backwardScratch(g!.dtype, g!.size) ?? new Float64Array(g!.size);
    arrivedZeroed.push(out.every((v) => v === 0));
    for (let i = 0; i < g!.size; i++) out[i] = 2 * g!.data[i]!;
    hooks.inside?.(out as Float64Array);
    return [new Tensor(out, g!.shape)]; // the scratch itself (tensor() would copy it)
  },
  reference: (x) => mul(x!, 2),
});
const twice = (x: Tensor) => twiceOp(x) as Tensor;

describe.each(['float64', 'float32'] as DType[])('backward scratch (%s)', (dtype) => {
  const t = (v: number[], shape = [v.length]) => tensor(v, { dtype, shape, requiresGrad: true });

  it('is null outside a backward pass', () => {
    expect(backwardScratch(dtype, 4)).toBeNull();
  });

  it('refuses a size that is not a whole number of values, and an unknown dtype, by name', () => {
    for (const size of [-1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => backwardScratch(dtype, size)).toThrow(/backwardScratch: size must be .* got/);
    }
    expect(() => backwardScratch('int32' as DType, 4)).toThrow(/backwardScratch: unknown dtype int32/);
  });

  it('is copied before it becomes a leaf grad, directly or passed through reshape', () => {
    // One path each, so no accumulation makes a fresh sum of it on the way.
    const direct = grad((x: Tensor) => sum(twice(x)))(t([1, 2, 3]));
    const through = grad((x: Tensor) => sum(reshape(twice(reshape(x, [2, 2])), [4])))(t([1, 2, 3, 4]));
    expect(values(direct)).toEqual([2, 2, 2]);
    expect(values(through)).toEqual([2, 2, 2, 2]);
    // Later passes reuse the buffers: the grads returned before must not change.
    for (let i = 0; i < 3; i++) {
      grad((x: Tensor) => sum(mul(twice(x), 5)))(t([7, 7, 7]));
      grad((x: Tensor) => sum(mul(twice(x), 5)))(t([7, 7, 7, 7]));
    }
    expect(values(direct)).toEqual([2, 2, 2]);
    expect(values(through)).toEqual([2, 2, 2, 2]);
  });

  it('accumulates correctly where one tensor feeds several ops (x·x, a diamond)', () => {
    // y = twice(x); z = y·y + twice(y); d/dx = (2y + 2)·2 = 8x + 4
    const f = (x: Tensor) => {
      const y = twice(x);
      return sum(add(mul(y, y), twice(y)));
    };
    const [value, g] = valueAndGrad(f)(t([0.5, -1, 2]));
    expect(value.item()).toBeCloseTo(1 + 4 + 16 + 2 * (1 - 2 + 4), 5);
    expect(values(g)).toEqual([8, -4, 20]);
  });

  it('keeps an outer pass’s buffers apart from a nested pass’s, and reuses them across passes', () => {
    const seen: (Float64Array | Float32Array)[] = [];
    let outerValues: number[] = [];
    // The nested pass walks a graph recorded before the outer one (a backward records nothing itself).
    const xi = t([9, 9, 9]);
    const inner = sum(mul(twice(xi), twice(xi)));
    hooks.inside = (scratch) => {
      hooks.inside = null; // the nested pass's own twice runs without the hook
      outerValues = Array.from(scratch);
      inner.backward();
      expect(values(xi.grad!)).toEqual([72, 72, 72]);
      expect(Array.from(scratch)).toEqual(outerValues);
      expect(backwardScratch(dtype, 0)).toBeNull();
      // The outer pass still holds its buffer: what it takes next is other memory.
      const next = backwardScratch(dtype, 3)!;
      const overlaps =
        next.buffer === scratch.buffer && Math.abs(next.byteOffset - scratch.byteOffset) < scratch.byteLength;
      expect(overlaps).toBe(false);
      seen.push(scratch);
    };
    try {
      const g = grad((x: Tensor) => sum(mul(twice(x), 3)))(t([1, 2, 3]));
      expect(values(g)).toEqual([6, 6, 6]);
      expect(outerValues).toEqual([6, 6, 6]);
    } finally {
      hooks.inside = null;
    }
    // The next pass of the same size is given the same memory, zeroed.
    hooks.inside = (scratch) => {
      hooks.inside = null;
      seen.push(scratch);
    };
    arrivedZeroed.length = 0;
    grad((x: Tensor) => sum(twice(x)))(t([4, 5, 6]));
    const [a, b] = seen as [Float32Array, Float32Array];
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(arrivedZeroed).toEqual([true]);
  });

  it('gives a pass’s buffers back when a backward throws', () => {
    hooks.inside = () => {
      hooks.inside = null;
      throw new Error('planted');
    };
    expect(() => grad((x: Tensor) => sum(twice(x)))(t([1, 2]))).toThrow('planted');
    expect(backwardScratch(dtype, 2)).toBeNull();
    expect(values(grad((x: Tensor) => sum(twice(x)))(t([1, 2])))).toEqual([2, 2]);
  });
});
