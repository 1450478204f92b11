// Reductions over a set of axes, as loops over typed arrays.
import type { TypedArray } from '../dtype.js';
import { type Shape, stridesOf } from '../shape.js';
import { isTrailing } from './elementwise.js';
import { onRecurrentWasm } from './matmul.js';
import { sumRowsWasm } from './wasm/reduce.js';

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

/** Values below which a float32 bias grad is summed in JS (the wasm call's copies cost more). */
const WASM_MIN_SUM = 4096;

/** Sums x (of shape, broadcast from target) back down to target's element count (undoes broadcasting). */
export function sumToShape(x: TypedArray, shape: Shape, target: Shape, out: TypedArray): TypedArray {
  const offset = shape.length - target.length;
  if (isTrailing(target, shape)) {
    // Only leading axes go (a bias grad over rows): rows added in memory order, as reduceAxes does.
    const width = out.length;
    if (
      x instanceof Float32Array &&
      out instanceof Float32Array &&
      width % 4 === 0 &&
      x.length >= WASM_MIN_SUM &&
      onRecurrentWasm(x.length)
    ) {
      // The same sums 4 columns at a time in wasm: faster than this loop, copy included (bench/README).
      sumRowsWasm(x, x.length / width, width, out);
      return out;
    }
    out.fill(0);
    for (let i = 0; i < x.length; i += width) for (let j = 0; j < width; j++) out[j] = out[j]! + x[i + j]!;
    return out;
  }
  const axes: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (i < offset || (target[i - offset] === 1 && shape[i] !== 1)) axes.push(i);
  }
  return reduceAxes(x, shape, axes, out, 0, (acc, v) => acc + v);
}
