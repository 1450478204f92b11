// The fused elementwise loops of the recurrent cells (RNN, LSTM, GRU), forward and backward, over
// row-major [batch, gates·hidden] buffers, and whole-sequence loops that run them with the recurrent gemm
// for every step of buffers laid out [T·B, ·] (a step's block at an offset, never a copy).
import type { TypedArray } from '../dtype.js';
import { expFloat32, stableSigmoid as sigmoid } from './elementwise.js';
import { gemm, onRecurrentWasm } from './matmul.js';
import {
  gruSequenceBackwardWasm,
  gruSequenceForwardWasm,
  lstmSequenceBackwardWasm,
  lstmSequenceForwardWasm,
  rnnSequenceBackwardWasm,
  rnnSequenceForwardWasm,
} from './wasm/recurrent.js';

export interface CellDims {
  batch: number;
  hidden: number;
}

export type RnnNonlinearity = 'tanh' | 'relu';

const sigmoidFloat32 = (v: number): number => 1 / (1 + expFloat32(-v));

function tanhFloat32(v: number): number {
  // Near 0, 1 - 2/(e^2v + 1) cancels; the series is exact to float32 there.
  if (v > -0.05 && v < 0.05) {
    const v2 = v * v;
    return v * (1 - v2 * (1 / 3 - v2 * (2 / 15 - (v2 * 17) / 315)));
  }
  return 1 - 2 / (expFloat32(2 * v) + 1);
}

interface Activations {
  sigmoid(v: number): number;
  tanh(v: number): number;
}

const exact: Activations = { sigmoid, tanh: Math.tanh };
const float32: Activations = { sigmoid: sigmoidFloat32, tanh: tanhFloat32 };

/** float64 keeps Math's functions (the references' own); float32 takes the faster ones. */
const activationsFor = (out: TypedArray): Activations => (out instanceof Float32Array ? float32 : exact);

/** Column sums of a [batch, width] buffer into out[width] (the bias grads). */
function sumRows(x: TypedArray, out: TypedArray, batch: number, width: number): void {
  out.fill(0, 0, width);
  for (let b = 0; b < batch; b++) {
    const row = b * width;
    for (let j = 0; j < width; j++) out[j] = out[j]! + x[row + j]!;
  }
}

/** In place: gates holds x·W_ihᵀ + h·W_hhᵀ [B, H] on entry and h' = act(gates + b_ih + b_hh) on exit. */
export function rnnGatesForward(
  gates: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  dims: CellDims,
  nonlinearity: RnnNonlinearity,
): void {
  rnnActivate(gates, 0, biasIh, biasHh, dims, nonlinearity);
}

/** The [B, H] block of gates at `at`, activated in place. */
function rnnActivate(
  gates: TypedArray,
  at: number,
  biasIh: TypedArray,
  biasHh: TypedArray,
  dims: CellDims,
  nonlinearity: RnnNonlinearity,
): void {
  const { batch, hidden } = dims;
  const relu = nonlinearity === 'relu';
  const { tanh } = activationsFor(gates);
  for (let b = 0; b < batch; b++) {
    const row = at + b * hidden;
    for (let j = 0; j < hidden; j++) {
      const pre = gates[row + j]! + biasIh[j]! + biasHh[j]!;
      gates[row + j] = relu ? (pre > 0 || Number.isNaN(pre) ? pre : 0) : tanh(pre);
    }
  }
}

/** dGates = gradH ⊙ act'(pre), from h' alone; dBias = Σ_batch dGates. */
export function rnnGatesBackward(
  gradH: TypedArray,
  hNext: TypedArray,
  dGates: TypedArray,
  dBias: TypedArray,
  dims: CellDims,
  nonlinearity: RnnNonlinearity,
): void {
  rnnDerivative(gradH, hNext, 0, dGates, dims.batch * dims.hidden, nonlinearity);
  sumRows(dGates, dBias, dims.batch, dims.hidden);
}

