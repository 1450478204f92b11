// Elementwise loops over typed arrays, with numpy broadcasting done by strides (no copies).
import type { TypedArray } from '../dtype.js';
import { broadcastStrides, type Shape, sizeOf } from '../shape.js';

export type Unary = (x: number) => number;
export type Binary = (a: number, b: number) => number;

export function map(x: TypedArray, out: TypedArray, f: Unary): TypedArray {
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
  return out;
}

/** out[i] = a[i] + b[i] over equal-length buffers (grad accumulation). */
export function addInto(a: TypedArray, b: TypedArray, out: TypedArray): TypedArray {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/**
 * out = f(a, b) with a of aShape and b of bShape broadcast to outShape. Equal shapes and
 * scalar operands take flat loops; the general case walks an odometer over outShape.
 */
export function zipBroadcast(
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  out: TypedArray,
  outShape: Shape,
  f: Binary,
): TypedArray {
  const n = out.length;
  if (a.length === n && b.length === n) {
    for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
    return out;
  }
  if (b.length === 1 && a.length === n) {
    const s = b[0]!;
    for (let i = 0; i < n; i++) out[i] = f(a[i]!, s);
    return out;
  }
  if (a.length === 1 && b.length === n) {
    const s = a[0]!;
    for (let i = 0; i < n; i++) out[i] = f(s, b[i]!);
    return out;
  }
  if (n === 0) return out;
  const rank = outShape.length;
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const index = new Array<number>(rank).fill(0);
  // The innermost axis runs as a tight loop; the odometer advances the outer ones.
  const inner = outShape[rank - 1]!;
  const ia = sa[rank - 1]!;
  const ib = sb[rank - 1]!;
  let pa = 0;
  let pb = 0;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, qa = pa, qb = pb; j < inner; j++, qa += ia, qb += ib) out[o + j] = f(a[qa]!, b[qb]!);
    for (let ax = rank - 2; ax >= 0; ax--) {
      index[ax]!++;
      pa += sa[ax]!;
      pb += sb[ax]!;
      if (index[ax]! < outShape[ax]!) break;
      pa -= sa[ax]! * outShape[ax]!;
      pb -= sb[ax]! * outShape[ax]!;
      index[ax] = 0;
    }
  }
  return out;
}

/** Reads x (of shape) broadcast to outShape into out. */
export function broadcastInto(x: TypedArray, shape: Shape, out: TypedArray, outShape: Shape): TypedArray {
  if (x.length === sizeOf(outShape)) {
    out.set(x);
    return out;
  }
  if (out.length === 0) return out;
  if (isTrailing(shape, outShape)) {
    // x is a whole row of out repeated (a bias over rows): one row, then the rows so far copied after
    // themselves (native copies of 1, 2, 4, ... rows, the last cut at the end, not a loop over values).
    out.set(x);
    for (let filled = x.length; filled < out.length; filled *= 2) out.copyWithin(filled, 0, filled);
    return out;
  }
  return zipBroadcast(x, shape, x.subarray(0, Math.min(1, x.length)), [], out, outShape, (v) => v);
}

/** Whether shape is outShape's last axes exactly (no size-1 axis to stretch), and not empty. */
export function isTrailing(shape: Shape, outShape: Shape): boolean {
  const offset = outShape.length - shape.length;
  if (offset < 0) return false;
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== outShape[offset + i]) return false;
    size *= shape[i]!;
  }
  return size > 0;
}

/** 1/(1+e^-x), computed from the side where the exponential cannot overflow. */
export function stableSigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/**
 * e^x for float32 results, faster than Math.exp where the float32 gate loops' sigmoid and tanh need
 * it (bench/README): 2^k·e^r with |r| ≤ ln2/2, e^r by a degree-8 polynomial and 2^k from a table;
 * relative error below 3e-10, far under float32's 6e-8.
 */
const POW2 = Float64Array.from({ length: 301 }, (_, i) => 2 ** (i - 150));
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
/** 1.5·2^52: adding then subtracting it rounds a float64 to the nearest integer. */
const ROUND = 6755399441055744;

export function expFloat32(x: number): number {
  // Past ±100 every use saturates (float32 sigmoid and tanh; softmax takes 0 below -100); NaN stays NaN.
  const v = x > 100 ? 100 : Math.max(x, -100);
  const k = v * Math.LOG2E + ROUND - ROUND;
  const r = v - k * LN2_HI - k * LN2_LO;
  const p =
    1 +
    r *
      (1 +
        r *
          (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r / 40320)))))));
  return p * POW2[(k | 0) + 150]!;
}
