// The whole-sequence recurrent loops of kernels/recurrent.ts on recurrent.wat, float32: the operands
// are copied into wasm memory once per sequence (those that live there already, resident workspaces,
// are used in place), the recurrent weight is packed there once (not once per step), every step runs
// inside wasm, and the results are copied back. The rows of a batch are
// independent sequences, so the threads take bands of them from a queue, each for the whole sequence.
//
// The wasm loops take 4 hidden units at a time, so in wasm memory the hidden size H is padded to P, the
// next multiple of 4, with zeros: padded units get zero input, weights and bias, so they stay exactly 0
// (σ(0)·0 + ... = 0, tanh 0 = 0, relu 0 = 0) and so do their grads; the real units' arithmetic is unchanged.

import type {
  GruSequenceBackwardArgs,
  GruSequenceForwardArgs,
  LstmSequenceBackwardArgs,
  LstmSequenceForwardArgs,
  RnnSequenceBackwardArgs,
  RnnSequenceForwardArgs,
  SequenceDims,
} from '../../backend/backend.js';
import type { TypedArray } from '../../dtype.js';
import { type KernelName, type Kernels, Layout, packedSize, residentOffset } from './module.js';
import { type Band, queueBands, queueWords, runQueue, threadsAvailable } from './threads.js';

/**
 * A region of wasm memory laid out by batch rows: the part of a band that starts at batch row lo is
 * lo·rowFloats floats in (run's row()).
 */
interface Rows {
  /** Float offset in wasm memory. */
  at: number;
  rowFloats: number;
}

/**
 * A [rows, blocks, H] operand in its caller's buffer (float32; any typed array copies) and its place in
 * wasm memory as [rows, blocks, P]; `paddedBlocks` pads the middle axis too (W_hh's rows per gate).
 */
interface Operand extends Rows {
  data: TypedArray;
  rows: number;
  blocks: number;
  paddedBlocks: boolean;
  /** The caller's buffer is this region (resident in wasm memory): no copies. */
  resident: boolean;
}

/**
 * The parameters of recurrent.wat's sequence exports in the order the wat declares them (byte addresses,
 * then sizes: rows is a band's batch rows, hidden the padded P), less the last, apack, which run() sets
 * per thread. A call site names every argument (run lays them out in this order), so none can be
 * swapped, dropped or misspelled and still compile.
 */
const sequenceParams = {
  rnnForward: ['output', 'whh', 'bias', 'h0', 'steps', 'batch', 'rows', 'hidden', 'relu'],
  rnnBackward: [
    'gradOutput',
    'output',
    'whh',
    'dGates',
    'dh',
    'sums',
    'steps',
    'batch',
    'rows',
    'hidden',
    'relu',
  ],
  lstmForward: [
    'gates',
    'whh',
    'bias',
    'h0',
    'c0',
    'output',
    'cells',
    'tanhCells',
    'steps',
    'batch',
    'rows',
    'hidden',
  ],
  lstmBackward: [
    'gradOutput',
    'gates',
    'c0',
    'cells',
    'tanhCells',
    'whh',
    'dGates',
    'dh',
    'dc',
    'sums',
    'steps',
    'batch',
    'rows',
    'hidden',
  ],
  gruForward: [
    'gates',
    'hiddenGates',
    'whh',
    'bias',
    'h0',
    'output',
    'hiddenN',
    'steps',
    'batch',
    'rows',
    'hidden',
  ],
  gruBackward: [
    'gradOutput',
    'gates',
    'hiddenN',
    'h0',
    'output',
    'whh',
    'dInput',
    'dHidden',
    'dh',
    'sumsIh',
    'sumsHh',
    'steps',
    'batch',
    'rows',
    'hidden',
  ],
} as const satisfies Partial<Record<KernelName, readonly string[]>>;

type SequenceKernel = keyof typeof sequenceParams;

/** One band's call of a sequence export, by parameter name. */
type SequenceCall<K extends SequenceKernel> = Record<(typeof sequenceParams)[K][number], number>;

