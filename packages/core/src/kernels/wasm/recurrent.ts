// The whole-sequence recurrent loops of kernels/recurrent.ts on recurrent.wat, float32: the operands
// are copied into wasm memory once per sequence, the recurrent weight is packed there once (not once
// per step), every step runs inside wasm, and the results are copied back.
import type { TypedArray } from '../../dtype.js';
import type { SequenceDims } from '../recurrent.js';
import { Layout, packedSize } from './module.js';

// The caller passes float32 buffers only (the loops compute in float32); any typed array copies in.
type F32 = TypedArray;

/** Copies `from` into the heap at `at` (floats). */
const put = (heap: Float32Array, at: number, from: F32) => heap.set(from, at);
/** Copies floats [at, at + into.length) of the heap into `into`. */
const get = (heap: Float32Array, at: number, into: F32) => into.set(heap.subarray(at, at + into.length));

/**
 * Lays out W_hh [G·H, H] and its packed form for a sequence: packed transposed (forward: h·W_hhᵀ) or as
 * stored (backward: dGates·W_hh). Returns the packed form's byte address once the heap is filled.
 */
function packWeight(layout: Layout, weightHh: F32, gateRows: number, hidden: number, transposed: boolean) {
  const rawAt = layout.take(weightHh.length);
  const packedAt = layout.take(transposed ? packedSize(gateRows, hidden) : packedSize(hidden, gateRows));
  return (heap: Float32Array, packB: (...args: number[]) => void): number => {
    put(heap, rawAt, weightHh);
    // forward B = W_hhᵀ [H, G·H], stored [G·H, H]: transB; backward B = W_hh [G·H, H] as stored
    if (transposed) packB(rawAt * 4, packedAt * 4, gateRows, hidden, 1);
    else packB(rawAt * 4, packedAt * 4, hidden, gateRows, 0);
    return packedAt * 4;
  };
}

/** Column sums of the [rows, width] block at `at` into dBias (the bias grads), in wasm. */
function sumRowsInto(layout: Layout, at: number, rows: number, width: number) {
  const outAt = layout.take(width);
  return (heap: Float32Array, sumRows: (...args: number[]) => void, dBias: F32) => {
    sumRows(at * 4, outAt * 4, rows, width);
    get(heap, outAt, dBias.subarray(0, width));
  };
}

export function rnnSequenceForwardWasm(
  output: F32,
  weightHh: F32,
  biasIh: F32,
  biasHh: F32,
  h0: F32,
  dims: SequenceDims,
  relu: boolean,
): void {
  const { steps, batch, hidden } = dims;
  const layout = new Layout();
  const weight = packWeight(layout, weightHh, hidden, hidden, true);
  const biasAt = layout.take(hidden);
  const h0At = layout.take(h0.length);
  const outputAt = layout.take(output.length);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  for (let j = 0; j < hidden; j++) heap[biasAt + j] = biasIh[j]! + biasHh[j]!;
  put(heap, h0At, h0);
  put(heap, outputAt, output);
  kernels.rnnForward(
    outputAt * 4,
    whh,
    biasAt * 4,
    h0At * 4,
    steps,
    batch,
    hidden,
    relu ? 1 : 0,
    layout.apack,
  );
  get(heap, outputAt, output);
}

export function rnnSequenceBackwardWasm(
  gradOutput: F32,
  output: F32,
  weightHh: F32,
  dGates: F32,
  dh: F32,
  dBias: F32,
  dims: SequenceDims,
  relu: boolean,
): void {
  const { steps, batch, hidden } = dims;
  const rows = steps * batch * hidden;
  const layout = new Layout();
  const weight = packWeight(layout, weightHh, hidden, hidden, false);
  const gradOutputAt = layout.take(rows);
  const outputAt = layout.take(rows);
  const dGatesAt = layout.take(rows);
  const dhAt = layout.take(batch * hidden);
  const bias = sumRowsInto(layout, dGatesAt, steps * batch, hidden);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  put(heap, gradOutputAt, gradOutput.subarray(0, rows));
  put(heap, outputAt, output.subarray(0, rows));
  put(heap, dhAt, dh.subarray(0, batch * hidden));
  kernels.rnnBackward(
    gradOutputAt * 4,
    outputAt * 4,
    whh,
    dGatesAt * 4,
    dhAt * 4,
    steps,
    batch,
    hidden,
    relu ? 1 : 0,
    layout.apack,
  );
  get(heap, dGatesAt, dGates.subarray(0, rows));
  get(heap, dhAt, dh.subarray(0, batch * hidden));
  bias(heap, kernels.sumRows, dBias);
}

