// What the three cells share: checking their inputs, buffers of a dtype, and turning the gate
// grads into the grads of x, h and the weights with gemms (transpose flags, no copies).
import {
  type DType,
  DTypeError,
  formatShape as fmt,
  matmul,
  ShapeError,
  Tensor,
  type TypedArray,
  transpose,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, backwardScratch, markLibraryCode } from '@tapegrad/core/kernels';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface CellShape {
  batch: number;
  input: number;
  hidden: number;
  /** gates·hidden: the rows of the stacked weights. */
  width: number;
}

/**
 * Fresh buffers cut one after another from a single allocation. V8 spends about a microsecond on each
 * typed array past 64 bytes, however few values it holds, so an op's small buffers that live and die
 * together (its outputs, or its grads) come from one. Zero-filled, unless made with { zero: false }, as
 * core's allocate, for buffers whose every value is written before any is read.
 */
export interface Carving {
  readonly data: TypedArray;
  at: number;
}

export const carving = (dtype: DType, size: number, options?: { zero?: boolean }): Carving => ({
  data: allocate(dtype, size, options),
  at: 0,
});

/** The next `size` values of the carving (a view; the carving must have been made large enough). */
export function carve(from: Carving, size: number): TypedArray {
  const start = from.at;
  from.at += size;
  if (from.at > from.data.length) throw new RangeError(`carve: ${size} values past the carving's end`);
  return start === 0 && size === from.data.length ? from.data : from.data.subarray(start, from.at);
}

/** A tensor of the buffer's values. */
// Takes the buffer, no copy: each one is fresh from this call and never written after, or backward
// scratch (passedGrad), which the tape copies before any caller could hold it.
export const toTensor = (data: TypedArray, shape: readonly number[]): Tensor => new Tensor(data, shape);

/**
 * A grad for t computed into fresh values (carved from `from`, else a buffer of its own), or null if t
 * is absent or does not require grad.
 */
export function freshGrad(
  t: Tensor | undefined,
  from: Carving | null,
  compute: (out: TypedArray) => void,
): Tensor | null {
  if (!t?.requiresGrad) return null;
  const out = from ? carve(from, t.size) : allocate(t.dtype, t.size);
  compute(out);
  return toTensor(out, t.shape);
}

/** The values t's grad takes: its size, or 0 if t is absent or does not require grad. */
export const gradSize = (t: Tensor | undefined): number => (t?.requiresGrad ? t.size : 0);

/**
 * Up to this many values, an op's grads share one allocation (a typed array's fixed cost dominates);
 * past it each has its own, so that a large grad is not kept alive by the small ones.
 */
const SHARED_GRADS_MAX = 4096;

/** One carving for the grads of `inputs` (for freshGrad) when they are small together, else null. */
export function gradCarving(inputs: readonly (Tensor | undefined)[]): Carving | null {
  let total = 0;
  for (const t of inputs) total += gradSize(t);
  return total <= SHARED_GRADS_MAX ? carving(inputs[0]!.dtype, total) : null;
}

/**
 * The grad of an input that the layer below consumes (x of linear, of a recurrent sequence), computed
 * into values of the tape's backward scratch when t is a large intermediate (its producer's backward
 * reads it, and the tape copies it before any caller could hold it), else into fresh ones as
 * freshGrad's (a small one shares its op's carving: reusing it would save nothing); null if t does not
 * require grad. `compute` writes every value (the scratch is not zeroed first).
 */
export function passedGrad(
  t: Tensor,
  from: Carving | null,
  compute: (out: TypedArray) => void,
): Tensor | null {
  const scratch =
    t.requiresGrad && !t.isLeaf && t.size > SHARED_GRADS_MAX ? backwardScratch(t.dtype, t.size, false) : null;
  if (!scratch) return freshGrad(t, from, compute);
  compute(scratch);
  return toTensor(scratch, t.shape);
}

/**
 * Checks the inputs of a cell, named by `names` (x, the states, weightIh, weightHh, biasIh,
 * biasHh): one dtype, x [B, I], each state [B, H], weights [G·H, I] and [G·H, H], biases [G·H].
 */