/** dGates[at..at+n] = gradH[0..n] ⊙ act'(pre), act' read from h' = hNext[at..at+n]. */
function rnnDerivative(
  gradH: TypedArray,
  hNext: TypedArray,
  at: number,
  dGates: TypedArray,
  n: number,
  nonlinearity: RnnNonlinearity,
): void {
  // tanh' = 1 - h'²; relu' = [pre > 0] = [h' > 0]
  if (nonlinearity === 'relu') {
    for (let i = 0; i < n; i++) dGates[at + i] = hNext[at + i]! > 0 ? gradH[i]! : 0;
  } else {
    for (let i = 0; i < n; i++) {
      const h = hNext[at + i]!;
      dGates[at + i] = gradH[i]! * (1 - h * h);
    }
  }
}

/**
 * In place: gates [B, 4H] holds x·W_ihᵀ + h·W_hhᵀ on entry and the activated gates i, f, g, o on
 * exit. Writes c' = f⊙c + i⊙g, h' = o⊙tanh(c') and tanh(c') (kept for backward).
 */
export function lstmGatesForward(
  gates: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  c: TypedArray,
  cNext: TypedArray,
  hNext: TypedArray,
  tanhCNext: TypedArray,
  dims: CellDims,
): void {
  lstmForwardAt(gates, 0, sumBiases(biasIh, biasHh), c, 0, cNext, hNext, tanhCNext, 0, dims);
}

/** Grown as needed and reused: the sums are read only within the call that wrote them. */
let biasSums = new Float64Array(0);

/** biasIh + biasHh in float64, added once per call rather than once per row; biasSums itself. */
function sumBiases(biasIh: TypedArray, biasHh: TypedArray): Float64Array {
  const n = biasIh.length;
  if (biasSums.length < n) biasSums = new Float64Array(n);
  for (let k = 0; k < n; k++) biasSums[k] = biasIh[k]! + biasHh[k]!;
  return biasSums;
}

/**
 * lstmGatesForward on the [B, 4H] block of gates at gatesAt, c's [B, H] block at cAt, the outputs' at
 * nextAt; bias is biasIh + biasHh (sumBiases).
 */
function lstmForwardAt(
  gates: TypedArray,
  gatesAt: number,
  bias: Float64Array,
  c: TypedArray,
  cAt: number,
  cNext: TypedArray,
  hNext: TypedArray,
  tanhCNext: TypedArray,
  nextAt: number,
  dims: CellDims,
): void {
  const { batch, hidden: H } = dims;
  const { sigmoid, tanh } = activationsFor(gates);
  for (let b = 0; b < batch; b++) {
    const row = gatesAt + b * 4 * H;
    const prev = cAt + b * H;
    const next = nextAt + b * H;
    // One activation per loop (i and f, the first 2H; g; o): small call sites that V8 inlines.
    for (let k = 0; k < 2 * H; k++) gates[row + k] = sigmoid(gates[row + k]! + bias[k]!);
    for (let k = 2 * H; k < 3 * H; k++) gates[row + k] = tanh(gates[row + k]! + bias[k]!);
    for (let k = 3 * H; k < 4 * H; k++) gates[row + k] = sigmoid(gates[row + k]! + bias[k]!);
    for (let j = 0; j < H; j++) {
      // c' = f⊙c + i⊙g, h' = o⊙tanh(c')
      const cj = gates[row + H + j]! * c[prev + j]! + gates[row + j]! * gates[row + 2 * H + j]!;
      const tc = tanh(cj);
      cNext[next + j] = cj;
      tanhCNext[next + j] = tc;
      hNext[next + j] = gates[row + 3 * H + j]! * tc;
    }
  }
}

/**
 * From the grads of h' and c', the grads of the pre-activation gates [B, 4H], of c, and of the
 * bias (Σ_batch dGates). gates are the activated i, f, g, o.
 */
export function lstmGatesBackward(
  gradH: TypedArray,
  gradC: TypedArray,
  gates: TypedArray,
  c: TypedArray,
  tanhCNext: TypedArray,
  dGates: TypedArray,
  dC: TypedArray,
  dBias: TypedArray,
  dims: CellDims,
): void {
  lstmBackwardAt(gradH, gradC, gates, 0, c, 0, tanhCNext, 0, dGates, dC, dims);
  sumRows(dGates, dBias, dims.batch, 4 * dims.hidden);
}

