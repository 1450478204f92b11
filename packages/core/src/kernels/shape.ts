// Data movement for the shape ops: box copies (slice, concat), axis permutation, and gathers by
// precomputed offsets (indexSelect, gather) with their scatter-add adjoints.
import type { TypedArray } from '../dtype.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';

/**
 * Copies a box of shape `box` from src (of srcShape), corner srcStart, into dst (of dstShape),
 * corner dstStart. Slice, its adjoint, and concat are all this one copy.
 */
export function copyBox(
  src: TypedArray,
  srcShape: Shape,
  srcStart: readonly number[],
  dst: TypedArray,
  dstShape: Shape,
  dstStart: readonly number[],
  box: Shape,
): TypedArray {
  const rank = box.length;
  if (sizeOf(box) === 0) return dst;
  if (rank === 0) {
    dst[0] = src[0]!;
    return dst;
  }
  const ss = stridesOf(srcShape);
  const ds = stridesOf(dstShape);
  let ps = 0;
  let pd = 0;
  for (let ax = 0; ax < rank; ax++) {
    ps += srcStart[ax]! * ss[ax]!;
    pd += dstStart[ax]! * ds[ax]!;
  }
  // The last axis is contiguous in both buffers: copy it as a run, step the outer axes by odometer.
  const inner = box[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  for (let done = 0, total = sizeOf(box); done < total; done += inner) {
    for (let j = 0; j < inner; j++) dst[pd + j] = src[ps + j]!;
    for (let ax = rank - 2; ax >= 0; ax--) {
      index[ax]!++;
      ps += ss[ax]!;
      pd += ds[ax]!;
      if (index[ax]! < box[ax]!) break;
      ps -= ss[ax]! * box[ax]!;
      pd -= ds[ax]! * box[ax]!;
      index[ax] = 0;
    }
  }
  return dst;
}

/** out = x (of shape) with its axes reordered: out's axis i is x's axis axes[i]. */
export function permuteInto(
  x: TypedArray,
  shape: Shape,
  axes: readonly number[],
  out: TypedArray,
): TypedArray {
  const rank = shape.length;
  const outShape = axes.map((a) => shape[a]!);
  const n = sizeOf(outShape);
  if (n === 0) return out;
  if (rank === 0) {
    out[0] = x[0]!;
    return out;
  }
  const own = stridesOf(shape);
  const read = axes.map((a) => own[a]!); // stride in x of each output axis
  const inner = outShape[rank - 1]!;
  const step = read[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  let p = 0;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, q = p; j < inner; j++, q += step) out[o + j] = x[q]!;
    for (let ax = rank - 2; ax >= 0; ax--) {
      index[ax]!++;
      p += read[ax]!;
      if (index[ax]! < outShape[ax]!) break;
      p -= read[ax]! * outShape[ax]!;
      index[ax] = 0;
    }
  }
  return out;
}

/**
 * Offsets for torch.gather along `axis`: for each position p of indexShape, the flat offset in x
 * (of shape) of p with its axis coordinate replaced by index[p]. Returns the flat position of the
 * first index that is not an integer in [0, shape[axis]), or -1 when all are.
 */
export function gatherOffsets(
  shape: Shape,
  axis: number,
  index: TypedArray,
  indexShape: Shape,
  offsets: Int32Array,
): number {
  const rank = shape.length;
  const n = index.length;
  if (n === 0) return -1;
  const strides = stridesOf(shape);
  const axisLength = shape[axis]!;
  const axisStride = strides[axis]!;
  const position = new Array<number>(rank).fill(0);
  let base = 0; // offset of p in x ignoring the gathered axis
  for (let i = 0; i < n; i++) {
    const v = index[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= axisLength) return i;
    offsets[i] = base + v * axisStride;
    for (let ax = rank - 1; ax >= 0; ax--) {
      position[ax]!++;
      if (ax !== axis) base += strides[ax]!;
      if (position[ax]! < indexShape[ax]!) break;
      if (ax !== axis) base -= strides[ax]! * indexShape[ax]!;
      position[ax] = 0;
    }
  }
  return -1;
}

/**
 * Offsets for torch.index_select: x viewed as [outer, axisLength, inner], output as
 * [outer, index.length, inner]. Returns the position of the first bad index, or -1.
 */
export function selectOffsets(
  outer: number,
  axisLength: number,
  inner: number,
  index: TypedArray,
  offsets: Int32Array,
): number {
  for (let j = 0; j < index.length; j++) {
    const v = index[j]!;
    if (!Number.isInteger(v) || v < 0 || v >= axisLength) return j;
  }
  const k = index.length;
  for (let o = 0, q = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const from = (o * axisLength + index[j]!) * inner;
      for (let i = 0; i < inner; i++) offsets[q++] = from + i;
    }
  }
  return -1;
}

/** out[i] = x[offsets[i]]. */
export function takeInto(x: TypedArray, offsets: Int32Array, out: TypedArray): TypedArray {
  for (let i = 0; i < out.length; i++) out[i] = x[offsets[i]!]!;
  return out;
}

/** out[offsets[i]] += g[i]: the adjoint of takeInto; repeated offsets accumulate. */
export function scatterAdd(g: TypedArray, offsets: Int32Array, out: TypedArray): TypedArray {
  for (let i = 0; i < g.length; i++) out[offsets[i]!] = out[offsets[i]!]! + g[i]!;
  return out;
}
