// matmul with numpy's rules: 2-D, batched with broadcast leading dims, 1-D operands promoted.
// Its vjp calls the kernel with transpose flags: dA = g·Bᵀ, dB = Aᵀ·g, no transposed copies; a
// graph-building backward composes the same from matmul and transpose, so it is differentiable again.

import { gemm } from '../backend/choose.js';
import { markLibraryCode } from '../callSite.js';
import type { TypedArray } from '../dtype.js';
import { differentiable } from '../forward.js';
import { sumToShape } from '../kernels/reduce.js';
import { allocate } from '../memory/arena.js';
import { isGradEnabled } from '../mode.js';
import {
  broadcastShapes,
  broadcastStrides,
  checkBytes,
  fmt,
  type Shape,
  ShapeError,
  sizeOf,
} from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { reshape, squeeze, transpose } from './shape.js';
import { operands } from './util.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

interface Batched {
  data: TypedArray;
  batch: Shape;
  rows: number;
  cols: number;
}

/**
 * out[batch] = op(A)[batch] · op(B)[batch], where op may transpose the last two axes.
 * Returns data of shape [...batch, m, n] with batch the broadcast of both batch shapes.
 */
function batchedGemm(
  a: Batched,
  transA: boolean,
  b: Batched,
  transB: boolean,
): { data: TypedArray; batch: number[]; m: number; n: number } {
  const m = transA ? a.cols : a.rows;
  const k = transA ? a.rows : a.cols;
  const n = transB ? b.rows : b.cols;
  const batch = broadcastShapes('matmul', a.batch, b.batch);
  const count = sizeOf(batch);
  const data = allocate(a.data instanceof Float64Array ? 'float64' : 'float32', count * m * n);
  const sa = broadcastStrides(a.batch, batch);
  const sb = broadcastStrides(b.batch, batch);
  for (let t = 0; t < count; t++) {
    // Offsets of batch entry t in each operand (stride 0 on broadcast axes).
    let ia = 0;
    let ib = 0;
    for (let ax = batch.length - 1, rest = t; ax >= 0; ax--) {
      const idx = rest % batch[ax]!;
      rest = Math.floor(rest / batch[ax]!);
      ia += idx * sa[ax]!;
      ib += idx * sb[ax]!;
    }
    gemm({
      a: a.data,
      b: b.data,
      c: data,
      m,
      n,
      k,
      transA,
      transB,
      aOffset: ia * a.rows * a.cols,
      bOffset: ib * b.rows * b.cols,
      cOffset: t * m * n,
    });
  }
  return { data, batch, m, n };
}

const asBatched = (data: TypedArray, shape: Shape): Batched => ({
  data,
  batch: shape.slice(0, -2),
  rows: shape[shape.length - 2]!,
  cols: shape[shape.length - 1]!,
});

const matmulPrimal = (x: Tensor, y: Tensor): Tensor => {
  const [a, b] = operands('matmul', x, y) as [Tensor, Tensor];
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(
      `matmul: operands must have at least one dimension, got ${fmt(a.shape)} @ ${fmt(b.shape)}`,
    );
  }
  // numpy: a 1-D left operand is a row, a 1-D right operand a column; both extra axes are dropped after.
  const aShape = a.rank === 1 ? [1, a.shape[0]!] : a.shape;
  const bShape = b.rank === 1 ? [b.shape[0]!, 1] : b.shape;
  const k = aShape[aShape.length - 1]!;
  if (bShape[bShape.length - 2] !== k) {
    throw new ShapeError(`matmul: inner dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  }
  const A = asBatched(a.data, aShape);
  const B = asBatched(b.data, bShape);
  let batch: number[];
  try {
    batch = broadcastShapes('matmul', A.batch, B.batch);
  } catch {
    throw new ShapeError(`matmul: batch dimensions cannot be broadcast: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  }
  // An outer product of two modest operands can be far larger than both.
  checkBytes('matmul', [...batch, aShape[aShape.length - 2]!, bShape[bShape.length - 1]!], a.dtype);
  const r = batchedGemm(A, false, B, false);
  const outShape = [...batch, ...(a.rank === 1 ? [] : [r.m]), ...(b.rank === 1 ? [] : [r.n])];
  const out = new Tensor(r.data, outShape);
  return record('matmul', [a, b], out, ([g]) => {
    if (isGradEnabled()) return recordedGrads(a, aShape, b, bShape, reshape(g!, [...batch, r.m, r.n]));
    const G = asBatched(g!.data, [...batch, r.m, r.n]);
    // dA = g·Bᵀ and dB = Aᵀ·g, each summed over the batch axes its operand was broadcast along.
    const da = batchedGemm(G, false, B, true);
    const db = batchedGemm(A, true, G, false);
    const reduce = (
      d: { data: TypedArray; batch: number[]; m: number; n: number },
      shape: Shape,
      original: Shape,
    ) => {
      const full = [...d.batch, d.m, d.n];
      const data =
        sizeOf(full) === sizeOf(shape)
          ? d.data
          : sumToShape(d.data, full, shape, allocate(a.dtype, sizeOf(shape)));
      return new Tensor(data, original);
    };
    return [reduce(da, aShape, a.shape), reduce(db, bShape, b.shape)];
  });
};

/** x with its last two axes swapped (a recorded op). */
function swapLast(x: Tensor): Tensor {
  const axes = x.shape.map((_, i) => i);
  axes[x.rank - 2] = x.rank - 1;
  axes[x.rank - 1] = x.rank - 2;
  return transpose(x, axes);
}

/**
 * dA = g·Bᵀ and dB = Aᵀ·g from recorded ops, g of shape [...batch, m, n]; a 1-D operand's extra axis is
 * dropped, and the engine sums each grad over the batch axes its operand was broadcast along.
 */
function recordedGrads(a: Tensor, aShape: Shape, b: Tensor, bShape: Shape, g: Tensor): [Tensor, Tensor] {
  const da = matmul(g, swapLast(reshape(b, bShape)));
  const db = matmul(swapLast(reshape(a, aShape)), g);
  return [a.rank === 1 ? squeeze(da, -2) : da, b.rank === 1 ? squeeze(db, -1) : db];
}

/** numpy's matmul: 2-D, batched with broadcast leading dims, 1-D operands promoted. dt = ta·b + a·tb */
export const matmul = differentiable(
  'matmul',
  matmulPrimal,
  ([ta, tb], [a, b]): Tensor =>
    ta && tb ? add(matmul(ta, b), matmul(a, tb)) : ta ? matmul(ta, b) : matmul(a, tb!),
);

markLibraryCode(codeStart, new Error()); // and where it ends