/** Per-step multiply-adds below which a sequence stays on one thread. */
const PARALLEL_MIN_WORK = 1 << 16;

/** One call's operands, staged in wasm memory with H padded to P, then run over bands of batch rows. */
class Staging {
  readonly padded: number;
  private readonly layout: Layout;
  private readonly parts: readonly Band[];
  /** Threads the call may run on, this one included (each has packing space in the layout). */
  private readonly threads: number;

  constructor(
    private readonly dims: SequenceDims,
    gates: number,
  ) {
    const { batch, hidden } = dims;
    this.padded = Math.ceil(hidden / 4) * 4;
    const threads =
      batch >= 8 && batch * gates * hidden * hidden >= PARALLEL_MIN_WORK ? threadsAvailable() : 1;
    this.threads = threads;
    // Bands of rows (queueBands: 12, 12, 4, 4 for B 32 on two threads), each run through the whole
    // sequence by whichever thread takes it next: a thread on a slower core takes fewer.
    this.parts = threads > 1 ? queueBands(batch, threads, 4) : [[0, batch]];
    this.layout = new Layout(threads);
  }

  /**
   * A region for data viewed as [rows, blocks, H] (padded: [rows, blocks, P]): the array itself when it
   * is resident in wasm memory and needs no padding (nothing to copy), else a region of this call's.
   */
  operand(data: TypedArray, rows: number, blocks = 1, paddedBlocks = false): Operand {
    const rowFloats = blocks * this.padded;
    const resident = this.padded === this.dims.hidden ? residentOffset(data) : -1;
    if (resident >= 0) return { data, rows, blocks, paddedBlocks, at: resident, rowFloats, resident: true };
    const size = rows * (paddedBlocks ? blocks * this.padded : blocks) * this.padded;
    return { data, rows, blocks, paddedBlocks, at: this.layout.take(size), rowFloats, resident: false };
  }

  /** A region of `floats` floats that no caller buffer fills or reads (packed weights, sums, scratch). */
  scratch(floats: number): number {
    return this.layout.take(floats);
  }

  /** Scratch of `rowFloats` floats per batch row, for the kernel's own use. */
  scratchRows(rowFloats: number): Rows {
    return { at: this.scratch(this.dims.batch * rowFloats), rowFloats };
  }

  /**
   * The memory's current view, grown to fit every region taken so far (regions taken later grow it
   * again: a view is fetched afresh for every use).
   */
  private get heap(): Float32Array {
    return this.layout.heap().heap;
  }

  private get wasm(): Kernels {
    return this.layout.heap().kernels;
  }

  /** Copies an operand in, zero in the padding. */
  put(op: Operand): void {
    this.copy(op, true);
  }

  /** Copies an operand out, leaving the padding behind. */
  get(op: Operand): void {
    this.copy(op, false);
  }

  private copy({ data, rows, blocks, paddedBlocks, at, resident }: Operand, into: boolean): void {
    if (resident) return;
    const { hidden } = this.dims;
    const p = this.padded;
    // Lines of H floats: [rows·blocks, H] in the caller; W_hh's G blocks of H rows of H.
    const lines = rows * blocks * (paddedBlocks ? hidden : 1);
    const size = lines * hidden;
    if (p === hidden) {
      const heap = this.heap;
      if (into) heap.set(data.subarray(0, size), at);
      else data.set(heap.subarray(at, at + size));
      return;
    }
    // Padded: the caller's lines pass through a contiguous region, spread to (or gathered from) lines
    // of P in wasm, where a padded block is P rows of P, its last P - H rows zero.
    const rawAt = this.layout.take(size);
    const { copyLines } = this.wasm;
    if (into) {
      this.heap.set(data.subarray(0, size), rawAt);
      const blockLines = paddedBlocks ? hidden : lines;
      const blockFloats = (paddedBlocks ? p : lines) * p;
      for (let block = 0; block < lines / blockLines; block++) {
        const to = (at + block * blockFloats) * 4;
        copyLines((rawAt + block * blockLines * hidden) * 4, hidden * 4, to, p * 4, blockLines, hidden, p);
        // a padded block's last P - H rows
        if (paddedBlocks) copyLines(0, 0, to + hidden * p * 4, p * 4, p - hidden, 0, p);
      }
    } else {
      copyLines(at * 4, p * 4, rawAt * 4, hidden * 4, lines, hidden, hidden);
      data.set(this.heap.subarray(rawAt, rawAt + size));
    }
  }

