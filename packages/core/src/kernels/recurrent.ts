// The fused elementwise loops of the recurrent cells (RNN, LSTM, GRU), forward and backward, over
// row-major [batch, gates·hidden] buffers. The cells' matmuls are gemm calls around these loops.
import type { TypedArray } from '../dtype.js';

export interface CellDims {
  batch: number;
  hidden: number;
}

export type RnnNonlinearity = 'tanh' | 'relu';

/** 1/(1+e^-x) from the side where the exponential cannot overflow. */
function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

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
  const { batch, hidden } = dims;
  const relu = nonlinearity === 'relu';
  for (let b = 0; b < batch; b++) {
    const row = b * hidden;
    for (let j = 0; j < hidden; j++) {
      const pre = gates[row + j]! + biasIh[j]! + biasHh[j]!;
      gates[row + j] = relu ? (pre > 0 || Number.isNaN(pre) ? pre : 0) : Math.tanh(pre);
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
  const { batch, hidden } = dims;
  const n = batch * hidden;
  // tanh' = 1 - h'²; relu' = [pre > 0] = [h' > 0]
  if (nonlinearity === 'relu') for (let i = 0; i < n; i++) dGates[i] = hNext[i]! > 0 ? gradH[i]! : 0;
  else for (let i = 0; i < n; i++) dGates[i] = gradH[i]! * (1 - hNext[i]! * hNext[i]!);
  sumRows(dGates, dBias, batch, hidden);
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
  const { batch, hidden: H } = dims;
  for (let b = 0; b < batch; b++) {
    const row = b * 4 * H;
    const state = b * H;
    for (let j = 0; j < H; j++) {
      const ii = row + j;
      const fi = ii + H;
      const gi = fi + H;
      const oi = gi + H;
      const i = sigmoid(gates[ii]! + biasIh[j]! + biasHh[j]!);
      const f = sigmoid(gates[fi]! + biasIh[j + H]! + biasHh[j + H]!);
      const g = Math.tanh(gates[gi]! + biasIh[j + 2 * H]! + biasHh[j + 2 * H]!);
      const o = sigmoid(gates[oi]! + biasIh[j + 3 * H]! + biasHh[j + 3 * H]!);
      gates[ii] = i;
      gates[fi] = f;
      gates[gi] = g;
      gates[oi] = o;
      const cj = f * c[state + j]! + i * g;
      const tc = Math.tanh(cj);
      cNext[state + j] = cj;
      tanhCNext[state + j] = tc;
      hNext[state + j] = o * tc;
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
  const { batch, hidden: H } = dims;
  for (let b = 0; b < batch; b++) {
    const row = b * 4 * H;
    const state = b * H;
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
      const tc = tanhCNext[state + j]!;
      // dc' total = gradC + gradH·o·(1 - tanh²c')
      const dc = gradC[state + j]! + gh * o * (1 - tc * tc);
      // di = dc·g, df = dc·c, dg = dc·i, do = gradH·tanh c'; each times its activation's derivative
      dGates[ii] = dc * g * i * (1 - i);
      dGates[fi] = dc * c[state + j]! * f * (1 - f);
      dGates[gi] = dc * i * (1 - g * g);
      dGates[oi] = gh * tc * o * (1 - o);
      // dc = dc'·f
      dC[state + j] = dc * f;
    }
  }
  sumRows(dGates, dBias, batch, 4 * H);
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
  const { batch, hidden: H } = dims;
  for (let b = 0; b < batch; b++) {
    const row = b * 3 * H;
    const state = b * H;
    for (let j = 0; j < H; j++) {
      const ri = row + j;
      const zi = ri + H;
      const ni = zi + H;
      const r = sigmoid(gates[ri]! + hiddenGates[ri]! + biasIh[j]! + biasHh[j]!);
      const z = sigmoid(gates[zi]! + hiddenGates[zi]! + biasIh[j + H]! + biasHh[j + H]!);
      const hn = hiddenGates[ni]! + biasHh[j + 2 * H]!;
      const n = Math.tanh(gates[ni]! + biasIh[j + 2 * H]! + r * hn);
      gates[ri] = r;
      gates[zi] = z;
      gates[ni] = n;
      hiddenN[state + j] = hn;
      hNext[state + j] = (1 - z) * n + z * h[state + j]!;
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
  const { batch, hidden: H } = dims;
  for (let b = 0; b < batch; b++) {
    const row = b * 3 * H;
    const state = b * H;
    for (let j = 0; j < H; j++) {
      const ri = row + j;
      const zi = ri + H;
      const ni = zi + H;
      const r = gates[ri]!;
      const z = gates[zi]!;
      const n = gates[ni]!;
      const g = gradH[state + j]!;
      const hj = h[state + j]!;
      // dn_pre = g·(1-z)·(1-n²)
      const dn = g * (1 - z) * (1 - n * n);
      // dz_pre = g·(h - n)·z(1-z)
      const dz = g * (hj - n) * z * (1 - z);
      // dr_pre = dn_pre·(W_hn h + b_hn)·r(1-r)
      const dr = dn * hiddenN[state + j]! * r * (1 - r);
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
  sumRows(dInputGates, dBiasIh, batch, 3 * H);
  sumRows(dHiddenGates, dBiasHh, batch, 3 * H);
}
