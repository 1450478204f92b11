// The fused elementwise loops of the recurrent cells (RNN, LSTM, GRU), forward and backward, over
// row-major [batch, gates·hidden] buffers, and whole-sequence loops that run them with the recurrent gemm
// for every step of buffers laid out [T·B, ·] (a step's block at an offset, never a copy).
// These are the JS backend's (backend/js.ts); the wasm backend's sequence loops are wasm/recurrent.ts.
import type {
  CellDims,
  GemmArgs,
  GruGatesBackwardArgs,
  GruGatesForwardArgs,
  GruSequenceBackwardArgs,
  GruSequenceForwardArgs,
  LstmGatesBackwardArgs,
  LstmGatesForwardArgs,
  LstmSequenceBackwardArgs,
  LstmSequenceForwardArgs,
  RnnGatesBackwardArgs,
  RnnGatesForwardArgs,
  RnnNonlinearity,
  RnnSequenceBackwardArgs,
  RnnSequenceForwardArgs,
} from '../backend/backend.js';
import { gemm } from '../backend/choose.js';
import type { TypedArray } from '../dtype.js';
import { type Arena, callArena } from '../memory/arena.js';
import { expFloat32, stableSigmoid as sigmoid } from './elementwise.js';
import { sumRowsJs } from './reduce.js';

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

