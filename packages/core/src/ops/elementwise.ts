// Elementwise ops with numpy broadcasting. Each vjp is one line of maths; the engine sums grads
// back over broadcast axes, so no rule here has to. A vjp whose fast path computes a factor off the
// tape (mapTensor) builds it from ops when recording is on (a graph-building backward), so that the
// grad can be differentiated again; masks (relu, abs, clip, where, maximum) are constants either way.
import { markLibraryCode } from '../callSite.js';
import { type DType, DTypeError, isDType } from '../dtype.js';
import { differentiable } from '../forward.js';
import { type Binary, broadcastInto, stableSigmoid, type Unary } from '../kernels/elementwise.js';
import { allocate } from '../memory/arena.js';
import { isGradEnabled } from '../mode.js';
import { broadcastShapes, checkBytes, sameShape } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { broadcastTo } from './shape.js';
import { empty, mapTensor, operands, type TensorLike, zipTensors } from './util.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

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
const addPrimal = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'add',
    a,
    b,
    (x, y) => x + y,
    (g) => [g, g],
  );
const subPrimal = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'sub',
    a,
    b,
    (x, y) => x - y,
    (g) => [g, neg(g)],
  );
const mulPrimal = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'mul',
    a,
    b,
    (x, y) => x * y,
    (g, x, y) => [mul(g, y), mul(g, x)],
  );
// d(a/b) = g/b, -g·a/b²
const divPrimal = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'div',
    a,
    b,
    (x, y) => x / y,
    (g, x, y) => [div(g, y), neg(div(mul(g, x), mul(y, y)))],
  );

// A tie sends half the grad each way (PyTorch's rule for maximum and minimum).
const pick = (x: number, y: number): number => (x > y ? 1 : x === y ? 0.5 : 0);
const maximumPrimal = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'maximum',
    a,
    b,
    (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? Number.NaN : Math.max(x, y)),
    (g, x, y) => [mul(g, zipTensors('maximum', x, y, pick)), mul(g, zipTensors('maximum', y, x, pick))],
  );
const minimumPrimal = (a: TensorLike, b: TensorLike): Tensor =>
  binary(
    'minimum',
    a,
    b,
    (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? Number.NaN : Math.min(x, y)),
    (g, x, y) => [mul(g, zipTensors('minimum', y, x, pick)), mul(g, zipTensors('minimum', x, y, pick))],
  );

/** x ** p for a scalar exponent p. d = g·p·x^(p-1) */
const powPrimal = (x: TensorLike, p: number): Tensor => {
  if (typeof p !== 'number') throw new TypeError('pow: the exponent must be a number (tensor ** scalar)');
  return unary(
    'pow',
    x,
    (v) => v ** p,
    (g, a) =>
      p === 0
        ? mul(g, 0)
        : isGradEnabled()
          ? mul(g, mul(pow(a, p - 1), p))
          : mul(
              g,
              mapTensor(a, (v) => p * v ** (p - 1)),
            ),
  );
};

// Unary.
const negPrimal = (x: TensorLike): Tensor =>
  unary(
    'neg',
    x,
    (v) => -v,
    (g) => neg(g),
  );
const expPrimal = (x: TensorLike): Tensor => unary('exp', x, Math.exp, (g, _, y) => mul(g, y));
const logPrimal = (x: TensorLike): Tensor => unary('log', x, Math.log, (g, a) => div(g, a));
// d sqrt = g / (2·sqrt x)
const sqrtPrimal = (x: TensorLike): Tensor => unary('sqrt', x, Math.sqrt, (g, _, y) => div(g, mul(y, 2)));
// d tanh = g·(1 - y²)
const tanhPrimal = (x: TensorLike): Tensor =>
  unary('tanh', x, Math.tanh, (g, _, y) =>
    isGradEnabled()
      ? mul(g, sub(1, mul(y, y)))
      : mul(
          g,
          mapTensor(y, (v) => 1 - v * v),
        ),
  );

// d sigmoid = g·y·(1 - y)
const sigmoidPrimal = (x: TensorLike): Tensor =>
  unary('sigmoid', x, stableSigmoid, (g, _, y) =>
    isGradEnabled()
      ? mul(g, mul(y, sub(1, y)))
      : mul(
          g,
          mapTensor(y, (v) => v * (1 - v)),
        ),
  );
// d relu = g·[x > 0]. Forward as torch's (clamp_min on CPU): x itself unless x < 0, so NaN and -0 pass.
const reluPrimal = (x: TensorLike): Tensor =>
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
const absPrimal = (x: TensorLike): Tensor =>
  unary('abs', x, Math.abs, (g, a) => mul(g, mapTensor(a, Math.sign)));

/** Clamps into [min, max]; the grad passes where min ≤ x ≤ max (PyTorch's clamp). */
const clipPrimal = (x: TensorLike, min: number, max: number): Tensor => {
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
};

/** cond ? a : b elementwise, cond a tensor of 0/1 (any non-zero counts as true); cond gets no grad. */
const wherePrimal = (cond: Tensor, a: TensorLike, b: TensorLike): Tensor => {
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
};

/** The explicit cast between dtypes; differentiable (the grad is cast back). */
const astypePrimal = (x: Tensor, dtype: DType): Tensor => {
  if (!isDType(dtype)) throw new DTypeError(`astype: unknown dtype ${String(dtype)}`);
  if (!(x instanceof Tensor)) throw new TypeError('astype: expected a Tensor');
  const data = allocate(dtype, x.size);
  data.set(x.data);
  const out = new Tensor(data, x.shape);
  return record('astype', [x], out, ([g]) => [astype(g!, x.dtype)]);
};

