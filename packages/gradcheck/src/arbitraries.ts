// fast-check arbitraries for gradient checks: shapes, broadcastable shapes, and tensors whose
// values keep a margin from an op's kinks (so that central differences never straddle one).
import { type DType, RandomState, type Shape, type Tensor, tensor } from '@tapegrad/core';
import * as fc from 'fast-check';

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  minDim?: number;
  maxDim?: number;
}

/** Shapes that shrink towards fewer and shorter axes. Defaults: rank 0..3, sizes 1..3. */
export function shapes(options: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 3, minDim = 1, maxDim = 3 } = options;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * `count` shapes that broadcast together (numpy's rule): each is the common shape with some
 * leading axes dropped and some sizes set to 1. Shrinks towards equal, then smaller, shapes.
 */
export function broadcastableShapes(count: number, options: ShapeOptions = {}): fc.Arbitrary<number[][]> {
  const maxRank = options.maxRank ?? 3;
  const operand = fc.record({
    drop: fc.integer({ min: 0, max: maxRank }),
    ones: fc.array(fc.boolean(), { minLength: maxRank, maxLength: maxRank }),
  });
  return fc
    .tuple(shapes(options), fc.array(operand, { minLength: count, maxLength: count }))
    .map(([common, operands]) =>
      operands.map(({ drop, ones }) =>
        common.slice(Math.min(drop, common.length)).map((d, i) => (ones[i] ? 1 : d)),
      ),
    );
}

export interface TensorArbOptions {
  /** A fixed shape, or an arbitrary of shapes (default `shapes()`). */
  shape?: Shape | fc.Arbitrary<Shape>;
  dtype?: DType;
  min?: number;
  max?: number;
  /** Points to keep away from (kinks: 0 for relu and abs, the bounds of clip). */
  avoid?: readonly number[];
  /** Values must also differ pairwise by more than `margin` (no ties for max and min). */
  distinct?: boolean;
  /** Distance kept from kinks and between distinct values; must exceed the check's eps. */
  margin?: number;
}

/** Default distance from a kink: a thousand central-difference steps. */
export const defaultMargin = 1e-3;

/** Values in [min, max] (default [-2, 2]), away from `avoid` by `margin`. */
export function values(options: TensorArbOptions = {}): fc.Arbitrary<number> {
  const { min = -2, max = 2, avoid = [], margin = defaultMargin } = options;
  const value = fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return avoid.length === 0 ? value : value.filter((v) => avoid.every((p) => Math.abs(v - p) > margin));
}

/**
 * `size` values pairwise further apart than margin: distinct points of a grid of step 10·margin
 * (rejecting duplicates of fast-check's doubles would almost never end, as they favour 0 and the bounds).
 */
function distinctValues(size: number, options: TensorArbOptions): fc.Arbitrary<number[]> {
  const { min = -2, max = 2, avoid = [], margin = defaultMargin } = options;
  const step = 10 * margin;
  const point = fc
    .integer({ min: Math.ceil(min / step), max: Math.floor(max / step) })
    .filter((k) => avoid.every((p) => Math.abs(k * step - p) > margin));
  return fc.uniqueArray(point, { minLength: size, maxLength: size }).map((ks) => ks.map((k) => k * step));
}

/** Values for `fromPool`: as many as a tensor of shape `within` holds. */
export const pool = (options: TensorArbOptions = {}, within: Shape = [3, 3, 3]): fc.Arbitrary<number[]> => {
  const size = within.reduce((n, d) => n * d, 1);
  return fc.array(values(options), { minLength: size, maxLength: size });
};

/**
 * The block of shape `shape` at the origin of a tensor of shape `within` holding the pool (axes
 * aligned on the right; sizes beyond `within` wrap around). Cropping keeps each remaining value in
 * place, so fast-check can shrink a shape without disturbing the values that make a check fail.
 */
export function fromPool(
  values: readonly number[],
  shape: Shape,
  dtype: DType = 'float64',
  within: Shape = shape,
): Tensor {
  const size = shape.reduce((n, d) => n * d, 1);
  const lead = within.length - shape.length;
  const data = new Array<number>(size);
  for (let i = 0; i < size; i++) {
    let pos = 0;
    let stride = 1;
    for (let ax = shape.length - 1, rest = i; ax >= 0; ax--) {
      const d = shape[ax]!;
      const w = within[ax + lead] ?? d;
      pos += (rest % d) * stride;
      stride *= w;
      rest = Math.floor(rest / d);
    }
    data[i] = values[pos % values.length]!;
  }
  return tensor(data, { dtype, shape });
}

/**
 * Tensors of a shape (fixed or drawn) with values from `values(options)`. A drawn shape and the
 * values are drawn side by side, not one after the other, so that fast-check keeps shrinking both
 * (it never returns to the shape once it has started on values of a chain).
 */
export function tensors(options: TensorArbOptions = {}): fc.Arbitrary<Tensor> {
  const { shape = shapes(), dtype = 'float64', distinct = false } = options;
  const build = (s: Shape): fc.Arbitrary<Tensor> => {
    const size = s.reduce((n, d) => n * d, 1);
    const data = distinct
      ? distinctValues(size, options)
      : fc.array(values(options), { minLength: size, maxLength: size });
    return data.map((d) => tensor(d, { dtype, shape: s }));
  };
  if (Array.isArray(shape)) return build(shape as Shape);
  const drawn = shape as fc.Arbitrary<Shape>;
  if (distinct) return drawn.chain(build);
  const within = [3, 3, 3];
  return fc.tuple(drawn, pool(options, within)).map(([s, p]) => fromPool(p, s, dtype, within));
}

/** 0/1 masks (as `where` takes them) of a shape, fixed or drawn. */
export function masks(options: Pick<TensorArbOptions, 'shape' | 'dtype'> = {}): fc.Arbitrary<Tensor> {
  const { shape = shapes(), dtype = 'float64' } = options;
  const build = (s: Shape): fc.Arbitrary<Tensor> => {
    const size = s.reduce((n, d) => n * d, 1);
    return fc
      .array(fc.constantFrom(0, 1), { minLength: size, maxLength: size })
      .map((d) => tensor(d, { dtype, shape: s }));
  };
  return Array.isArray(shape) ? build(shape as Shape) : (shape as fc.Arbitrary<Shape>).chain(build);
}

/**
 * Tensors of the drawn shapes filled by a seeded uniform draw in [min, max]: only the shapes and
 * the seed shrink, so a witness has the smallest shapes at which generic values fail. (Shrinking
 * values too can stall at a larger shape: the value that fails may sit where a smaller shape
 * would crop it away.) No `avoid`: generic values miss a kink with probability one.
 */
export function seededTensors(
  shapeList: fc.Arbitrary<readonly Shape[]>,
  options: Pick<TensorArbOptions, 'min' | 'max' | 'dtype'> = {},
): fc.Arbitrary<Tensor[]> {
  const { min = -2, max = 2, dtype = 'float64' } = options;
  return fc.tuple(shapeList, fc.nat({ max: 0xffffffff })).map(([list, seed]) => {
    const rng = new RandomState(seed);
    return list.map((s) => rng.uniform(min, max, s, { dtype }));
  });
}