/**
 * lstmGatesBackward without the bias sum, on blocks at offsets: gates and dGates [B, 4H] at gatesAt,
 * c at cAt, tanh c' at nextAt; gradH, gradC and dC [B, H] from 0. dC may be gradC (read, then written).
 */
function lstmBackwardAt(
  gradH: TypedArray,
  gradC: TypedArray,
  gates: TypedArray,
  gatesAt: number,
  c: TypedArray,
  cAt: number,
  tanhCNext: TypedArray,
  nextAt: number,
  dGates: TypedArray,
  dC: TypedArray,
  dims: CellDims,
): void {
  const { batch, hidden: H } = dims;
  for (let b = 0; b < batch; b++) {
    const row = gatesAt + b * 4 * H;
    const state = b * H;
    const prev = cAt + b * H;
    const next = nextAt + b * H;
    for (let j = 0; j < H; j++) {
      const ii = row + j;
      const fi = ii + H;
      const gi = fi + H;
      const oi = gi + H;
      const i = gates[ii]!;
      const f = gates[fi]!;
      const g = gates[gi]!;
      const o = gates[oi]!;
      const gh = gradH[state + j]!;
      const tc = tanhCNext[next + j]!;
      // dc' total = gradC + gradH·o·(1 - tanh²c')
      const dc = gradC[state + j]! + gh * o * (1 - tc * tc);
      // di = dc·g, df = dc·c, dg = dc·i, do = gradH·tanh c'; each times its activation's derivative
      dGates[ii] = dc * g * i * (1 - i);
      dGates[fi] = dc * c[prev + j]! * f * (1 - f);
      dGates[gi] = dc * i * (1 - g * g);
      dGates[oi] = gh * tc * o * (1 - o);
      // dc = dc'·f
      dC[state + j] = dc * f;
    }
  }
}

/**
 * In place: gates [B, 3H] holds x·W_ihᵀ on entry and the activated r, z, n on exit; hiddenGates
 * [B, 3H] holds h·W_hhᵀ (kept apart because n needs r ⊙ (W_hn h + b_hn)). Writes
 * h' = (1-z)⊙n + z⊙h and hiddenN = W_hn h + b_hn (kept for backward).
 */
export function gruGatesForward(
  gates: TypedArray,
  hiddenGates: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h: TypedArray,
  hNext: TypedArray,
  hiddenN: TypedArray,
  dims: CellDims,
): void {
  gruForwardAt(gates, 0, hiddenGates, biasIh, biasHh, h, 0, hNext, hiddenN, 0, dims);
}

/** gruGatesForward on the [B, 3H] block of gates at gatesAt, h's [B, H] block at hAt, the outputs' at nextAt. */
function gruForwardAt(
  gates: TypedArray,
  gatesAt: number,
  hiddenGates: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h: TypedArray,
  hAt: number,
  hNext: TypedArray,
  hiddenN: TypedArray,
  nextAt: number,
  dims: CellDims,
): void {
  const { batch, hidden: H } = dims;
  const { sigmoid, tanh } = activationsFor(gates);
  for (let b = 0; b < batch; b++) {
    const row = gatesAt + b * 3 * H;
    const hiddenRow = b * 3 * H;
    const prev = hAt + b * H;
    const next = nextAt + b * H;
    for (let j = 0; j < H; j++) {
      const ri = row + j;
      const zi = ri + H;
      const ni = zi + H;
      const hr = hiddenRow + j;
      const r = sigmoid(gates[ri]! + hiddenGates[hr]! + biasIh[j]! + biasHh[j]!);
      const z = sigmoid(gates[zi]! + hiddenGates[hr + H]! + biasIh[j + H]! + biasHh[j + H]!);
      const hn = hiddenGates[hr + 2 * H]! + biasHh[j + 2 * H]!;
      const n = tanh(gates[ni]! + biasIh[j + 2 * H]! + r * hn);
      gates[ri] = r;
      gates[zi] = z;
      gates[ni] = n;
      hiddenN[next + j] = hn;
      hNext[next + j] = (1 - z) * n + z * h[prev + j]!;
    }
  }
}

