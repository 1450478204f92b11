// Shape arithmetic: validation, sizes, strides, numpy broadcasting, axis normalisation, and the byte
// limit on one tensor buffer.
import type { DType } from './dtype.js';

export type Shape = readonly number[];

/** Raised for shapes that do not fit an op; the message names the op and the shapes. */
export class ShapeError extends RangeError {
  override name = 'ShapeError';
}

export const fmt = (shape: Shape): string => `[${shape.join(',')}]`;

/**
 * The most bytes one tensor buffer may take: 2 GiB (2^29 float32 or 2^28 float64 values). V8 itself
 * allows typed arrays of 2^32 elements, 32 GiB in float64, and grants such a request lazily: the first
 * op to touch the pages is then killed by the OS, with no message. 2 GiB is also what lets a float32
 * operand fit the wasm kernels' memory (wasm32: 4 GiB in all) beside the call's other operands.
 * Every buffer of tensor values is checked against it before anything is allocated.
 */
export const MAX_BUFFER_BYTES = 2 ** 31;

export const bytesPerElement = (dtype: DType): number => (dtype === 'float64' ? 8 : 4);

/** A byte count for a message: exact, and in GiB (or MiB) for a reader. */
export function fmtBytes(bytes: number): string {
  const gib = bytes / 2 ** 30;
  const human =
    gib >= 1 ? `${Number(gib.toPrecision(4))} GiB` : `${Number((bytes / 2 ** 20).toPrecision(4))} MiB`;
  return `${bytes} bytes (${human})`;
}

/**
 * Refuses a buffer of `dtype` values of `shape` that would take more than MAX_BUFFER_BYTES, naming the
 * op, the shape, the dtype and the bytes against the limit. Call it before allocating.
 */
export function checkBytes(op: string, shape: Shape, dtype: DType): void {
  const bytes = sizeOf(shape) * bytesPerElement(dtype);
  if (bytes > MAX_BUFFER_BYTES) {
    throw new ShapeError(
      `${op}: shape ${fmt(shape)} of ${dtype} needs ${fmtBytes(bytes)}, more than the ` +
        `${fmtBytes(MAX_BUFFER_BYTES)} one tensor buffer may take (MAX_BUFFER_BYTES)`,
    );
  }
}

/**
 * Checks that every dimension is a non-negative integer (NaN, -1 and 2.5 are refused) and, given the
 * dtype of the buffer the shape is for, that the buffer is within MAX_BUFFER_BYTES.
 */
export function checkShape(op: string, shape: unknown, dtype?: DType): Shape {
  if (!Array.isArray(shape))
    throw new ShapeError(`${op}: shape must be an array of sizes, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid size ${String(d)} in shape [${shape.map(String).join(',')}]`);
    }
  }
  if (dtype !== undefined) checkBytes(op, shape as Shape, dtype);
  return shape as Shape;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** numpy's broadcasting rule: align on the right, sizes equal or one of them 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i]!;
      const o = out[j]!;
      if (o === 1) out[j] = d;
      else if (d !== 1 && d !== o) {
        throw new ShapeError(`${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast together`);
      }
    }
  }
  return out;
}

/**
 * Strides for reading a tensor of `shape` as if it had `outShape` (broadcast dims get stride 0).
 * `shape` must broadcast to `outShape`.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  const offset = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[i + offset] = shape[i] === 1 ? 0 : own[i]!;
  return out;
}

/** Normalises an axis (negative counts from the end), naming the op when it is out of range. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalises an axis list (undefined = all axes), sorted, refusing duplicates. */
export function normalizeAxes(
  op: string,
  axis: number | readonly number[] | undefined,
  rank: number,
): number[] {
  if (axis === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axis === 'number' ? [axis] : [...axis];
  const out = list.map((a) => normalizeAxis(op, a, rank)).sort((a, b) => a - b);
  for (let i = 1; i < out.length; i++) {
    if (out[i] === out[i - 1]) throw new ShapeError(`${op}: axis ${out[i]} repeated in [${list.join(',')}]`);
  }
  return out;
}
