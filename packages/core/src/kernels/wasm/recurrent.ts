// The whole-sequence recurrent loops of kernels/recurrent.ts on recurrent.wat, float32: the operands
// are copied into wasm memory once per sequence, the recurrent weight is packed there once (not once
// per step), every step runs inside wasm, and the results are copied back. The rows of a batch are
// independent sequences, so worker threads each take a band of them for the whole sequence.
import type { TypedArray } from '../../dtype.js';
import type { SequenceDims } from '../recurrent.js';
import { type KernelName, Layout, packedSize } from './module.js';
import { bands, runParallel, threadsAvailable } from './threads.js';

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

/** Per-step multiply-adds below which a sequence stays on one thread. */
const PARALLEL_MIN_WORK = 1 << 16;

/** Bands of the batch's rows for the threads that pay: 4-row multiples, one band if the batch is small. */
function rowBands({ batch, hidden }: SequenceDims, gates: number): [number, number][] {
  const threads = batch >= 8 && batch * gates * hidden * hidden >= PARALLEL_MIN_WORK ? threadsAvailable() : 1;
  return bands(batch, threads, 4);
}

/**
 * Runs `kernel` once per band of rows, on as many threads: args(lo, rows, thread) gives a band's
 * arguments, its pointers moved lo rows on (row(at, width) is the byte address of row lo of a region).
 */
function runBands(
  layout: Layout,
  parts: [number, number][],
  kernel: KernelName,
  args: (row: (at: number, width: number) => number, rows: number, thread: number) => number[],
): void {
  const { kernels } = layout.heap();
  const jobs = parts.map(([lo, hi], thread) => ({
    kernel,
    args: args((at, width) => (at + lo * width) * 4, hi - lo, thread),
  }));
  runParallel(kernels, jobs);
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
  const parts = rowBands(dims, 1);
  const layout = new Layout(parts.length);
  const weight = packWeight(layout, weightHh, hidden, hidden, true);
  const biasAt = layout.take(hidden);
  const h0At = layout.take(h0.length);
  const outputAt = layout.take(output.length);
  const { heap, kernels } = layout.heap();
  const whh = weight(heap, kernels.packB);
  for (let j = 0; j < hidden; j++) heap[biasAt + j] = biasIh[j]! + biasHh[j]!;
  put(heap, h0At, h0);
  put(heap, outputAt, output);
  runBands(layout, parts, 'rnnForward', (row, rows, thread) => [
    row(outputAt, hidden),
    whh,
    biasAt * 4,
    row(h0At, hidden),
    steps,
    batch,
    rows,
    hidden,
    relu ? 1 : 0,
    layout.apack(thread),
  ]);
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
  const parts = rowBands(dims, 1);
  const layout = new Layout(parts.length);
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
  runBands(layout, parts, 'rnnBackward', (row, rows, thread) => [
    row(gradOutputAt, hidden),
    row(outputAt, hidden),
    whh,
    row(dGatesAt, hidden),
    row(dhAt, hidden),
    steps,
    batch,
    rows,
    hidden,
    relu ? 1 : 0,
    layout.apack(thread),
  ]);
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
  const parts = rowBands(dims, 4);
  const layout = new Layout(parts.length);
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
  runBands(layout, parts, 'lstmForward', (row, rows, thread) => [
    row(gatesAt, 4 * hidden),
    whh,
    biasAt * 4,
    row(h0At, hidden),
    row(c0At, hidden),
    row(outputAt, hidden),
    row(cellsAt, hidden),
    row(tanhAt, hidden),
    steps,
    batch,
    rows,
    hidden,
    layout.apack(thread),
  ]);
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
  const parts = rowBands(dims, 4);
  const layout = new Layout(parts.length);
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
  runBands(layout, parts, 'lstmBackward', (row, rows, thread) => [
    row(gradOutputAt, hidden),
    row(gatesAt, 4 * hidden),
    row(c0At, hidden),
    row(cellsAt, hidden),
    row(tanhAt, hidden),
    whh,
    row(dGatesAt, 4 * hidden),
    row(dhAt, hidden),
    row(dcAt, hidden),
    steps,
    batch,
    rows,
    hidden,
    layout.apack(thread),
  ]);
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
  const parts = rowBands(dims, 3);
  const layout = new Layout(parts.length);
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
  runBands(layout, parts, 'gruForward', (row, rows, thread) => [
    row(gatesAt, 3 * hidden),
    row(hiddenGatesAt, 3 * hidden),
    whh,
    biasAt * 4,
    row(h0At, hidden),
    row(outputAt, hidden),
    row(hiddenNAt, hidden),
    steps,
    batch,
    rows,
    hidden,
    layout.apack(thread),
  ]);
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
  const parts = rowBands(dims, 3);
  const layout = new Layout(parts.length);
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
  runBands(layout, parts, 'gruBackward', (row, rows, thread) => [
    row(gradOutputAt, hidden),
    row(gatesAt, 3 * hidden),
    row(hiddenNAt, hidden),
    row(h0At, hidden),
    row(outputAt, hidden),
    whh,
    row(dInputAt, 3 * hidden),
    row(dHiddenAt, 3 * hidden),
    row(dhAt, hidden),
    steps,
    batch,
    rows,
    hidden,
    layout.apack(thread),
  ]);
  get(heap, dInputAt, dInputGates.subarray(0, 3 * block));
  get(heap, dHiddenAt, dHiddenGates.subarray(0, 3 * block));
  get(heap, dhAt, dh.subarray(0, state));
  inputBias(heap, kernels.sumRows, dBiasIh);
  hiddenBias(heap, kernels.sumRows, dBiasHh);
}