  /**
   * W_hh [G·H, H] packed once for the whole sequence: transposed for the forward (h·W_hhᵀ), as stored
   * for the backward (dGates·W_hh). Returns its byte address.
   */
  packWeight(weightHh: TypedArray, gates: number, transposed: boolean): number {
    const p = this.padded;
    const raw = this.operand(weightHh, gates, 1, true);
    const packedAt = this.scratch(transposed ? packedSize(gates * p, p) : packedSize(p, gates * p));
    this.put(raw);
    if (transposed) this.wasm.packB(raw.at * 4, packedAt * 4, gates * p, p, 1);
    else this.wasm.packB(raw.at * 4, packedAt * 4, p, gates * p, 0);
    return packedAt * 4;
  }

  /** The bias sums [G·P] in a region: b_ih + b_hh per gate, or apart for GRU's n gate (`split`). */
  biases(biasIh: TypedArray, biasHh: TypedArray, gates: number, split: boolean): number {
    const { hidden } = this.dims;
    const p = this.padded;
    const at = this.scratch((gates + (split ? 1 : 0)) * p);
    const heap = this.heap;
    heap.fill(0, at, at + (gates + (split ? 1 : 0)) * p);
    for (let g = 0; g < gates; g++) {
      for (let j = 0; j < hidden; j++) {
        const k = g * hidden + j;
        // GRU: [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]
        heap[at + g * p + j] = split && g === gates - 1 ? biasIh[k]! : biasIh[k]! + biasHh[k]!;
        if (split && g === gates - 1) heap[at + gates * p + j] = biasHh[k]!;
      }
    }
    return at * 4;
  }

  /**
   * Zeroed room for a bias grad's partial sums, [⌈B/4⌉, G·P]: the backward kernels add each step's gate
   * grads there by groups of 4 batch rows while the rows are at hand (no pass over [T·B, G·P] afterwards),
   * in an order that does not depend on the bands. A batch row's share is G·P/4 floats (bands start at
   * multiples of 4 rows).
   */
  groupSums(gates: number): Rows {
    const width = gates * this.padded;
    const size = Math.ceil(this.dims.batch / 4) * width;
    const at = this.scratch(size);
    this.heap.fill(0, at, at + size);
    return { at, rowFloats: width / 4 };
  }

  /** The bias grad dBias [G·H]: the column sums of groupSums' partial sums, group after group. */
  sumGroups(sums: Rows, dBias: TypedArray): void {
    const width = 4 * sums.rowFloats;
    const out = this.operand(dBias, 1, width / this.padded);
    this.wasm.sumRows(sums.at * 4, out.at * 4, Math.ceil(this.dims.batch / 4), width);
    this.get(out);
  }

  /**
   * Runs `kernel` once per band of batch rows, the bands taken by the threads from a queue. args(row,
   * rows) names a band's arguments (all but apack, the packing space of the thread that runs it): row(op)
   * is the byte address of a region's part for the band ([B, ·] states and [T·B, ·] step blocks alike),
   * rows the band's row count.
   */
  run<K extends SequenceKernel>(
    kernel: K,
    args: (row: (op: Rows) => number, rows: number) => SequenceCall<K>,
  ): void {
    const row = (lo: number) => (op: Rows) => (op.at + lo * op.rowFloats) * 4;
    const params: readonly (keyof SequenceCall<K>)[] = sequenceParams[kernel];
    const chunks = this.parts.map(([lo, hi]) => {
      const call = args(row(lo), hi - lo);
      return [...params.map((name) => call[name]), 0];
    });
    const argc = chunks[0]!.length;
    const table = this.layout.take(queueWords(chunks.length, argc));
    const { heap, kernels } = this.layout.heap();
    runQueue(kernels, heap, {
      kernel,
      chunks,
      at: table * 4,
      apackIndex: argc - 1,
      apack: (thread) => this.layout.apack(thread),
      threads: this.threads,
    });
  }
}