/**
 * From the grad of h', the grads of the input-side pre-activations [B, 3H] (r, z, n), of the
 * hidden-side ones (r, z, and W_hn h + b_hn), the direct part of dh (through z⊙h), and both biases.
 */
export function gruGatesBackward(
  gradH: TypedArray,
  gates: TypedArray,
  hiddenN: TypedArray,
  h: TypedArray,
  dInputGates: TypedArray,
  dHiddenGates: TypedArray,
  dH: TypedArray,
  dBiasIh: TypedArray,
  dBiasHh: TypedArray,
  dims: CellDims,
): void {
  gruBackwardAt(gradH, gates, 0, hiddenN, h, 0, 0, dInputGates, dHiddenGates, dH, dims);
  sumRows(dInputGates, dBiasIh, dims.batch, 3 * dims.hidden);
  sumRows(dHiddenGates, dBiasHh, dims.batch, 3 * dims.hidden);
}

/**
 * gruGatesBackward without the bias sums, on blocks at offsets: gates and both dGates [B, 3H] at
 * gatesAt, h at hAt, hiddenN at nextAt; gradH and dH [B, H] from 0. dH may be gradH (read, then written).
 */
function gruBackwardAt(
  gradH: TypedArray,
  gates: TypedArray,
  gatesAt: number,
  hiddenN: TypedArray,
  h: TypedArray,
  hAt: number,
  nextAt: number,
  dInputGates: TypedArray,
  dHiddenGates: TypedArray,
  dH: TypedArray,
  dims: CellDims,
): void {
  const { batch, hidden: H } = dims;
  for (let b = 0; b < batch; b++) {
    const row = gatesAt + b * 3 * H;
    const state = b * H;
    const prev = hAt + b * H;
    const next = nextAt + b * H;
    for (let j = 0; j < H; j++) {
      const ri = row + j;
      const zi = ri + H;
      const ni = zi + H;
      const r = gates[ri]!;
      const z = gates[zi]!;
      const n = gates[ni]!;
      const g = gradH[state + j]!;
      const hj = h[prev + j]!;
      // dn_pre = g·(1-z)·(1-n²)
      const dn = g * (1 - z) * (1 - n * n);
      // dz_pre = g·(h - n)·z(1-z)
      const dz = g * (hj - n) * z * (1 - z);
      // dr_pre = dn_pre·(W_hn h + b_hn)·r(1-r)
      const dr = dn * hiddenN[next + j]! * r * (1 - r);
      dInputGates[ri] = dr;
      dInputGates[zi] = dz;
      dInputGates[ni] = dn;
      dHiddenGates[ri] = dr;
      dHiddenGates[zi] = dz;
      // d(W_hn h + b_hn) = dn_pre·r
      dHiddenGates[ni] = dn * r;
      // dh direct = g·z
      dH[state + j] = g * z;
    }
  }
}

export interface SequenceDims extends CellDims {
  steps: number;
}

/**
 * Whether a whole sequence runs on the wasm loops (recurrent.wat, through wasm/recurrent.ts): a float32
 * result (its dtype sets the precision, as activationsFor does for the JS loops; other inputs are
 * converted as they are copied in), and a per-step product the gemm backend would send to wasm.
 */
function sequenceOnWasm(dims: SequenceDims, gateCount: number, result: TypedArray): boolean {
  const { batch, hidden } = dims;
  return result instanceof Float32Array && onRecurrentWasm(batch * gateCount * hidden * hidden);
}

/** carry[0..n] += gradOutput[at..at+n]: step t's output grad joins the grad flowing back from t+1. */
function addBlock(carry: TypedArray, gradOutput: TypedArray, at: number, n: number): void {
  for (let i = 0; i < n; i++) carry[i] = carry[i]! + gradOutput[at + i]!;
}

/**
 * An RNN over T steps. output [T·B, H] holds X·W_ihᵀ for every step on entry (one gemm, the caller's)
 * and h_1..h_T on exit: step t adds h_{t-1}·W_hhᵀ (h_0 = h0) and is activated in place.
 */
