// Errors name the op and the shapes or dtypes involved; astype is the one way across dtypes.
import { describe, expect, it } from 'vitest';
import {
  add,
  astype,
  clip,
  DTypeError,
  full,
  logSoftmax,
  matmul,
  max,
  mean,
  min,
  mul,
  pow,
  ShapeError,
  softmax,
  sum,
  type Tensor,
  tensor,
  vjp,
  where,
  zeros,
} from '../src/index.js';

const f32 = (shape: number[]) => zeros(shape, { dtype: 'float32' });
const f64 = (shape: number[]) => zeros(shape, { dtype: 'float64' });

describe('dtypes', () => {
  it('mixed dtypes are refused, naming the op and both dtypes', () => {
    expect(() => add(f32([2]), f64([2]))).toThrow(DTypeError);
    expect(() => mul(f32([2]), f64([2]))).toThrow(
      'mul: dtypes differ: float32 and float64 (cast one with astype)',
    );
    expect(() => matmul(f64([2, 2]), f32([2, 2]))).toThrow('matmul: dtypes differ: float64 and float32');
    expect(() => where(f32([2]), f64([2]), f64([2]))).toThrow(/where: dtypes differ/);
  });

  it('a number takes the dtype of the tensor it meets', () => {
    expect(add(f64([2]), 1).dtype).toBe('float64');
    expect(mul(3, f32([2])).dtype).toBe('float32');
  });

  it('unknown dtypes and non-tensors are refused', () => {
    expect(() => astype(f32([1]), 'int32' as 'float32')).toThrow('astype: unknown dtype int32');
    expect(() => zeros([2], { dtype: 'float16' as 'float32' })).toThrow(DTypeError);
    expect(() => add('1' as unknown as Tensor, f32([1]))).toThrow(
      'add: expected a Tensor or a number, got string',
    );
  });
});

describe('astype', () => {
  it('round trips float64 → float32 → float64 through float32 rounding', () => {
    const x = tensor([0.1, 1 / 3, 1e-40, 3.4e38, -2.5], { dtype: 'float64' });
    const narrowed = astype(x, 'float32');
    expect(narrowed.dtype).toBe('float32');
    const back = astype(narrowed, 'float64');
    expect(back.dtype).toBe('float64');
    expect(Array.from(back.data)).toEqual([0.1, 1 / 3, 1e-40, 3.4e38, -2.5].map(Math.fround));
    // float32 → float64 → float32 is exact
    expect(Array.from(astype(back, 'float32').data)).toEqual(Array.from(narrowed.data));
  });

  it('its grad is cast back to the input dtype', () => {
    const x = tensor([1, 2], { dtype: 'float32' });
    const [out, pullback] = vjp((a) => mul(astype(a!, 'float64'), tensor([3, 0.1], { dtype: 'float64' })), x);
    expect(out.dtype).toBe('float64');
    const [g] = pullback(tensor([1, 1], { dtype: 'float64' }));
    expect(g!.dtype).toBe('float32');
    expect(Array.from(g!.data)).toEqual([3, Math.fround(0.1)]);
  });
});

describe('shapes', () => {
  it('non-broadcastable shapes name the op and both shapes', () => {
    expect(() => add(f32([2, 3]), f32([4]))).toThrow(ShapeError);
    expect(() => add(f32([2, 3]), f32([4]))).toThrow(
      'add: shapes [2,3] and [4] cannot be broadcast together',
    );
    expect(() => where(f32([2]), f32([3]), f32([1]))).toThrow(
      'where: shapes [2] and [3] and [1] cannot be broadcast together',
    );
  });

  it('matmul names its inner dimensions, batch dimensions and rank', () => {
    expect(() => matmul(f32([3, 4]), f32([5, 2]))).toThrow('matmul: inner dimensions differ: [3,4] @ [5,2]');
    expect(() => matmul(f32([4]), f32([3]))).toThrow('matmul: inner dimensions differ: [4] @ [3]');
    expect(() => matmul(f32([2, 3, 4]), f32([3, 4, 2]))).toThrow(
      'matmul: batch dimensions cannot be broadcast: [2,3,4] @ [3,4,2]',
    );
    expect(() => matmul(f32([]), f32([3]))).toThrow('matmul: operands must have at least one dimension');
  });

  it('an invalid axis names the op, the axis and the rank', () => {
    expect(() => sum(f32([2, 3]), { axis: 2 })).toThrow('sum: axis 2 is out of range for rank 2');
    expect(() => mean(f32([2, 3]), { axis: -3 })).toThrow('mean: axis -3 is out of range for rank 2');
    expect(() => max(f32([2, 3]), { axis: 0.5 })).toThrow('max: axis 0.5 is out of range for rank 2');
    expect(() => sum(f32([2, 3]), { axis: [1, -1] })).toThrow('sum: axis 1 repeated in [1,-1]');
    expect(() => softmax(f32([2, 3]), 2)).toThrow('softmax: axis 2 is out of range for rank 2');
    expect(() => logSoftmax(f32([]))).toThrow('logSoftmax: axis -1 is out of range for rank 0');
  });

  it('max and min of an empty axis have no value', () => {
    expect(() => max(f32([0, 3]))).toThrow(ShapeError);
    expect(() => min(f32([2, 0]), { axis: 1 })).toThrow(
      'min: cannot reduce over an empty axis of shape [2,0]',
    );
  });
});

describe('factories and accessors', () => {
  it('negative, NaN and fractional sizes are refused', () => {
    expect(() => zeros([2, -1])).toThrow(ShapeError);
    expect(() => zeros([2, -1])).toThrow('invalid size -1 in shape [2,-1]');
    expect(() => full([Number.NaN], 1)).toThrow('full: invalid size NaN in shape [NaN]');
    expect(() => full([2.5, 2], 0)).toThrow('full: invalid size 2.5 in shape [2.5,2]');
    expect(() => tensor([1, 2], { shape: [-2] })).toThrow('tensor: invalid size -2');
  });

  it('ragged nested arrays are refused', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow('tensor: ragged nested array (expected shape [2,2])');
    expect(() => tensor([[1, 2], 3] as number[][])).toThrow(/ragged nested array/);
    expect(() => tensor([1, [2, 3]] as unknown as number[])).toThrow(/ragged nested array/);
  });

  it('values that do not fill the shape are refused', () => {
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow('tensor: 3 values do not fill shape [2,2]');
  });

  it('item() needs exactly one element', () => {
    expect(tensor([[7]]).item()).toBe(7);
    expect(() => f32([2]).item()).toThrow('item: needs a one-element tensor, got shape [2]');
    expect(() => f32([0]).item()).toThrow('item: needs a one-element tensor, got shape [0]');
  });

  it('op arguments outside their domain are refused', () => {
    expect(() => pow(f32([1]), f32([1]) as unknown as number)).toThrow('pow: the exponent must be a number');
    expect(() => clip(f32([1]), 1, 0)).toThrow('clip: needs min ≤ max, got min 1, max 0');
  });
});