export function checkCell(
  cell: string,
  gateCount: number,
  inputs: readonly Tensor[],
  names: readonly string[],
): CellShape {
  if (inputs.length !== names.length) {
    throw new TypeError(
      `${cell}: expected ${names.length} tensors (${names.join(', ')}), got ${inputs.length}`,
    );
  }
  const x = inputs[0]!;
  inputs.forEach((t, i) => {
    if (t.dtype !== x.dtype) {
      throw new DTypeError(
        `${cell}: ${names[i]} is ${t.dtype} but x is ${x.dtype} (all inputs need one dtype; cast with astype)`,
      );
    }
  });
  const h = inputs[1]!;
  if (x.rank !== 2) throw new ShapeError(`${cell}: x must be [batch, input], got ${fmt(x.shape)}`);
  if (h.rank !== 2) throw new ShapeError(`${cell}: ${names[1]} must be [batch, hidden], got ${fmt(h.shape)}`);
  const [batch, input] = x.shape as [number, number];
  const hidden = h.shape[1]!;
  const width = gateCount * hidden;
  const stateCount = names.length - 5;
  const expected = [
    [batch, input],
    ...Array.from({ length: stateCount }, () => [batch, hidden]),
    [width, input],
    [width, hidden],
    [width],
    [width],
  ];
  const layout = ['[batch, input]', ...names.slice(1, 1 + stateCount).map(() => '[batch, hidden]')];
  const g = gateCount === 1 ? '' : `${gateCount}·`;
  layout.push(`[${g}hidden, input]`, `[${g}hidden, hidden]`, `[${g}hidden]`, `[${g}hidden]`);
  inputs.forEach((t, i) => {
    const want = expected[i]!;
    if (t.rank !== want.length || t.shape.some((d, k) => d !== want[k])) {
      throw new ShapeError(
        `${cell}: ${names[i]} has shape ${fmt(t.shape)}, expected ${fmt(want)} = ${layout[i]} ` +
          `for x ${fmt(x.shape)} and ${names[1]} ${fmt(h.shape)}`,
      );
    }
  });
  return { batch, input, hidden, width };
}

/** gates [B, G·H] = x·W_ihᵀ, then (+)= h·W_hhᵀ into `hiddenGates` (the same buffer unless given). */
export function projectGates(
  s: CellShape,
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  gates: TypedArray,
  hiddenGates: TypedArray = gates,
): void {
  kernels.gemm({ a: x.data, b: weightIh.data, c: gates, m: s.batch, n: s.width, k: s.input, transB: true });
  kernels.gemm({
    a: h.data,
    b: weightHh.data,
    c: hiddenGates,
    m: s.batch,
    n: s.width,
    k: s.hidden,
    transB: true,
    accumulate: hiddenGates === gates,
  });
}

export interface ProjectionGrads {
  dx: Tensor | null;
  dh: Tensor | null;
  dWeightIh: Tensor | null;
  dWeightHh: Tensor | null;
}

/**
 * The grads through the two projections, from the grads of the input-side and hidden-side gate
 * pre-activations (one buffer for RNN and LSTM, two for GRU); dhDirect is h's grad from outside
 * the projection (GRU's z⊙h). Inputs that do not require grad get null.
 */
export function projectionGrads(
  s: CellShape,
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  dInputGates: TypedArray,
  dHiddenGates: TypedArray,
  dhDirect?: TypedArray,
): ProjectionGrads {
  const { batch, input, hidden, width } = s;
  return {
    // dx = dGates_ih · W_ih
    dx: freshGrad(x, null, (out) =>
      kernels.gemm({ a: dInputGates, b: weightIh.data, c: out, m: batch, n: input, k: width }),
    ),
    // dh = dhDirect + dGates_hh · W_hh
    dh: freshGrad(h, null, (out) => {
      if (dhDirect) out.set(dhDirect);
      kernels.gemm({
        a: dHiddenGates,
        b: weightHh.data,
        c: out,
        m: batch,
        n: hidden,
        k: width,
        accumulate: dhDirect !== undefined,
      });
    }),
    // dW_ih = dGates_ihᵀ · x
    dWeightIh: freshGrad(weightIh, null, (out) =>
      kernels.gemm({ a: dInputGates, b: x.data, c: out, m: width, n: input, k: batch, transA: true }),
    ),
    // dW_hh = dGates_hhᵀ · h
    dWeightHh: freshGrad(weightHh, null, (out) =>
      kernels.gemm({ a: dHiddenGates, b: h.data, c: out, m: width, n: hidden, k: batch, transA: true }),
    ),
  };
}

/** A bias grad (the column sums the gate loop computed), or null if the bias does not require grad. */
export const biasGrad = (bias: Tensor, dBias: TypedArray): Tensor | null =>
  bias.requiresGrad ? toTensor(dBias, bias.shape) : null;

/** x·Wᵀ from core ops, for the references. */
export const linear = (x: Tensor, weight: Tensor): Tensor => matmul(x, transpose(weight));

markLibraryCode(codeStart, new Error()); // and where it ends
