// Shape arithmetic: validation, sizes, strides, numpy broadcasting, axis normalisation.

export type Shape = readonly number[];

/** Raised for shapes that do not fit an op; the message names the op and the shapes. */
export class ShapeError extends RangeError {
  override name = 'ShapeError';
}

export const fmt = (shape: Shape): string => `[${shape.join(',')}]`;

/** The most elements a typed array can hold (V8's limit). */
const MAX_ELEMENTS = 2 ** 32;

/** Checks that every dimension is a non-negative integer (NaN, -1 and 2.5 are refused). */
export function checkShape(op: string, shape: unknown): Shape {
  if (!Array.isArray(shape))
    throw new ShapeError(`${op}: shape must be an array of sizes, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid size ${String(d)} in shape [${shape.map(String).join(',')}]`);
    }
  }
  const size = sizeOf(shape as Shape);
  if (size > MAX_ELEMENTS) {
    throw new ShapeError(
      `${op}: shape [${shape.join(',')}] has ${size} elements, more than a typed array holds (2^32)`,
    );
  }
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