/** In place: gates holds x·W_ihᵀ + h·W_hhᵀ [B, H] on entry and h' = act(gates + b_ih + b_hh) on exit. */
export function rnnGatesForward(args: RnnGatesForwardArgs): void {
  rnnActivate(args.gates, 0, args.biasIh, args.biasHh, args, args.nonlinearity);
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
export function rnnGatesBackward(args: RnnGatesBackwardArgs): void {
  const { gradH, hNext, dGates, dBias, batch, hidden, nonlinearity } = args;
  rnnDerivative(gradH, hNext, 0, dGates, batch * hidden, nonlinearity);
  sumRowsJs({ x: dGates, rows: batch, width: hidden, out: dBias });
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
export function lstmGatesForward(args: LstmGatesForwardArgs): void {
  const { gates, biasIh, biasHh, c, cNext, hNext, tanhCNext } = args;
  callArena('lstmGatesForward', (arena) =>
    lstmForwardAt(gates, 0, sumBiases(arena, biasIh, biasHh), c, 0, cNext, hNext, tanhCNext, 0, args),
  );
}

/**
 * biasIh + biasHh in float64, added once per call rather than once per row, in the call's arena: the
 * sums are read only within the call that wrote them, and the next call takes the same buffer.
 */
function sumBiases(arena: Arena, biasIh: TypedArray, biasHh: TypedArray): Float64Array {
  const n = biasIh.length;
  const sums = arena.take('float64', n, { zeroed: false }) as Float64Array;
  for (let k = 0; k < n; k++) sums[k] = biasIh[k]! + biasHh[k]!;
  return sums;
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
export function lstmGatesBackward(args: LstmGatesBackwardArgs): void {
  const { gradH, gradC, gates, c, tanhCNext, dGates, dC, dBias, batch, hidden } = args;
  lstmBackwardAt(gradH, gradC, gates, 0, c, 0, tanhCNext, 0, dGates, dC, args);
  sumRowsJs({ x: dGates, rows: batch, width: 4 * hidden, out: dBias });
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
export function gruGatesForward(args: GruGatesForwardArgs): void {
  const { gates, hiddenGates, biasIh, biasHh, h, hNext, hiddenN } = args;
  gruForwardAt(gates, 0, hiddenGates, biasIh, biasHh, h, 0, hNext, hiddenN, 0, args);
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
export function gruGatesBackward(args: GruGatesBackwardArgs): void {
  const { gradH, gates, hiddenN, h, dInputGates, dHiddenGates, dH, dBiasIh, dBiasHh, batch, hidden } = args;
  gruBackwardAt(gradH, gates, 0, hiddenN, h, 0, 0, dInputGates, dHiddenGates, dH, args);
  sumRowsJs({ x: dInputGates, rows: batch, width: 3 * hidden, out: dBiasIh });
  sumRowsJs({ x: dHiddenGates, rows: batch, width: 3 * hidden, out: dBiasHh });
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

/** carry[0..n] += gradOutput[at..at+n]: step t's output grad joins the grad flowing back from t+1. */
function addBlock(carry: TypedArray, gradOutput: TypedArray, at: number, n: number): void {
  for (let i = 0; i < n; i++) carry[i] = carry[i]! + gradOutput[at + i]!;
}

/**
 * The arguments of a sequence's per-step gemm: one object per sequence, its operand and offsets set
 * afresh for every step (a step allocates nothing). The gemm goes through the chooser, so a sequence on
 * these loops (float64, or no recurrent.wat) still takes wasm's gemm where that pays.
 */
function stepGemm(a: TypedArray, b: TypedArray, c: TypedArray, m: number, n: number, k: number): GemmArgs {
  return {
    a,
    b,
    c,
    m,
    n,
    k,
    transA: false,
    transB: false,
    accumulate: false,
    aOffset: 0,
    bOffset: 0,
    cOffset: 0,
  };
}

/** rnnSequenceForward in JS: step t adds h_{t-1}·W_hhᵀ (h_0 = h0) to its block and activates it in place. */
export function rnnSequenceForward(args: RnnSequenceForwardArgs): void {
  const { output, weightHh, biasIh, biasHh, h0, steps, batch, hidden: H, nonlinearity } = args;
  const block = batch * H;
  const recurrent = stepGemm(h0, weightHh, output, batch, H, H);
  recurrent.transB = true;
  recurrent.accumulate = true;
  for (let t = 0; t < steps; t++) {
    recurrent.cOffset = t * block;
    if (t > 0) {
      recurrent.a = output;
      recurrent.aOffset = (t - 1) * block;
    }
    gemm(recurrent);
    rnnActivate(output, t * block, biasIh, biasHh, args, nonlinearity);
  }
}

/** rnnSequenceBackward in JS. */
export function rnnSequenceBackward(args: RnnSequenceBackwardArgs): void {
  const { gradOutput, output, weightHh, dGates, dh, dBias, steps, batch, hidden: H, nonlinearity } = args;
  const block = batch * H;
  // dh_{t-1} = dGates_t · W_hh
  const back = stepGemm(dGates, weightHh, dh, batch, H, H);
  for (let t = steps - 1; t >= 0; t--) {
    addBlock(dh, gradOutput, t * block, block);
    rnnDerivative(dh, output, t * block, dGates, block, nonlinearity);
    back.aOffset = t * block;
    gemm(back);
  }
  sumRowsJs({ x: dGates, rows: steps * batch, width: H, out: dBias });
}

/** lstmSequenceForward in JS. */
export function lstmSequenceForward(args: LstmSequenceForwardArgs): void {
  callArena('lstmSequenceForward', (arena) =>
    lstmSequenceForwardWith(sumBiases(arena, args.biasIh, args.biasHh), args),
  );
}

/** lstmSequenceForward with bias = biasIh + biasHh (sumBiases). */
function lstmSequenceForwardWith(bias: Float64Array, args: LstmSequenceForwardArgs): void {
  const { gates, weightHh, h0, c0, output, cells, tanhCells, steps, batch, hidden: H } = args;
  const block = batch * H;
  const recurrent = stepGemm(h0, weightHh, gates, batch, 4 * H, H);
  recurrent.transB = true;
  recurrent.accumulate = true;
  for (let t = 0; t < steps; t++) {
    const gatesAt = t * 4 * block;
    recurrent.cOffset = gatesAt;
    if (t > 0) {
      recurrent.a = output;
      recurrent.aOffset = (t - 1) * block;
    }
    gemm(recurrent);
    const c = t === 0 ? c0 : cells;
    const cAt = t === 0 ? 0 : (t - 1) * block;
    lstmForwardAt(gates, gatesAt, bias, c, cAt, cells, output, tanhCells, t * block, args);
  }
}

/** lstmSequenceBackward in JS. */
export function lstmSequenceBackward(args: LstmSequenceBackwardArgs): void {
  const {
    gradOutput,
    gates,
    c0,
    cells,
    tanhCells,
    weightHh,
    dGates,
    dh,
    dc,
    dBias,
    steps,
    batch,
    hidden: H,
  } = args;
  const block = batch * H;
  // dh_{t-1} = dGates_t · W_hh
  const back = stepGemm(dGates, weightHh, dh, batch, H, 4 * H);
  for (let t = steps - 1; t >= 0; t--) {
    const gatesAt = t * 4 * block;
    addBlock(dh, gradOutput, t * block, block);
    const c = t === 0 ? c0 : cells;
    const cAt = t === 0 ? 0 : (t - 1) * block;
    lstmBackwardAt(dh, dc, gates, gatesAt, c, cAt, tanhCells, t * block, dGates, dc, args);
    back.aOffset = gatesAt;
    gemm(back);
  }
  sumRowsJs({ x: dGates, rows: steps * batch, width: 4 * H, out: dBias });
}

/** gruSequenceForward in JS. */
export function gruSequenceForward(args: GruSequenceForwardArgs): void {
  const { gates, hiddenGates, weightHh, biasIh, biasHh, h0, output, hiddenN, steps, batch, hidden: H } = args;
  const block = batch * H;
  const recurrent = stepGemm(h0, weightHh, hiddenGates, batch, 3 * H, H);
  recurrent.transB = true;
  for (let t = 0; t < steps; t++) {
    const h = t === 0 ? h0 : output;
    const hAt = t === 0 ? 0 : (t - 1) * block;
    recurrent.a = h;
    recurrent.aOffset = hAt;
    gemm(recurrent);
    gruForwardAt(gates, t * 3 * block, hiddenGates, biasIh, biasHh, h, hAt, output, hiddenN, t * block, args);
  }
}

/** gruSequenceBackward in JS. */
export function gruSequenceBackward(args: GruSequenceBackwardArgs): void {
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
  const { steps, batch, hidden: H } = args;
  const block = batch * H;
  // dh_{t-1} = g·z + dGates_hh,t · W_hh
  const back = stepGemm(dHiddenGates, weightHh, dh, batch, H, 3 * H);
  back.accumulate = true;
  for (let t = steps - 1; t >= 0; t--) {
    const gatesAt = t * 3 * block;
    addBlock(dh, gradOutput, t * block, block);
    const h = t === 0 ? h0 : output;
    const hAt = t === 0 ? 0 : (t - 1) * block;
    gruBackwardAt(dh, gates, gatesAt, hiddenN, h, hAt, t * block, dInputGates, dHiddenGates, dh, args);
    back.aOffset = gatesAt;
    gemm(back);
  }
  sumRowsJs({ x: dInputGates, rows: steps * batch, width: 3 * H, out: dBiasIh });
  sumRowsJs({ x: dHiddenGates, rows: steps * batch, width: 3 * H, out: dBiasHh });
}