export function rnnSequenceForward(
  output: TypedArray,
  weightHh: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h0: TypedArray,
  dims: SequenceDims,
  nonlinearity: RnnNonlinearity,
): void {
  if (sequenceOnWasm(dims, 1, output)) {
    rnnSequenceForwardWasm(output, weightHh, biasIh, biasHh, h0, dims, nonlinearity === 'relu');
    return;
  }
  const { steps, batch, hidden: H } = dims;
  const block = batch * H;
  for (let t = 0; t < steps; t++) {
    const recurrent = { m: batch, n: H, k: H, transB: true, accumulate: true, cOffset: t * block };
    if (t === 0) gemm(h0, weightHh, output, recurrent);
    else gemm(output, weightHh, output, { ...recurrent, aOffset: (t - 1) * block });
    rnnActivate(output, t * block, biasIh, biasHh, dims, nonlinearity);
  }
}

/**
 * Backward through time of rnnSequenceForward: dGates [T·B, H] for every step, dBias = Σ dGates over
 * T·B rows, and dh [B, H] (gradHN on entry) = the grad of h0 on exit.
 */
export function rnnSequenceBackward(
  gradOutput: TypedArray,
  output: TypedArray,
  weightHh: TypedArray,
  dGates: TypedArray,
  dh: TypedArray,
  dBias: TypedArray,
  dims: SequenceDims,
  nonlinearity: RnnNonlinearity,
): void {
  if (sequenceOnWasm(dims, 1, dGates)) {
    rnnSequenceBackwardWasm(gradOutput, output, weightHh, dGates, dh, dBias, dims, nonlinearity === 'relu');
    return;
  }
  const { steps, batch, hidden: H } = dims;
  const block = batch * H;
  for (let t = steps - 1; t >= 0; t--) {
    addBlock(dh, gradOutput, t * block, block);
    rnnDerivative(dh, output, t * block, dGates, block, nonlinearity);
    // dh_{t-1} = dGates_t · W_hh
    gemm(dGates, weightHh, dh, { m: batch, n: H, k: H, aOffset: t * block });
  }
  sumRows(dGates, dBias, steps * batch, H);
}

/**
 * An LSTM over T steps. gates [T·B, 4H] holds X·W_ihᵀ for every step on entry and the activated
 * i, f, g, o on exit; writes h_t into output, c_t into cells and tanh c_t into tanhCells (each [T·B, H]).
 */
export function lstmSequenceForward(
  gates: TypedArray,
  weightHh: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h0: TypedArray,
  c0: TypedArray,
  output: TypedArray,
  cells: TypedArray,
  tanhCells: TypedArray,
  dims: SequenceDims,
): void {
  if (sequenceOnWasm(dims, 4, gates)) {
    lstmSequenceForwardWasm(gates, weightHh, biasIh, biasHh, h0, c0, output, cells, tanhCells, dims);
    return;
  }
  const { steps, batch, hidden: H } = dims;
  const block = batch * H;
  const bias = sumBiases(biasIh, biasHh);
  for (let t = 0; t < steps; t++) {
    const gatesAt = t * 4 * block;
    const recurrent = { m: batch, n: 4 * H, k: H, transB: true, accumulate: true, cOffset: gatesAt };
    if (t === 0) gemm(h0, weightHh, gates, recurrent);
    else gemm(output, weightHh, gates, { ...recurrent, aOffset: (t - 1) * block });
    const [c, cAt] = t === 0 ? [c0, 0] : [cells, (t - 1) * block];
    lstmForwardAt(gates, gatesAt, bias, c, cAt, cells, output, tanhCells, t * block, dims);
  }
}

/**
 * Backward through time of lstmSequenceForward: dGates [T·B, 4H] for every step and dBias = Σ dGates
 * over T·B rows; dh and dc [B, H] hold the grads of h_T and c_T on entry and those of h0 and c0 on exit.
 */
