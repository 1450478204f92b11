// Elementwise ops with numpy broadcasting. Each vjp is one line of maths; the engine sums grads
// back over broadcast axes, so no rule here has to.
import { type DType, DTypeError, isDType } from '../dtype.js';
import { type Binary, broadcastInto, stableSigmoid, type Unary } from '../kernels/elementwise.js';
import { allocate } from '../memory/arena.js';
import { broadcastShapes, checkBytes } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { empty, mapTensor, operands, type TensorLike, zipTensors } from './util.js';

function unary(
  op: string,
  x: TensorLike,
  f: Unary,
  vjp: (g: Tensor, x: Tensor, out: Tensor) => Tensor,
): Tensor {
  const [a] = operands(op, x) as [Tensor];
  const out = mapTensor(a, f);
  return record(op, [a], out, ([g]) => [vjp(g!, a, out)]);
}

function binary(
  op: string,
  x: TensorLike,
  y: TensorLike,
  f: Binary,
  vjp: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null],
): Tensor {
  const [a, b] = operands(op, x, y) as [Tensor, Tensor];
  const out = zipTensors(op, a, b, f);
  return record(op, [a, b], out, ([g]) => vjp(g!, a, b, out));
}

// Binary arithmetic.
export const add = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'add',
    a,
    b,
    (x, y) => x + y,
    (g) => [g, g],
  );
export const sub = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'sub',
    a,
    b,
    (x, y) => x - y,
    (g) => [g, neg(g)],
  );
export const mul = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'mul',
    a,
    b,
    (x, y) => x * y,
    (g, x, y) => [mul(g, y), mul(g, x)],
  );
// d(a/b) = g/b, -g·a/b²
export const div = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'div',
    a,
    b,
    (x, y) => x / y,
    (g, x, y) => [div(g, y), neg(div(mul(g, x), mul(y, y)))],
  );

// A tie sends half the grad each way (PyTorch's rule for maximum and minimum).
const pick = (x: number, y: number): number => (x > y ? 1 : x === y ? 0.5 : 0);
export const maximum = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'maximum',
    a,
    b,
    (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? Number.NaN : Math.max(x, y)),
    (g, x, y) => [mul(g, zipTensors('maximum', x, y, pick)), mul(g, zipTensors('maximum', y, x, pick))],
  );
export const minimum = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'minimum',
    a,
    b,
    (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? Number.NaN : Math.min(x, y)),
    (g, x, y) => [mul(g, zipTensors('minimum', y, x, pick)), mul(g, zipTensors('minimum', x, y, pick))],
  );

/** x ** p for a scalar exponent p. d = g·p·x^(p-1) */
export function pow(x: TensorLike, p: number): Tensor {
  if (typeof p !== 'number') throw new TypeError('pow: the exponent must be a number (tensor ** scalar)');
  return unary(
    'pow',
    x,
    (v) => v ** p,
    (g, a) =>
      p === 0
        ? mul(g, 0)
        : mul(
            g,
            mapTensor(a, (v) => p * v ** (p - 1)),
          ),
  );
}

// Unary.
export const neg = (x: TensorLike): Tensor =>
  unary(
    'neg',
    x,
    (v) => -v,
    (g) => neg(g),
  );
export const exp = (x: TensorLike): Tensor => unary('exp', x, Math.exp, (g, _, y) => mul(g, y));
export const log = (x: TensorLike): Tensor => unary('log', x, Math.log, (g, a) => div(g, a));
// d sqrt = g / (2·sqrt x)
export const sqrt = (x: TensorLike): Tensor => unary('sqrt', x, Math.sqrt, (g, _, y) => div(g, mul(y, 2)));
// d tanh = g·(1 - y²)
export const tanh = (x: TensorLike): Tensor =>
  unary('tanh', x, Math.tanh, (g, _, y) =>
    mul(
      g,
      mapTensor(y, (v) => 1 - v * v),
    ),
  );

// d sigmoid = g·y·(1 - y)
export const sigmoid = (x: TensorLike): Tensor =>
  unary('sigmoid', x, stableSigmoid, (g, _, y) =>
    mul(
      g,
      mapTensor(y, (v) => v * (1 - v)),
    ),
  );
// d relu = g·[x > 0]. Forward as torch's (clamp_min on CPU): x itself unless x < 0, so NaN and -0 pass.
export const relu = (x: TensorLike): Tensor =>
  unary(
    'relu',
    x,
    // biome-ignore lint/complexity/useMathMinMax: Math.max(v, 0) would turn -0 into +0.
    (v) => (v < 0 ? 0 : v),
    (g, a) =>
      mul(
        g,
        mapTensor(a, (v) => (v > 0 ? 1 : 0)),
      ),
  );
// d |x| = g·sign(x), with sign(0) = 0 as in PyTorch
export const abs = (x: TensorLike): Tensor =>
  unary('abs', x, Math.abs, (g, a) => mul(g, mapTensor(a, Math.sign)));

/** Clamps into [min, max]; the grad passes where min ≤ x ≤ max (PyTorch's clamp). */
export function clip(x: TensorLike, min: number, max: number): Tensor {
  if (
    typeof min !== 'number' ||
    typeof max !== 'number' ||
    Number.isNaN(min) ||
    Number.isNaN(max) ||
    min > max
  ) {
    throw new RangeError(`clip: needs min ≤ max, got min ${min}, max ${max}`);
  }
  return unary(
    'clip',
    x,
    (v) => (v < min ? min : Math.min(v, max)),
    (g, a) =>
      mul(
        g,
        mapTensor(a, (v) => (v >= min && v <= max ? 1 : 0)),
      ),
  );
}

/** cond ? a : b elementwise, cond a tensor of 0/1 (any non-zero counts as true); cond gets no grad. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [c, x, y] = operands('where', cond, a, b) as [Tensor, Tensor, Tensor];
  const shape = broadcastShapes('where', c.shape, x.shape, y.shape);
  checkBytes('where', shape, x.dtype);
  const size = shape.reduce((n, d) => n * d, 1);
  const cb = broadcastInto(c.data, c.shape, allocate(c.dtype, size), shape);
  const xb = broadcastInto(x.data, x.shape, allocate(x.dtype, size), shape);
  const yb = broadcastInto(y.data, y.shape, allocate(y.dtype, size), shape);
  const out = empty(x.dtype, shape);
  for (let i = 0; i < size; i++) out.data[i] = cb[i] !== 0 ? xb[i]! : yb[i]!;
  const mask = new Tensor(cb, shape);
  return record('where', [c, x, y], out, ([g]) => [
    null,
    mul(
      g!,
      mapTensor(mask, (v) => (v !== 0 ? 1 : 0)),
    ),
    mul(
      g!,
      mapTensor(mask, (v) => (v !== 0 ? 0 : 1)),
    ),
  ]);
}

/** The explicit cast between dtypes; differentiable (the grad is cast back). */
export function astype(x: Tensor, dtype: DType): Tensor {
  if (!isDType(dtype)) throw new DTypeError(`astype: unknown dtype ${String(dtype)}`);
  if (!(x instanceof Tensor)) throw new TypeError('astype: expected a Tensor');
  const data = allocate(dtype, x.size);
  data.set(x.data);
  const out = new Tensor(data, x.shape);
  return record('astype', [x], out, ([g]) => [astype(g!, x.dtype)]);
}