// The ops, each with its jvp rule: the tangent of the output from the tangents of the inputs (null:
// zero), in core ops, so that a tangent is itself recorded and differentiable.

/** A binary op's tangent: the sum of its terms (null: zero), at the output's shape. */
function tangentSum(out: Tensor, p: Tensor | null, q: Tensor | null): Tensor {
  const t = p && q ? add(p, q) : (p ?? q)!;
  return sameShape(t.shape, out.shape) ? t : broadcastTo(t, out.shape);
}

// 0/1 masks of where the tangent passes: constants, as the vjps' masks are.
const positive = (x: TensorLike): Tensor => mapTensor(x as Tensor, (v) => (v > 0 ? 1 : 0));
const picked = (op: string, a: TensorLike, b: TensorLike): Tensor => {
  const [x, y] = operands(op, a, b) as [Tensor, Tensor];
  return zipTensors(op, x, y, pick);
};

/** a + b. dt = ta + tb */
export const add = differentiable('add', addPrimal, ([ta, tb], _, out): Tensor => tangentSum(out, ta, tb));
/** a - b. dt = ta - tb */
export const sub = differentiable(
  'sub',
  subPrimal,
  ([ta, tb], _, out): Tensor => tangentSum(out, ta, tb && neg(tb)),
);
/** a · b. dt = ta·b + a·tb */
export const mul = differentiable(
  'mul',
  mulPrimal,
  ([ta, tb], [a, b], out): Tensor => tangentSum(out, ta && mul(ta, b), tb && mul(a, tb)),
);
/** a / b. dt = ta/b - out·tb/b */
export const div = differentiable(
  'div',
  divPrimal,
  ([ta, tb], [, b], out): Tensor => tangentSum(out, ta && div(ta, b), tb && neg(div(mul(out, tb), b))),
);
/** The larger of a and b; at a tie each side gets half. dt = ta·[a > b] + tb·[b > a] (½ at a tie) */
export const maximum = differentiable(
  'maximum',
  maximumPrimal,
  ([ta, tb], [a, b], out): Tensor =>
    tangentSum(out, ta && mul(ta, picked('maximum', a, b)), tb && mul(tb, picked('maximum', b, a))),
);
/** The smaller of a and b; at a tie each side gets half. dt = ta·[a < b] + tb·[b < a] (½ at a tie) */
export const minimum = differentiable(
  'minimum',
  minimumPrimal,
  ([ta, tb], [a, b], out): Tensor =>
    tangentSum(out, ta && mul(ta, picked('minimum', b, a)), tb && mul(tb, picked('minimum', a, b))),
);
/** x ** p for a scalar exponent p. dt = t·p·x^(p-1) */
export const pow = differentiable(
  'pow',
  powPrimal,
  ([t], [x, p]): Tensor => (p === 0 ? mul(t!, 0) : mul(t!, mul(pow(x, p - 1), p))),
);
/** -x. dt = -t */
export const neg = differentiable('neg', negPrimal, ([t]): Tensor => neg(t!));
/** eˣ. dt = t·y */
export const exp = differentiable('exp', expPrimal, ([t], _, y): Tensor => mul(t!, y));
/** The natural logarithm. dt = t/x */
export const log = differentiable('log', logPrimal, ([t], [x]): Tensor => div(t!, x));
/** √x. dt = t/(2y) */
export const sqrt = differentiable('sqrt', sqrtPrimal, ([t], _, y): Tensor => div(t!, mul(y, 2)));
/** tanh x. dt = t·(1 - y²) */
export const tanh = differentiable('tanh', tanhPrimal, ([t], _, y): Tensor => mul(t!, sub(1, mul(y, y))));
/** 1/(1 + e⁻ˣ), computed without overflow. dt = t·y·(1 - y) */
export const sigmoid = differentiable(
  'sigmoid',
  sigmoidPrimal,
  ([t], _, y): Tensor => mul(t!, mul(y, sub(1, y))),
);
/** max(x, 0) (NaN and -0 pass, as torch's). dt = t·[x > 0] */
export const relu = differentiable('relu', reluPrimal, ([t], [x]): Tensor => mul(t!, positive(x)));
/** |x|. dt = t·sign(x), sign(0) = 0 */
export const abs = differentiable(
  'abs',
  absPrimal,
  ([t], [x]): Tensor => mul(t!, mapTensor(x as Tensor, Math.sign)),
);
/** Clamps into [min, max] (PyTorch's clamp). dt = t·[min ≤ x ≤ max] */
export const clip = differentiable(
  'clip',
  clipPrimal,
  ([t], [x, min, max]): Tensor =>
    mul(
      t!,
      mapTensor(x as Tensor, (v) => (v >= min && v <= max ? 1 : 0)),
    ),
);
/** cond ? a : b elementwise, cond a tensor of 0/1 (any non-zero counts as true), not differentiated. */
export const where = differentiable(
  'where',
  wherePrimal,
  ([, ta, tb], [cond]): Tensor => where(cond, ta ?? 0, tb ?? 0),
);
/** The explicit cast between dtypes; differentiable (grads and tangents are cast too). */
export const astype = differentiable('astype', astypePrimal, ([t], [, dtype]): Tensor => astype(t!, dtype));

markLibraryCode(codeStart, new Error()); // and where it ends