export function rnnSequenceForwardWasm(args: RnnSequenceForwardArgs): void {
  const { output, weightHh, biasIh, biasHh, h0, steps, batch } = args;
  const relu = args.nonlinearity === 'relu';
  const s = new Staging(args, 1);
  const out = s.operand(output, steps * batch);
  const state = s.operand(h0, batch);
  const whh = s.packWeight(weightHh, 1, true);
  const bias = s.biases(biasIh, biasHh, 1, false);
  s.put(out);
  s.put(state);
  s.run('rnnForward', (row, band) => ({
    output: row(out),
    whh,
    bias,
    h0: row(state),
    steps,
    batch,
    rows: band,
    hidden: s.padded,
    relu: relu ? 1 : 0,
  }));
  s.get(out);
}

export function rnnSequenceBackwardWasm(args: RnnSequenceBackwardArgs): void {
  const { gradOutput, output, weightHh, dGates, dh, dBias, steps, batch } = args;
  const relu = args.nonlinearity === 'relu';
  const s = new Staging(args, 1);
  const rows = steps * batch;
  const gradOut = s.operand(gradOutput, rows);
  const out = s.operand(output, rows);
  const dGatesOp = s.operand(dGates, rows);
  const dhOp = s.operand(dh, batch);
  const sums = s.groupSums(1);
  const whh = s.packWeight(weightHh, 1, false);
  for (const op of [gradOut, out, dhOp]) s.put(op);
  s.run('rnnBackward', (row, band) => ({
    gradOutput: row(gradOut),
    output: row(out),
    whh,
    dGates: row(dGatesOp),
    dh: row(dhOp),
    sums: row(sums),
    steps,
    batch,
    rows: band,
    hidden: s.padded,
    relu: relu ? 1 : 0,
  }));
  s.get(dGatesOp);
  s.get(dhOp);
  s.sumGroups(sums, dBias);
}

export function lstmSequenceForwardWasm(args: LstmSequenceForwardArgs): void {
  const { gates, weightHh, biasIh, biasHh, h0, c0, output, cells, tanhCells, steps, batch } = args;
  const s = new Staging(args, 4);
  const rows = steps * batch;
  const gatesOp = s.operand(gates, rows, 4);
  const h0Op = s.operand(h0, batch);
  const c0Op = s.operand(c0, batch);
  const out = s.operand(output, rows);
  const cellsOp = s.operand(cells, rows);
  const tanhOp = s.operand(tanhCells, rows);
  const whh = s.packWeight(weightHh, 4, true);
  const bias = s.biases(biasIh, biasHh, 4, false);
  for (const op of [gatesOp, h0Op, c0Op]) s.put(op);
  s.run('lstmForward', (row, band) => ({
    gates: row(gatesOp),
    whh,
    bias,
    h0: row(h0Op),
    c0: row(c0Op),
    output: row(out),
    cells: row(cellsOp),
    tanhCells: row(tanhOp),
    steps,
    batch,
    rows: band,
    hidden: s.padded,
  }));
  for (const op of [gatesOp, out, cellsOp, tanhOp]) s.get(op);
}

