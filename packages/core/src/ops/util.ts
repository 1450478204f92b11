// What every op needs: scalars lifted to tensors, dtype agreement, fresh outputs.
import { type DType, DTypeError } from '../dtype.js';
import { type Binary, map, type Unary, zipBroadcast } from '../kernels/elementwise.js';
import { allocate } from '../memory/arena.js';
import { disposedError } from '../memory/tidy.js';
import { broadcastShapes, checkBytes, type Shape, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';

/** A tensor, or a number taken as a scalar of the other operand's dtype. */
export type TensorLike = Tensor | number;

export function scalar(value: number, dtype: DType): Tensor {
  const data = allocate(dtype, 1);
  data[0] = value;
  return new Tensor(data, []);
}

export function asTensor(op: string, x: TensorLike, dtype: DType = 'float32'): Tensor {
  if (x instanceof Tensor) {
    if (x.isDisposed) throw disposedError(`${op}: input `, x);
    return x;
  }
  if (typeof x === 'number') return scalar(x, dtype);
  throw new TypeError(`${op}: expected a Tensor or a number, got ${x === null ? 'null' : typeof x}`);
}

/** Lifts numbers to the dtype of the tensor operands and refuses mixed dtypes (no silent cast). */
export function operands(op: string, ...xs: TensorLike[]): Tensor[] {
  const first = xs.find((x): x is Tensor => x instanceof Tensor);
  const dtype = first?.dtype ?? 'float32';
  const ts = xs.map((x) => asTensor(op, x, dtype));
  for (const t of ts) {
    if (t.dtype !== dtype) {
      throw new DTypeError(
        `${op}: dtypes differ: ${ts.map((u) => u.dtype).join(' and ')} (cast one with astype)`,
      );
    }
  }
  return ts;
}

/** A fresh, zero-filled output tensor. */
export function empty(dtype: DType, shape: Shape): Tensor {
  return new Tensor(allocate(dtype, sizeOf(shape)), shape);
}

/** f over a (untracked): the building block of forward passes and of masks inside vjps. */
export function mapTensor(x: Tensor, f: Unary): Tensor {
  return new Tensor(map(x.data, allocate(x.dtype, x.size), f), x.shape);
}

/** f over broadcast a and b (untracked). */
export function zipTensors(op: string, a: Tensor, b: Tensor, f: Binary): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  checkBytes(op, shape, a.dtype); // broadcasting can make an output far larger than both inputs
  const out = empty(a.dtype, shape);
  zipBroadcast(a.data, a.shape, b.data, b.shape, out.data, shape, f);
  return out;
}