export function lstmSequenceForwardWasm(
  gates: F32,
  weightHh: F32,
  biasIh: F32,
  biasHh: F32,
  h0: F32,
  c0: F32,
  output: F32,
  cells: F32,
  tanhCells: F32,
  dims: SequenceDims,
): void {
  const { steps, batch, hidden } = dims;
  const block = steps * batch * hidden;
  const layout = new Layout();
  const weight = packWeight(layout, weightHh, 4 * hidden, hidden, true);
  const biasAt = layout.take(4 * hidden);
  const h0At = layout.take(batch * hidden);
  const c0At = layout.take(batch * hidden);
  const gatesAt = layout.take(4 * block);
  const outputAt = layout.take(block);
  const cellsAt = layout.take(block);
  const tanhAt = layout.take(block);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  for (let k = 0; k < 4 * hidden; k++) heap[biasAt + k] = biasIh[k]! + biasHh[k]!;
  put(heap, h0At, h0.subarray(0, batch * hidden));
  put(heap, c0At, c0.subarray(0, batch * hidden));
  put(heap, gatesAt, gates.subarray(0, 4 * block));
  kernels.lstmForward(
    gatesAt * 4,
    whh,
    biasAt * 4,
    h0At * 4,
    c0At * 4,
    outputAt * 4,
    cellsAt * 4,
    tanhAt * 4,
    steps,
    batch,
    hidden,
    layout.apack,
  );
  get(heap, gatesAt, gates.subarray(0, 4 * block));
  get(heap, outputAt, output.subarray(0, block));
  get(heap, cellsAt, cells.subarray(0, block));
  get(heap, tanhAt, tanhCells.subarray(0, block));
}

export function lstmSequenceBackwardWasm(
  gradOutput: F32,
  gates: F32,
  c0: F32,
  cells: F32,
  tanhCells: F32,
  weightHh: F32,
  dGates: F32,
  dh: F32,
  dc: F32,
  dBias: F32,
  dims: SequenceDims,
): void {
  const { steps, batch, hidden } = dims;
  const block = steps * batch * hidden;
  const state = batch * hidden;
  const layout = new Layout();
  const weight = packWeight(layout, weightHh, 4 * hidden, hidden, false);
  const gradOutputAt = layout.take(block);
  const gatesAt = layout.take(4 * block);
  const c0At = layout.take(state);
  const cellsAt = layout.take(block);
  const tanhAt = layout.take(block);
  const dGatesAt = layout.take(4 * block);
  const dhAt = layout.take(state);
  const dcAt = layout.take(state);
  const bias = sumRowsInto(layout, dGatesAt, steps * batch, 4 * hidden);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  put(heap, gradOutputAt, gradOutput.subarray(0, block));
  put(heap, gatesAt, gates.subarray(0, 4 * block));
  put(heap, c0At, c0.subarray(0, state));
  put(heap, cellsAt, cells.subarray(0, block));
  put(heap, tanhAt, tanhCells.subarray(0, block));
  put(heap, dhAt, dh.subarray(0, state));
  put(heap, dcAt, dc.subarray(0, state));
  kernels.lstmBackward(
    gradOutputAt * 4,
    gatesAt * 4,
    c0At * 4,
    cellsAt * 4,
    tanhAt * 4,
    whh,
    dGatesAt * 4,
    dhAt * 4,
    dcAt * 4,
    steps,
    batch,
    hidden,
    layout.apack,
  );
  get(heap, dGatesAt, dGates.subarray(0, 4 * block));
  get(heap, dhAt, dh.subarray(0, state));
  get(heap, dcAt, dc.subarray(0, state));
  bias(heap, kernels.sumRows, dBias);
}

