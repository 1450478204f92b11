// Reductions over a set of axes, as loops over typed arrays.

import type { SumRowsArgs } from '../backend/backend.js';
import { sumRows } from '../backend/choose.js';
import type { TypedArray } from '../dtype.js';
import { type Shape, stridesOf } from '../shape.js';
import { isTrailing } from './elementwise.js';

/**
 * Folds x (of shape) over `axes` into out (the shape with those axes set to 1), starting each
 * output from `init` and combining with f. Walks x once, in memory order.
 */
export function reduceAxes(
  x: TypedArray,
  shape: Shape,
  axes: readonly number[],
  out: TypedArray,
  init: number,
  f: (acc: number, v: number) => number,
): TypedArray {
  out.fill(init);
  const rank = shape.length;
  const keep = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outStrides = stridesOf(keep).map((s, i) => (axes.includes(i) ? 0 : s));
  if (x.length === 0) return out;
  if (rank === 0) {
    out[0] = f(out[0]!, x[0]!);
    return out;
  }
  const index = new Array<number>(rank).fill(0);
  const inner = shape[rank - 1]!;
  const innerStride = outStrides[rank - 1]!;
  let po = 0;
  for (let i = 0; i < x.length; i += inner) {
    for (let j = 0, q = po; j < inner; j++, q += innerStride) out[q] = f(out[q]!, x[i + j]!);
    for (let ax = rank - 2; ax >= 0; ax--) {
      index[ax]!++;
      po += outStrides[ax]!;
      if (index[ax]! < shape[ax]!) break;
      po -= outStrides[ax]! * shape[ax]!;
      index[ax] = 0;
    }
  }
  return out;
}

/** Sums x (of shape, broadcast from target) back down to target's element count (undoes broadcasting). */
export function sumToShape(x: TypedArray, shape: Shape, target: Shape, out: TypedArray): TypedArray {
  const offset = shape.length - target.length;
  if (isTrailing(target, shape)) {
    // Only leading axes go (a bias grad over rows): rows added in memory order, as reduceAxes does.
    const width = out.length;
    sumRows({ x, rows: width === 0 ? 0 : x.length / width, width, out });
    return out;
  }
  const axes: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (i < offset || (target[i - offset] === 1 && shape[i] !== 1)) axes.push(i);
  }
  return reduceAxes(x, shape, axes, out, 0, (acc, v) => acc + v);
}

/** The JS backend's sumRows: out[j] = Σ_i x[i, j], rows added in memory order. */
export function sumRowsJs({ x, rows, width, out }: SumRowsArgs): void {
  out.fill(0, 0, width);
  const n = rows * width;
  for (let i = 0; i < n; i += width) for (let j = 0; j < width; j++) out[j] = out[j]! + x[i + j]!;
}
