// Reductions over axes (number or list, negative allowed, keepDims), and softmax / logSoftmax.
// A vjp that spreads g back with a kernel (expand) spreads it with recorded ops when recording is on
// (a graph-building backward), so that the grad can be differentiated again.

import { markLibraryCode } from '../callSite.js';
import { differentiable } from '../forward.js';
import { broadcastInto } from '../kernels/elementwise.js';
import { reduceAxes } from '../kernels/reduce.js';
import { allocate } from '../memory/arena.js';
import { isGradEnabled } from '../mode.js';
import { normalizeAxes, normalizeAxis, type Shape, ShapeError, sizeOf } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { div, exp, mul, sub } from './elementwise.js';
import { broadcastTo, reshape } from './shape.js';
import { mapTensor, operands, type TensorLike, zipTensors } from './util.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

export interface ReduceOptions {
  axis?: number | readonly number[];
  keepDims?: boolean;
}

interface Plan {
  axes: number[];
  kept: Shape; // the input shape with reduced axes set to 1
  outShape: Shape;
}

function plan(op: string, x: Tensor, options: ReduceOptions): Plan {
  const axes = normalizeAxes(op, options.axis, x.rank);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outShape = options.keepDims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  return { axes, kept, outShape };
}

// Accumulates in float64 whatever the dtype: a running float32 sum stalls at 2^24 (numpy sums pairwise).
function fold(x: Tensor, p: Plan, init: number, f: (acc: number, v: number) => number): Tensor {
  const acc = reduceAxes(x.data, x.shape, p.axes, new Float64Array(sizeOf(p.kept)), init, f);
  return new Tensor(x.dtype === 'float64' ? acc : Float32Array.from(acc), p.outShape);
}

/** g (of the reduced shape) spread back over x's shape. */
function expand(g: Tensor, p: Plan, shape: Shape): Tensor {
  const data = allocate(g.dtype, sizeOf(shape));
  return new Tensor(broadcastInto(g.data, p.kept, data, shape), shape);
}

/** expand from recorded ops. */
const spread = (g: Tensor, p: Plan, shape: Shape): Tensor => broadcastTo(reshape(g, p.kept), shape);

const input = (op: string, x: TensorLike): Tensor => operands(op, x)[0]!;

// d sum = g broadcast back
const sumPrimal = (x: TensorLike, options: ReduceOptions = {}): Tensor => {
  const a = input('sum', x);
  const p = plan('sum', a, options);
  return record(
    'sum',
    [a],
    fold(a, p, 0, (s, v) => s + v),
    ([g]) => [isGradEnabled() ? spread(g!, p, a.shape) : expand(g!, p, a.shape)],
  );
};

// d mean = g / n broadcast back
const meanPrimal = (x: TensorLike, options: ReduceOptions = {}): Tensor => {
  const a = input('mean', x);
  const p = plan('mean', a, options);
  const n = p.axes.reduce((k, ax) => k * a.shape[ax]!, 1);
  const out = mapTensor(
    fold(a, p, 0, (s, v) => s + v),
    (v) => v / n,
  );
  return record('mean', [a], out, ([g]) => [
    isGradEnabled()
      ? spread(div(g!, n), p, a.shape)
      : expand(
          mapTensor(g!, (v) => v / n),
          p,
          a.shape,
        ),
  ]);
};

/** max/min: the grad is shared evenly among the elements that tie for the extreme (PyTorch's amax). */
function extreme(op: 'max' | 'min', x: TensorLike, options: ReduceOptions): Tensor {
  const a = input(op, x);
  const p = plan(op, a, options);
  // As numpy: only an empty reduced axis has no extreme; [0,3] over axis 1 is simply empty.
  if (p.axes.some((ax) => a.shape[ax] === 0))
    throw new ShapeError(`${op}: cannot reduce over an empty axis of shape [${a.shape.join(',')}]`);
  const better =
    op === 'max'
      ? (m: number, v: number) => (v > m || Number.isNaN(v) ? v : m)
      : (m: number, v: number) => (v < m || Number.isNaN(v) ? v : m);
  const out = fold(a, p, op === 'max' ? -Infinity : Infinity, better);
  return record(op, [a], out, ([g]) => {
    const hit = zipTensors(op, a, expand(out, p, a.shape), (v, m) => (v === m ? 1 : 0));
    const count = fold(hit, p, 0, (s, v) => s + v);
    if (isGradEnabled()) return [mul(hit, spread(div(g!, count), p, a.shape))];
    return [
      mul(
        hit,
        expand(
          zipTensors(op, g!, count, (gv, c) => gv / c),
          p,
          a.shape,
        ),
      ),
    ];
  });
}
const maxPrimal = (x: TensorLike, options: ReduceOptions = {}): Tensor => extreme('max', x, options);
const minPrimal = (x: TensorLike, options: ReduceOptions = {}): Tensor => extreme('min', x, options);