export function lstmSequenceBackwardWasm(args: LstmSequenceBackwardArgs): void {
  const { gradOutput, gates, c0, cells, tanhCells, weightHh, dGates, dh, dc, dBias, steps, batch } = args;
  const s = new Staging(args, 4);
  const rows = steps * batch;
  const gradOut = s.operand(gradOutput, rows);
  const gatesOp = s.operand(gates, rows, 4);
  const c0Op = s.operand(c0, batch);
  const cellsOp = s.operand(cells, rows);
  const tanhOp = s.operand(tanhCells, rows);
  const dGatesOp = s.operand(dGates, rows, 4);
  const dhOp = s.operand(dh, batch);
  const dcOp = s.operand(dc, batch);
  const sums = s.groupSums(4);
  const whh = s.packWeight(weightHh, 4, false);
  for (const op of [gradOut, gatesOp, c0Op, cellsOp, tanhOp, dhOp, dcOp]) s.put(op);
  s.run('lstmBackward', (row, band) => ({
    gradOutput: row(gradOut),
    gates: row(gatesOp),
    c0: row(c0Op),
    cells: row(cellsOp),
    tanhCells: row(tanhOp),
    whh,
    dGates: row(dGatesOp),
    dh: row(dhOp),
    dc: row(dcOp),
    sums: row(sums),
    steps,
    batch,
    rows: band,
    hidden: s.padded,
  }));
  for (const op of [dGatesOp, dhOp, dcOp]) s.get(op);
  s.sumGroups(sums, dBias);
}

export function gruSequenceForwardWasm(args: GruSequenceForwardArgs): void {
  const { gates, weightHh, biasIh, biasHh, h0, output, hiddenN, steps, batch } = args;
  const s = new Staging(args, 3);
  const rows = steps * batch;
  const gatesOp = s.operand(gates, rows, 3);
  const h0Op = s.operand(h0, batch);
  const out = s.operand(output, rows);
  const hiddenNOp = s.operand(hiddenN, rows);
  // One step's h_{t-1}·W_hhᵀ [B, 3P], each band in its own rows.
  const hiddenGates = s.scratchRows(3 * s.padded);
  const whh = s.packWeight(weightHh, 3, true);
  const bias = s.biases(biasIh, biasHh, 3, true);
  for (const op of [gatesOp, h0Op]) s.put(op);
  s.run('gruForward', (row, band) => ({
    gates: row(gatesOp),
    hiddenGates: row(hiddenGates),
    whh,
    bias,
    h0: row(h0Op),
    output: row(out),
    hiddenN: row(hiddenNOp),
    steps,
    batch,
    rows: band,
    hidden: s.padded,
  }));
  for (const op of [gatesOp, out, hiddenNOp]) s.get(op);
}

export function gruSequenceBackwardWasm(args: GruSequenceBackwardArgs): void {
  const {
    gradOutput,
    gates,
    hiddenN,
    h0,
    output,
    weightHh,
    dInputGates,
    dHiddenGates,
    dh,
    dBiasIh,
    dBiasHh,
  } = args;
  const { steps, batch } = args;
  const s = new Staging(args, 3);
  const rows = steps * batch;
  const gradOut = s.operand(gradOutput, rows);
  const gatesOp = s.operand(gates, rows, 3);
  const hiddenNOp = s.operand(hiddenN, rows);
  const h0Op = s.operand(h0, batch);
  const out = s.operand(output, rows);
  const dInput = s.operand(dInputGates, rows, 3);
  const dHidden = s.operand(dHiddenGates, rows, 3);
  const dhOp = s.operand(dh, batch);
  const [sumsIh, sumsHh] = [s.groupSums(3), s.groupSums(3)];
  const whh = s.packWeight(weightHh, 3, false);
  for (const op of [gradOut, gatesOp, hiddenNOp, h0Op, out, dhOp]) s.put(op);
  s.run('gruBackward', (row, band) => ({
    gradOutput: row(gradOut),
    gates: row(gatesOp),
    hiddenN: row(hiddenNOp),
    h0: row(h0Op),
    output: row(out),
    whh,
    dInput: row(dInput),
    dHidden: row(dHidden),
    dh: row(dhOp),
    sumsIh: row(sumsIh),
    sumsHh: row(sumsHh),
    steps,
    batch,
    rows: band,
    hidden: s.padded,
  }));
  for (const op of [dInput, dHidden, dhOp]) s.get(op);
  s.sumGroups(sumsIh, dBiasIh);
  s.sumGroups(sumsHh, dBiasHh);
}
