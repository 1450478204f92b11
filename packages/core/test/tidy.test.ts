// tidy: what it disposes and what it spares, that recycled buffers come back zeroed and never under a
// tensor still in use, and that it disposes nothing while a graph recorded inside is alive.
import { describe, expect, it } from 'vitest';
import {
  add,
  customOp,
  emptyPool,
  keep,
  memory,
  mul,
  reshape,
  sum,
  type Tensor,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
} from '../src/index.js';
import { allocate, poisonRecycled } from '../src/kernels.js';

// 8192 float32 values: 32 KB, past the pool's 16 KB floor.
const N = 8192;
const ramp = (n = N, dtype: 'float32' | 'float64' = 'float32') =>
  tensor(
    Float64Array.from({ length: n }, (_, i) => (i % 7) - 3),
    { dtype },
  );

describe('tidy', () => {
  it('disposes what fn made and did not return; reading it throws and names it', () => {
    const x = ramp();
    let inner: Tensor | null = null;
    const out = tidy(() => {
      inner = mul(x, 2);
      return add(inner, 1);
    });
    expect(inner!.isDisposed).toBe(true);
    expect(() => inner!.data).toThrow(/Tensor\(float32, \[8192\]\) was disposed/);
    expect(() => add(inner!, 1)).toThrow(/add: input Tensor\(float32, \[8192\]\) was disposed/);
    expect(out.isDisposed).toBe(false);
    expect(out.data[1]).toBe(-3);
    expect(x.isDisposed).toBe(false);
  });

  it('spares tensors in arrays and plain objects of the result, and kept ones', () => {
    const x = ramp();
    let kept: Tensor | null = null;
    const result = tidy(() => {
      kept = keep(mul(x, 3));
      return { pair: [mul(x, 4), 7], nested: { t: mul(x, 5) } };
    });
    expect(result.pair[0]).toSatisfy((t: Tensor) => !t.isDisposed && t.data[0] === -12);
    expect(result.nested.t.data[0]).toBe(-15);
    expect(kept!.data[0]).toBe(-9);
  });

  it('recycles a disposed buffer into the next allocation of its length, zeroed', () => {
    const x = ramp();
    let buffer: ArrayBufferLike | null = null;
    tidy(() => {
      buffer = mul(x, 2).data.buffer;
      return null;
    });
    expect(memory().pooledBuffers).toBeGreaterThan(0);
    const before = memory().recycled;
    const z = zeros([N]);
    expect(z.data.buffer).toBe(buffer);
    expect(z.data.every((v) => v === 0)).toBe(true);
    expect(memory().recycled).toBe(before + 1);
  });

  it('leaves the old values in a buffer recycled without zeroing (NaN when poisoned, for tests)', () => {
    emptyPool();
    const x = ramp();
    const values = tidy(() => Array.from(mul(x, 2).data));
    const kept = allocate('float32', N, { zero: false });
    expect(Array.from(kept)).toEqual(values);
    tidy(() => {
      mul(x, 2);
      return null;
    });
    poisonRecycled(true);
    try {
      expect(allocate('float32', N, { zero: false }).every(Number.isNaN)).toBe(true);
      // A buffer that is not recycled is new, and zero.
      expect(allocate('float32', N, { zero: false }).every((v) => v === 0)).toBe(true);
    } finally {
      poisonRecycled(false);
    }
  });

  it('never recycles a buffer that a surviving tensor views, nor one made outside the scope', () => {
    const x = ramp();
    let made: Tensor | null = null;
    const view = tidy(() => {
      made = mul(x, 2);
      // A view of x made inside: disposed, but x's buffer is not the scope's to recycle.
      reshape(x, [N / 2, 2]);
      return reshape(made, [2, N / 2]);
    });
    expect(made!.isDisposed).toBe(true);
    // Allocations of the same length must not take either buffer.
    const others = [zeros([N]), zeros([N]), mul(x, 1)];
    for (const o of others) {
      expect(o.data.buffer).not.toBe(view.data.buffer);
      expect(o.data.buffer).not.toBe(x.data.buffer);
    }
    expect(view.data[0]).toBe(-6);
    expect(x.data[0]).toBe(-3);
  });

  it('disposes nothing while a graph recorded inside is alive; backward after it is exact', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    let square: Tensor | null = null;
    const loss = tidy(() => {
      square = mul(x, x);
      return sum(mul(square, x));
    });
    expect(square!.isDisposed).toBe(false);
    loss.backward();
    expect(Array.from(x.grad!.data)).toEqual([3, 12, 27]);
  });

  it('is not stopped by a graph that leads only to disposed tensors, which backward then refuses', () => {
    const x = ramp(N, 'float64');
    const w = tensor([2], { dtype: 'float64', requiresGrad: true });
    let stray: Tensor | null = null;
    let used: Tensor | null = null;
    const value = tidy(() => {
      used = mul(x, w);
      stray = mul(x, w); // recorded, never backward'd, not returned
      const loss = sum(used);
      loss.backward();
      return loss.item();
    });
    expect(value).toBe(sum(mul(x, 2)).item());
    expect(used!.isDisposed).toBe(true);
    expect(stray!.isDisposed).toBe(true);
    expect(() => stray!.backward(zeros([N], { dtype: 'float64' }))).toThrow(
      /backward: the output Tensor\(float64, \[8192\]\) was disposed by a tidy scope/,
    );
  });

  it('keeps the grads that backward accumulates inside it', () => {
    const x = tensor([1, -2], { dtype: 'float64', requiresGrad: true });
    const value = tidy(() => {
      const y = sum(mul(x, x));
      y.backward();
      return y.item();
    });
    expect(value).toBe(5);
    expect(Array.from(x.grad!.data)).toEqual([2, -4]);
  });

  it('gives valueAndGrad the same values in every iteration, from recycled buffers', () => {
    const w = ramp(N, 'float64');
    const f = valueAndGrad((a: Tensor) => sum(mul(mul(a, a), a)));
    const [plainValue, plainGrad] = f(w);
    const expected = Array.from(plainGrad.data);
    const start = memory().recycled;
    for (let i = 0; i < 3; i++) {
      const [value, grad] = tidy(() => f(w));
      expect(value.item()).toBe(plainValue.item());
      expect(Array.from(grad.data)).toEqual(expected);
    }
    expect(memory().recycled).toBeGreaterThan(start);
  });

  it('hands what an inner scope returns, and its buffer, to the outer one', () => {
    const x = ramp();
    emptyPool();
    let fromInner: Tensor | null = null;
    tidy(() => {
      fromInner = tidy(() => mul(x, 2));
      expect(fromInner.isDisposed).toBe(false);
      expect(memory().pooledBuffers).toBe(0);
      return null;
    });
    expect(fromInner!.isDisposed).toBe(true);
    expect(memory()).toMatchObject({ pooledBuffers: 1, pooledBytes: N * 4 });
    emptyPool();
    expect(memory()).toMatchObject({ pooledBuffers: 0, pooledBytes: 0 });
  });

  it('drops the free buffers that a whole outermost scope did not take', () => {
    const x = ramp();
    emptyPool();
    const step = (f: () => unknown) => tidy(() => void f());
    step(() => mul(x, 2));
    expect(memory().pooledBuffers).toBe(1);
    // A step of another shape: the first step's buffer is dropped, its own pooled.
    step(() => mul(ramp(2 * N), 2));
    expect(memory()).toMatchObject({ pooledBuffers: 2, pooledBytes: 2 * N * 4 * 2 });
    // ramp's own buffer and the product's: both of length 2N. The next step of length N drops them.
    step(() => step(() => mul(x, 3)));
    expect(memory()).toMatchObject({ pooledBuffers: 1, pooledBytes: N * 4 });
    // Inner scopes do not drop: a later one in the same step still takes the last step's buffer.
    const before = memory().recycled;
    step(() => {
      step(() => mul(ramp(16), 2));
      step(() => mul(x, 4));
    });
    expect(memory().recycled).toBe(before + 1);
    emptyPool();
  });

  it('disposes nothing when fn throws, and closes its scope', () => {
    const x = ramp();
    let made: Tensor | null = null;
    expect(() =>
      tidy(() => {
        made = mul(x, 2);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(made!.isDisposed).toBe(false);
    expect(memory().scopes).toBe(0);
  });

  it('refuses a promise and anything but a function', async () => {
    const promise = Promise.resolve(1);
    expect(() => tidy(() => promise)).toThrow(/tidy: fn returned a promise/);
    await promise;
    expect(() => tidy(3 as never)).toThrow(/tidy: expected a function to run, got number/);
    expect(() => keep({} as never)).toThrow(/keep: expected a Tensor, got Object/);
    expect(memory().scopes).toBe(0);
  });

  it('makes a custom op name itself when given a disposed tensor', () => {
    const double = customOp<null>({
      name: 'double',
      forward: ([a]) => ({ outputs: mul(a!, 2), residuals: null }),
      backward: ([g]) => [mul(g!, 2)],
    });
    let disposed: Tensor | null = null;
    tidy(() => {
      disposed = mul(ramp(), 1);
      return null;
    });
    expect(() => double(disposed!)).toThrow(/double: input Tensor\(float32, \[8192\]\) was disposed/);
  });
});