/** log Σ exp(x), shifted by the max so that logits near 1e4 stay finite. d = g·softmax(x) */
const logSumExpPrimal = (x: TensorLike, options: ReduceOptions = {}): Tensor => {
  const a = input('logSumExp', x);
  const p = plan('logSumExp', a, options);
  const m = fold(a, p, -Infinity, (s, v) => Math.max(v, s));
  const shift = mapTensor(m, (v) => (Number.isFinite(v) ? v : 0)); // all -inf (or an inf) must not give NaN
  const shifted = zipTensors('logSumExp', a, expand(shift, p, a.shape), (v, s) => Math.exp(v - s));
  const total = fold(shifted, p, 0, (s, v) => s + v);
  const out = new Tensor(zipTensors('logSumExp', total, shift, (t, s) => Math.log(t) + s).data, p.outShape);
  return record('logSumExp', [a], out, ([g]) => {
    if (isGradEnabled()) return [mul(exp(sub(a, spread(out, p, a.shape))), spread(g!, p, a.shape))];
    const soft = zipTensors('logSumExp', a, expand(out, p, a.shape), (v, l) => Math.exp(v - l));
    return [mul(soft, expand(g!, p, a.shape))];
  });
};

/** exp(x - logSumExp(x)) along axis (default last). d = y·(g - Σ g·y) */
const softmaxPrimal = (x: TensorLike, axis = -1): Tensor => {
  const a = input('softmax', x);
  const ax = normalizeAxis('softmax', axis, a.rank);
  const out = exp(logSoftmaxForward(a, ax));
  return record('softmax', [a], out, ([g]) => {
    const gy = mul(g!, out);
    return [sub(gy, mul(out, sum(gy, { axis: ax, keepDims: true })))];
  });
};

/** x - logSumExp(x) along axis (default last). d = g - softmax(x)·Σ g */
const logSoftmaxPrimal = (x: TensorLike, axis = -1): Tensor => {
  const a = input('logSoftmax', x);
  const ax = normalizeAxis('logSoftmax', axis, a.rank);
  const out = logSoftmaxForward(a, ax);
  return record('logSoftmax', [a], out, ([g]) => [
    sub(g!, mul(exp(out), sum(g!, { axis: ax, keepDims: true }))),
  ]);
};

function logSoftmaxForward(a: Tensor, axis: number): Tensor {
  const lse = logSumExp(a.detach(), { axis, keepDims: true });
  return zipTensors('logSoftmax', a, lse, (v, l) => v - l);
}

// The ops, each with its jvp rule (see elementwise.ts).

/** For max and min: 1 where x holds the extreme it was reduced to, and how many tie for it (constants). */
function ties(op: 'max' | 'min', x: TensorLike, options: ReduceOptions, out: Tensor) {
  const a = input(op, x);
  const p = plan(op, a, options);
  const hit = zipTensors(op, a, expand(out, p, a.shape), (v, m) => (v === m ? 1 : 0));
  return { hit, count: fold(hit, p, 0, (s, v) => s + v) };
}

/** Σ x over axes (all by default). dt = Σ t */
export const sum = differentiable('sum', sumPrimal, ([t], [, options]): Tensor => sum(t!, options));
/** The mean over axes (all by default). dt = mean t */
export const mean = differentiable('mean', meanPrimal, ([t], [, options]): Tensor => mean(t!, options));
/** The largest value over axes. dt = the mean of t over the elements that tie for the maximum */
export const max = differentiable('max', maxPrimal, ([t], [x, options = {}], out): Tensor => {
  const { hit, count } = ties('max', x, options, out);
  return div(sum(mul(t!, hit), options), count);
});
/** The smallest value over axes. dt = the mean of t over the elements that tie for the minimum */
export const min = differentiable('min', minPrimal, ([t], [x, options = {}], out): Tensor => {
  const { hit, count } = ties('min', x, options, out);
  return div(sum(mul(t!, hit), options), count);
});
/** log Σ exp(x) over axes, stable for large x. dt = Σ t·softmax(x) */
export const logSumExp = differentiable(
  'logSumExp',
  logSumExpPrimal,
  ([t], [x, options = {}], out): Tensor => {
    const kept = plan('logSumExp', input('logSumExp', x), options).kept;
    return sum(mul(t!, exp(sub(x, reshape(out, kept)))), options);
  },
);
/** exp(x - logSumExp(x)) along axis (default last). dt = y·(t - Σ y·t) */
export const softmax = differentiable(
  'softmax',
  softmaxPrimal,
  ([t], [, axis = -1], y): Tensor => mul(y, sub(t!, sum(mul(y, t!), { axis, keepDims: true }))),
);
/** x - logSumExp(x) along axis (default last). dt = t - Σ softmax(x)·t */
export const logSoftmax = differentiable(
  'logSoftmax',
  logSoftmaxPrimal,
  ([t], [, axis = -1], y): Tensor => sub(t!, sum(mul(exp(y), t!), { axis, keepDims: true })),
);

markLibraryCode(codeStart, new Error()); // and where it ends