export function lstmSequenceBackward(
  gradOutput: TypedArray,
  gates: TypedArray,
  c0: TypedArray,
  cells: TypedArray,
  tanhCells: TypedArray,
  weightHh: TypedArray,
  dGates: TypedArray,
  dh: TypedArray,
  dc: TypedArray,
  dBias: TypedArray,
  dims: SequenceDims,
): void {
  if (sequenceOnWasm(dims, 4, dGates)) {
    lstmSequenceBackwardWasm(gradOutput, gates, c0, cells, tanhCells, weightHh, dGates, dh, dc, dBias, dims);
    return;
  }
  const { steps, batch, hidden: H } = dims;
  const block = batch * H;
  for (let t = steps - 1; t >= 0; t--) {
    const gatesAt = t * 4 * block;
    addBlock(dh, gradOutput, t * block, block);
    const [c, cAt] = t === 0 ? [c0, 0] : [cells, (t - 1) * block];
    lstmBackwardAt(dh, dc, gates, gatesAt, c, cAt, tanhCells, t * block, dGates, dc, dims);
    // dh_{t-1} = dGates_t · W_hh
    gemm(dGates, weightHh, dh, { m: batch, n: H, k: 4 * H, aOffset: gatesAt });
  }
  sumRows(dGates, dBias, steps * batch, 4 * H);
}

/**
 * A GRU over T steps. gates [T·B, 3H] holds X·W_ihᵀ for every step on entry and the activated r, z, n
 * on exit; writes h_t into output and W_hn h_{t-1} + b_hn into hiddenN (each [T·B, H]). hiddenGates
 * [B, 3H] is scratch for one step's h_{t-1}·W_hhᵀ.
 */
export function gruSequenceForward(
  gates: TypedArray,
  hiddenGates: TypedArray,
  weightHh: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h0: TypedArray,
  output: TypedArray,
  hiddenN: TypedArray,
  dims: SequenceDims,
): void {
  if (sequenceOnWasm(dims, 3, gates)) {
    gruSequenceForwardWasm(gates, weightHh, biasIh, biasHh, h0, output, hiddenN, dims);
    return;
  }
  const { steps, batch, hidden: H } = dims;
  const block = batch * H;
  for (let t = 0; t < steps; t++) {
    const [h, hAt] = t === 0 ? [h0, 0] : [output, (t - 1) * block];
    gemm(h, weightHh, hiddenGates, { m: batch, n: 3 * H, k: H, transB: true, aOffset: hAt });
    gruForwardAt(gates, t * 3 * block, hiddenGates, biasIh, biasHh, h, hAt, output, hiddenN, t * block, dims);
  }
}

/**
 * Backward through time of gruSequenceForward: the input-side and hidden-side gate grads
 * [T·B, 3H] for every step and their bias sums over T·B rows; dh [B, H] holds the grad of h_T on
 * entry and that of h0 on exit.
 */
export function gruSequenceBackward(
  gradOutput: TypedArray,
  gates: TypedArray,
  hiddenN: TypedArray,
  h0: TypedArray,
  output: TypedArray,
  weightHh: TypedArray,
  dInputGates: TypedArray,
  dHiddenGates: TypedArray,
  dh: TypedArray,
  dBiasIh: TypedArray,
  dBiasHh: TypedArray,
  dims: SequenceDims,
): void {
  if (sequenceOnWasm(dims, 3, dInputGates)) {
    gruSequenceBackwardWasm(
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
      dims,
    );
    return;
  }
  const { steps, batch, hidden: H } = dims;
  const block = batch * H;
  for (let t = steps - 1; t >= 0; t--) {
    const gatesAt = t * 3 * block;
    addBlock(dh, gradOutput, t * block, block);
    const [h, hAt] = t === 0 ? [h0, 0] : [output, (t - 1) * block];
    gruBackwardAt(dh, gates, gatesAt, hiddenN, h, hAt, t * block, dInputGates, dHiddenGates, dh, dims);
    // dh_{t-1} = g·z + dGates_hh,t · W_hh
    gemm(dHiddenGates, weightHh, dh, { m: batch, n: H, k: 3 * H, aOffset: gatesAt, accumulate: true });
  }
  sumRows(dInputGates, dBiasIh, steps * batch, 3 * H);
  sumRows(dHiddenGates, dBiasHh, steps * batch, 3 * H);
}