export function gruSequenceForwardWasm(
  gates: F32,
  weightHh: F32,
  biasIh: F32,
  biasHh: F32,
  h0: F32,
  output: F32,
  hiddenN: F32,
  dims: SequenceDims,
): void {
  const { steps, batch, hidden } = dims;
  const block = steps * batch * hidden;
  const layout = new Layout();
  const weight = packWeight(layout, weightHh, 3 * hidden, hidden, true);
  const biasAt = layout.take(4 * hidden);
  const h0At = layout.take(batch * hidden);
  const hiddenGatesAt = layout.take(3 * batch * hidden);
  const gatesAt = layout.take(3 * block);
  const outputAt = layout.take(block);
  const hiddenNAt = layout.take(block);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  // [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]
  for (let k = 0; k < 2 * hidden; k++) heap[biasAt + k] = biasIh[k]! + biasHh[k]!;
  put(heap, biasAt + 2 * hidden, biasIh.subarray(2 * hidden, 3 * hidden));
  put(heap, biasAt + 3 * hidden, biasHh.subarray(2 * hidden, 3 * hidden));
  put(heap, h0At, h0.subarray(0, batch * hidden));
  put(heap, gatesAt, gates.subarray(0, 3 * block));
  kernels.gruForward(
    gatesAt * 4,
    hiddenGatesAt * 4,
    whh,
    biasAt * 4,
    h0At * 4,
    outputAt * 4,
    hiddenNAt * 4,
    steps,
    batch,
    hidden,
    layout.apack,
  );
  get(heap, gatesAt, gates.subarray(0, 3 * block));
  get(heap, outputAt, output.subarray(0, block));
  get(heap, hiddenNAt, hiddenN.subarray(0, block));
}

export function gruSequenceBackwardWasm(
  gradOutput: F32,
  gates: F32,
  hiddenN: F32,
  h0: F32,
  output: F32,
  weightHh: F32,
  dInputGates: F32,
  dHiddenGates: F32,
  dh: F32,
  dBiasIh: F32,
  dBiasHh: F32,
  dims: SequenceDims,
): void {
  const { steps, batch, hidden } = dims;
  const block = steps * batch * hidden;
  const state = batch * hidden;
  const layout = new Layout();
  const weight = packWeight(layout, weightHh, 3 * hidden, hidden, false);
  const gradOutputAt = layout.take(block);
  const gatesAt = layout.take(3 * block);
  const hiddenNAt = layout.take(block);
  const h0At = layout.take(state);
  const outputAt = layout.take(block);
  const dInputAt = layout.take(3 * block);
  const dHiddenAt = layout.take(3 * block);
  const dhAt = layout.take(state);
  const inputBias = sumRowsInto(layout, dInputAt, steps * batch, 3 * hidden);
  const hiddenBias = sumRowsInto(layout, dHiddenAt, steps * batch, 3 * hidden);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  put(heap, gradOutputAt, gradOutput.subarray(0, block));
  put(heap, gatesAt, gates.subarray(0, 3 * block));
  put(heap, hiddenNAt, hiddenN.subarray(0, block));
  put(heap, h0At, h0.subarray(0, state));
  put(heap, outputAt, output.subarray(0, block));
  put(heap, dhAt, dh.subarray(0, state));
  kernels.gruBackward(
    gradOutputAt * 4,
    gatesAt * 4,
    hiddenNAt * 4,
    h0At * 4,
    outputAt * 4,
    whh,
    dInputAt * 4,
    dHiddenAt * 4,
    dhAt * 4,
    steps,
    batch,
    hidden,
    layout.apack,
  );
  get(heap, dInputAt, dInputGates.subarray(0, 3 * block));
  get(heap, dHiddenAt, dHiddenGates.subarray(0, 3 * block));
  get(heap, dhAt, dh.subarray(0, state));
  inputBias(heap, kernels.sumRows, dBiasIh);
  hiddenBias(heap, kernels.sumRows, dBiasHh);
}
