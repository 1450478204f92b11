// Shape ops: views (reshape, squeeze, unsqueeze) that share the immutable buffer, copies
// (permute, slice, concat, stack, split, broadcastTo) and gathers (indexSelect, gather).
// A vjp that moves g's values with a kernel moves them with recorded ops when recording is on (a
// graph-building backward): the gathers and slice scatter through `scatter`, whose vjp is `take`.
import { markLibraryCode } from '../callSite.js';
import { type DType, DTypeError, type TypedArray } from '../dtype.js';
import { differentiable } from '../forward.js';
import { broadcastInto } from '../kernels/elementwise.js';
import {
  copyBox,
  gatherOffsets,
  permuteInto,
  scatterAdd,
  selectOffsets,
  takeInto,
} from '../kernels/shape.js';
import { allocate } from '../memory/arena.js';
import { isGradEnabled } from '../mode.js';
import {
  broadcastShapes,
  checkBytes,
  checkShape,
  fmt,
  normalizeAxes,
  normalizeAxis,
  type Shape,
  ShapeError,
  sameShape,
  sizeOf,
  stridesOf,
} from '../shape.js';
import { record } from '../tape.js';
import { Tensor, tensor, zerosLike } from '../tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

function need(op: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${String(x)}`);
  return x;
}

/** x's buffer under another shape of the same size. d = g read back in x's shape */
function view(op: string, x: Tensor, shape: Shape): Tensor {
  return record(op, [x], new Tensor(x.data, shape), ([g]) => [
    isGradEnabled() ? reshape(g!, x.shape) : new Tensor(g!.data, x.shape),
  ]);
}

/** numpy's reshape: the same elements in row-major order; one -1 is inferred from the rest. */
const reshapePrimal = (x: Tensor, shape: readonly number[]): Tensor => {
  const a = need('reshape', x);
  if (!Array.isArray(shape)) throw new ShapeError(`reshape: shape must be an array, got ${String(shape)}`);
  // One pass, no closures: reshape sits in every model's hot path, usually with nothing to infer.
  for (const d of shape) {
    if (!Number.isInteger(d) || d < -1) throw new ShapeError(`reshape: invalid size ${d} in ${fmt(shape)}`);
  }
  let unknown = -1;
  let known = 1;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== -1) known *= shape[i]!;
    else if (unknown >= 0) throw new ShapeError(`reshape: only one -1 allowed in ${fmt(shape)}`);
    else unknown = i;
  }
  // With a 0 among the known sizes, -1 could be anything: numpy refuses it, and so do we.
  if (unknown < 0 ? known !== a.size : known === 0 || a.size % known !== 0) {
    throw new ShapeError(`reshape: cannot reshape ${fmt(a.shape)} (${a.size} elements) into ${fmt(shape)}`);
  }
  if (unknown < 0) return view('reshape', a, shape);
  const inferred = shape.slice();
  inferred[unknown] = a.size / known;
  return view('reshape', a, inferred);
};

/** Removes the given size-1 axes (default: every size-1 axis). */
const squeezePrimal = (x: Tensor, axis?: number | readonly number[]): Tensor => {
  const a = need('squeeze', x);
  const axes =
    axis === undefined
      ? a.shape.flatMap((d, i) => (d === 1 ? [i] : []))
      : normalizeAxes('squeeze', axis, a.rank);
  for (const ax of axes) {
    if (a.shape[ax] !== 1) {
      throw new ShapeError(`squeeze: axis ${ax} has size ${a.shape[ax]}, not 1, in shape ${fmt(a.shape)}`);
    }
  }
  return view(
    'squeeze',
    a,
    a.shape.filter((_, i) => !axes.includes(i)),
  );
};

/** An axis position in [-(rank+1), rank] for a new axis (unsqueeze, stack), normalised. */
function newAxis(op: string, axis: number, shape: Shape): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -(rank + 1) || axis > rank) {
    throw new ShapeError(
      `${op}: axis ${axis} is out of range [${-(rank + 1)}, ${rank}] for shape ${fmt(shape)}`,
    );
  }
  return axis < 0 ? axis + rank + 1 : axis;
}

const withAxis = (shape: Shape, axis: number): number[] => [...shape.slice(0, axis), 1, ...shape.slice(axis)];

/** Inserts a size-1 axis at `axis` (negative counts from the end of the result). */
const unsqueezePrimal = (x: Tensor, axis: number): Tensor => {
  const a = need('unsqueeze', x);
  return view('unsqueeze', a, withAxis(a.shape, newAxis('unsqueeze', axis, a.shape)));
};

function permuteAs(op: string, x: Tensor, axes: readonly number[]): Tensor {
  if (!Array.isArray(axes) || axes.length !== x.rank) {
    throw new ShapeError(`${op}: axes [${String(axes)}] do not match rank ${x.rank} of ${fmt(x.shape)}`);
  }
  const order = axes.map((ax) => normalizeAxis(op, ax, x.rank));
  if (new Set(order).size !== order.length) {
    throw new ShapeError(`${op}: axes [${axes.join(',')}] are not a permutation of 0..${x.rank - 1}`);
  }
  const shape = order.map((ax) => x.shape[ax]!);
  const identity = order.every((ax, i) => ax === i);
  const data = identity ? x.data : permuteInto(x.data, x.shape, order, allocate(x.dtype, x.size));
  const inverse = new Array<number>(order.length);
  order.forEach((ax, i) => {
    inverse[ax] = i;
  });
  // d = g permuted by the inverse permutation (by the registry's permute, which carries tangents)
  return record(op, [x], new Tensor(data, shape), ([g]) => [permute(g!, inverse)]);
}

/** Reorders the axes: the result's axis i is x's axis axes[i] (negatives allowed). */
const permutePrimal = (x: Tensor, axes: readonly number[]): Tensor =>
  permuteAs('permute', need('permute', x), axes);

/** numpy's transpose: permute, with all axes reversed by default. */
const transposePrimal = (x: Tensor, axes?: readonly number[]): Tensor => {
  const a = need('transpose', x);
  return permuteAs('transpose', a, axes ?? a.shape.map((_, i) => a.rank - 1 - i));
};

/** Lays blocks of the given shapes side by side along axis into a fresh buffer of outShape. */
function joinAlong(
  dtype: DType,
  blocks: readonly TypedArray[],
  shapes: readonly Shape[],
  axis: number,
  outShape: Shape,
) {
  const out = allocate(dtype, sizeOf(outShape));
  const corner = outShape.map(() => 0);
  const origin = outShape.map(() => 0);
  blocks.forEach((data, i) => {
    const shape = shapes[i]!;
    copyBox(data, shape, origin, out, outShape, corner, shape);
    corner[axis]! += shape[axis]!;
  });
  return out;
}

/** Cuts data (of shape) along axis into blocks of the given shapes: the inverse of joinAlong. */
function cutAlong(dtype: DType, data: TypedArray, shape: Shape, axis: number, shapes: readonly Shape[]) {
  const corner = shape.map(() => 0);
  const origin = shape.map(() => 0);
  return shapes.map((s) => {
    const block = copyBox(data, shape, corner, allocate(dtype, sizeOf(s)), s, origin, s);
    corner[axis]! += s[axis]!;
    return block;
  });
}

/** The tensors of a concat or stack: a non-empty array, one dtype. */
function pieces(op: string, tensors: readonly Tensor[]): readonly Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new TypeError(`${op}: expected a non-empty array of tensors`);
  }
  tensors.forEach((t, i) => {
    need(`${op}: tensor ${i}`, t);
    if (t.dtype !== tensors[0]!.dtype) {
      throw new DTypeError(
        `${op}: tensor ${i} is ${t.dtype}, tensor 0 is ${tensors[0]!.dtype} (cast with astype)`,
      );
    }
  });
  return tensors;
}

/** Joins blocks (the tensors laid out in `shapes`) along axis. d = g cut back into the pieces */
function join(op: string, ts: readonly Tensor[], shapes: readonly Shape[], axis: number): Tensor {
  const outShape = [...shapes[0]!];
  outShape[axis] = shapes.reduce((n, s) => n + s[axis]!, 0);
  const dtype = ts[0]!.dtype;
  checkBytes(op, outShape, dtype);
  const data = joinAlong(
    dtype,
    ts.map((t) => t.data),
    shapes,
    axis,
    outShape,
  );
  return record(op, ts, new Tensor(data, outShape), ([g]) =>
    isGradEnabled()
      ? split(
          g!,
          shapes.map((s) => s[axis]!),
          axis,
        ).map((piece, i) => reshape(piece, ts[i]!.shape))
      : cutAlong(dtype, g!.data, outShape, axis, shapes).map((block, i) => new Tensor(block, ts[i]!.shape)),
  );
}

/** numpy's concatenate: shapes must match except along axis. */
const concatPrimal = (tensors: readonly Tensor[], axis = 0): Tensor => {
  const ts = pieces('concat', tensors);
  const first = ts[0]!.shape;
  const ax = normalizeAxis('concat', axis, first.length);
  ts.forEach((t, i) => {
    if (t.rank !== first.length || t.shape.some((d, k) => k !== ax && d !== first[k])) {
      throw new ShapeError(
        `concat: tensor ${i} has shape ${fmt(t.shape)}, tensor 0 has ${fmt(first)}; shapes must match except on axis ${ax}`,
      );
    }
  });
  return join(
    'concat',
    ts,
    ts.map((t) => t.shape),
    ax,
  );
};

/** numpy's stack: equal shapes, joined along a new axis. */
const stackPrimal = (tensors: readonly Tensor[], axis = 0): Tensor => {
  const ts = pieces('stack', tensors);
  const first = ts[0]!.shape;
  ts.forEach((t, i) => {
    if (!sameShape(t.shape, first)) {
      throw new ShapeError(
        `stack: tensor ${i} has shape ${fmt(t.shape)}, tensor 0 has ${fmt(first)}; all must be equal`,
      );
    }
  });
  const ax = newAxis('stack', axis, first);
  return join(
    'stack',
    ts,
    ts.map((t) => withAxis(t.shape, ax)),
    ax,
  );
};

/**
 * torch.split with explicit sizes, or numpy.split with a section count: `sizes` (non-negative,
 * summing to the axis length) gives the length of each piece — unlike numpy.split, an array is
 * sizes, not cut indices; a number k gives k equal pieces (the length must divide by k).
 * d = the pieces' grads joined back along axis
 */
const splitPrimal = (x: Tensor, sizesOrSections: number | readonly number[], axis = 0): Tensor[] => {
  const a = need('split', x);
  const ax = normalizeAxis('split', axis, a.rank);
  const length = a.shape[ax]!;
  let sizes: number[];
  if (typeof sizesOrSections === 'number') {
    const k = sizesOrSections;
    if (!Number.isInteger(k) || k <= 0)
      throw new ShapeError(`split: sections must be a positive integer, got ${k}`);
    if (length % k !== 0) {
      throw new ShapeError(
        `split: axis ${ax} of ${fmt(a.shape)} has length ${length}, which does not divide into ${k} equal sections`,
      );
    }
    sizes = new Array<number>(k).fill(length / k);
  } else {
    sizes = [...checkShape('split', sizesOrSections)];
    const total = sizes.reduce((n, s) => n + s, 0);
    if (total !== length) {
      throw new ShapeError(
        `split: sizes [${sizes.join(',')}] sum to ${total}, but axis ${ax} of ${fmt(a.shape)} has length ${length}`,
      );
    }
  }
  const shapes = sizes.map((s) => a.shape.map((d, i) => (i === ax ? s : d)));
  const outputs = cutAlong(a.dtype, a.data, a.shape, ax, shapes).map(
    (block, i) => new Tensor(block, shapes[i]!),
  );
  return record('split', [a], outputs, (grads) => [
    isGradEnabled()
      ? concat(grads, ax)
      : new Tensor(
          joinAlong(
            a.dtype,
            grads.map((g) => g.data),
            shapes,
            ax,
            a.shape,
          ),
          a.shape,
        ),
  ]);
};

/**
 * x[starts[0]:stops[0], starts[1]:stops[1], ...] with step 1. Missing entries take the whole
 * axis; negatives count from the end; out-of-range bounds are clamped, as in numpy's basic
 * slicing. d = g scattered into zeros at the slice
 */
const slicePrimal = (x: Tensor, starts: readonly number[], stops: readonly number[]): Tensor => {
  const a = need('slice', x);
  for (const [name, list] of [
    ['starts', starts],
    ['stops', stops],
  ] as const) {
    if (!Array.isArray(list)) throw new TypeError(`slice: ${name} must be an array of integers`);
    if (list.length > a.rank) {
      throw new ShapeError(
        `slice: ${name} [${String(list)}] has more entries than the rank of ${fmt(a.shape)}`,
      );
    }
    list.forEach((v, ax) => {
      if (!Number.isInteger(v)) throw new ShapeError(`slice: ${name} ${v} on axis ${ax} is not an integer`);
    });
  }
  const clamp = (v: number, n: number): number => (v < 0 ? Math.max(0, v + n) : Math.min(v, n));
  const begin = a.shape.map((n, ax) => clamp(starts[ax] ?? 0, n));
  const shape = a.shape.map((n, ax) => Math.max(0, clamp(stops[ax] ?? n, n) - begin[ax]!));
  const origin = shape.map(() => 0);
  const data = copyBox(a.data, a.shape, begin, allocate(a.dtype, sizeOf(shape)), shape, origin, shape);
  return record('slice', [a], new Tensor(data, shape), ([g]) => {
    if (isGradEnabled()) {
      // The slice's flat positions in a: copyBox of the positions themselves.
      const positions = Float64Array.from({ length: a.size }, (_, i) => i);
      const at = copyBox(positions, a.shape, begin, new Float64Array(sizeOf(shape)), shape, origin, shape);
      return [scatter('slice', g!, Int32Array.from(at), a.shape)];
    }
    return [
      new Tensor(copyBox(g!.data, shape, origin, allocate(a.dtype, a.size), a.shape, begin, shape), a.shape),
    ];
  });
};

/** numpy's broadcast_to. d = g, which the engine sums back over the broadcast axes */
const broadcastToPrimal = (x: Tensor, shape: readonly number[]): Tensor => {
  const a = need('broadcastTo', x);
  const target = checkShape('broadcastTo', shape, a.dtype);
  let fits = target.length >= a.rank;
  try {
    fits = fits && sameShape(broadcastShapes('broadcastTo', a.shape, target), target);
  } catch {
    fits = false;
  }
  if (!fits) throw new ShapeError(`broadcastTo: cannot broadcast ${fmt(a.shape)} to ${fmt(target)}`);
  const data = broadcastInto(a.data, a.shape, allocate(a.dtype, sizeOf(target)), target);
  return record('broadcastTo', [a], new Tensor(data, target), ([g]) => [g!]);
};

/** The multi-index of flat position i in shape, for error messages. */
function position(i: number, shape: Shape): string {
  return fmt(stridesOf(shape).map((s, ax) => Math.floor(i / s) % shape[ax]!));
}

function badIndex(op: string, value: number, at: string, axis: number, length: number): RangeError {
  const why = Number.isInteger(value)
    ? `is out of range for axis ${axis} of size ${length}`
    : 'is not an integer';
  return new RangeError(`${op}: index ${value} at position ${at} ${why}`);
}

/**
 * torch.index_select: the entries of x at `indices` (1-D, integer-valued, in [0, size)) along axis.
 * Negative indices are refused, as torch does. d = g scatter-added back (repeats accumulate)
 */
const indexSelectPrimal = (x: Tensor, axis: number, indices: Tensor | readonly number[]): Tensor => {
  const a = need('indexSelect', x);
  const ax = normalizeAxis('indexSelect', axis, a.rank);
  if (!(indices instanceof Tensor) && !Array.isArray(indices)) {
    throw new TypeError(
      `indexSelect: indices must be a Tensor or an array of integers, got ${String(indices)}`,
    );
  }
  const index = indices instanceof Tensor ? indices : tensor([...indices], { dtype: 'float64' });
  if (index.rank !== 1)
    throw new ShapeError(`indexSelect: indices must be 1-D, got shape ${fmt(index.shape)}`);
  const length = a.shape[ax]!;
  const shape = a.shape.map((d, i) => (i === ax ? index.size : d));
  checkBytes('indexSelect', shape, a.dtype);
  const offsets = new Int32Array(sizeOf(shape));
  const outer = sizeOf(a.shape.slice(0, ax));
  const bad = selectOffsets(outer, length, sizeOf(a.shape.slice(ax + 1)), index.data, offsets);
  if (bad >= 0) throw badIndex('indexSelect', index.data[bad]!, `[${bad}]`, ax, length);
  const out = new Tensor(takeInto(a.data, offsets, allocate(a.dtype, offsets.length)), shape);
  return record('indexSelect', [a, index], out, ([g]) => [
    isGradEnabled()
      ? scatter('indexSelect', g!, offsets, a.shape)
      : new Tensor(scatterAdd(g!.data, offsets, allocate(a.dtype, a.size)), a.shape),
    null,
  ]);
};

/**
 * torch.gather: out[i][j] = x[i][indices[i][j]] for axis 1 (likewise for any axis). indices has
 * x's rank, is no larger than x off the axis, and is integer-valued in [0, size). The result has
 * the shape of indices. d = g scatter-added back (repeats accumulate)
 */
const gatherPrimal = (x: Tensor, axis: number, indices: Tensor): Tensor => {
  const a = need('gather', x);
  const index = need('gather', indices);
  const ax = normalizeAxis('gather', axis, a.rank);
  if (index.rank !== a.rank) {
    throw new ShapeError(
      `gather: indices of shape ${fmt(index.shape)} must have the rank of x ${fmt(a.shape)}`,
    );
  }
  const over = index.shape.findIndex((d, i) => i !== ax && d > a.shape[i]!);
  if (over >= 0) {
    throw new ShapeError(
      `gather: indices of shape ${fmt(index.shape)} exceed x of shape ${fmt(a.shape)} on axis ${over} (only axis ${ax} may be larger)`,
    );
  }
  checkBytes('gather', index.shape, a.dtype);
  const offsets = new Int32Array(index.size);
  const bad = gatherOffsets(a.shape, ax, index.data, index.shape, offsets);
  if (bad >= 0) throw badIndex('gather', index.data[bad]!, position(bad, index.shape), ax, a.shape[ax]!);
  const out = new Tensor(takeInto(a.data, offsets, allocate(a.dtype, offsets.length)), index.shape);
  return record('gather', [a, index], out, ([g]) => [
    isGradEnabled()
      ? scatter('gather', g!, offsets, a.shape)
      : new Tensor(scatterAdd(g!.data, offsets, allocate(a.dtype, a.size)), a.shape),
    null,
  ]);
};

/**
 * g's values added into zeros of shape at the flat offsets (repeats accumulate), recorded: the vjp of
 * a gather, slice or indexSelect, as a linear op whose own vjp is `take` (its transpose).
 */
const scatter = differentiable(
  'scatter',
  (op: string, g: Tensor, offsets: Int32Array, shape: Shape): Tensor => {
    const out = new Tensor(scatterAdd(g.data, offsets, allocate(g.dtype, sizeOf(shape))), shape);
    return record(`${op}.backward`, [g], out, ([gg]) => [take(op, gg!, offsets, g.shape)]);
  },
  // linear: the tangent is scattered the same way
  ([, t], [op, , offsets, shape]): Tensor => scatter(op, t!, offsets, shape),
);

/** x's values at the flat offsets, as shape, recorded: the transpose of scatter (and its vjp). */
const take = differentiable(
  'take',
  (op: string, x: Tensor, offsets: Int32Array, shape: Shape): Tensor => {
    const out = new Tensor(takeInto(x.data, offsets, allocate(x.dtype, offsets.length)), shape);
    return record(op, [x], out, ([g]) => [scatter(op, g!, offsets, x.shape)]);
  },
  ([, t], [op, , offsets, shape]): Tensor => take(op, t!, offsets, shape),
);

// The ops, each with its jvp rule (see elementwise.ts). Every one is linear: its tangent is the op
// itself over the tangents (zeros for an input without one; the indices are not differentiated).

/** numpy's reshape: the same elements in row-major order; one -1 is inferred from the rest. */
export const reshape = differentiable(
  'reshape',
  reshapePrimal,
  ([t], [, shape]): Tensor => reshape(t!, shape),
);
/** Removes the given size-1 axes (default: every size-1 axis). */
export const squeeze = differentiable('squeeze', squeezePrimal, ([t], [, axis]): Tensor => squeeze(t!, axis));
/** Inserts a size-1 axis at `axis` (negative counts from the end of the result). */
export const unsqueeze = differentiable(
  'unsqueeze',
  unsqueezePrimal,
  ([t], [, axis]): Tensor => unsqueeze(t!, axis),
);
/** Reorders the axes: the result's axis i is x's axis axes[i] (negatives allowed). */
export const permute = differentiable('permute', permutePrimal, ([t], [, axes]): Tensor => permute(t!, axes));
/** numpy's transpose: permute, with all axes reversed by default. */
export const transpose = differentiable(
  'transpose',
  transposePrimal,
  ([t], [, axes]): Tensor => transpose(t!, axes),
);
/** numpy's concatenate: shapes must match except along axis. */
export const concat = differentiable(
  'concat',
  concatPrimal,
  ([ts], [tensors, axis]): Tensor =>
    concat(
      ts.map((t, i) => t ?? zerosLike(tensors[i]!)),
      axis,
    ),
);
/** numpy's stack: equal shapes, joined along a new axis. */
export const stack = differentiable(
  'stack',
  stackPrimal,
  ([ts], [tensors, axis]): Tensor =>
    stack(
      ts.map((t, i) => t ?? zerosLike(tensors[i]!)),
      axis,
    ),
);
/** Pieces along axis: torch.split's sizes, or numpy.split's section count (see splitPrimal). */
export const split = differentiable('split', splitPrimal, ([t], [, sizes, axis]): Tensor[] =>
  split(t!, sizes, axis),
);
/** numpy's basic slicing x[starts[0]:stops[0], ...] with step 1 (see slicePrimal). */
export const slice = differentiable(
  'slice',
  slicePrimal,
  ([t], [, starts, stops]): Tensor => slice(t!, starts, stops),
);
/** numpy's broadcast_to. */
export const broadcastTo = differentiable(
  'broadcastTo',
  broadcastToPrimal,
  ([t], [, shape]): Tensor => broadcastTo(t!, shape),
);
/** torch.index_select along axis (see indexSelectPrimal). */
export const indexSelect = differentiable(
  'indexSelect',
  indexSelectPrimal,
  ([t], [, axis, indices], out): Tensor => (t ? indexSelect(t, axis, indices) : zerosLike(out)),
);
/** torch.gather along axis (see gatherPrimal). */
export const gather = differentiable(
  'gather',
  gatherPrimal,
  ([t], [, axis, indices], out): Tensor => (t ? gather(t, axis, indices) : zerosLike(out)),
);

markLibraryCode(codeStart, new Error()); // and where it ends
