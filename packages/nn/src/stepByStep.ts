// The seed notebook's RNN and LSTM functions, done right: column layout ((n, m) per step, (n, m, T) per
// sequence), forwards composed from core ops, backwards derived by hand and carried through time.
import {
  add,
  concat,
  formatShape as fmt,
  matmul,
  mul,
  noGrad,
  ShapeError,
  sigmoid,
  slice,
  softmax,
  squeeze,
  stack,
  sub,
  sum,
  Tensor,
  tanh,
  zeros,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface RnnParameters {
  Wax: Tensor; // (n_a, n_x)
  Waa: Tensor; // (n_a, n_a)
  Wya: Tensor; // (n_y, n_a)
  ba: Tensor; // (n_a, 1)
  by: Tensor; // (n_y, 1)
}

export interface RnnCache {
  aNext: Tensor;
  aPrev: Tensor;
  xt: Tensor;
  parameters: RnnParameters;
}

/** The notebook's `(caches, x)`: one cache per time step, and the whole input. */
export interface RnnCaches {
  steps: RnnCache[];
  x: Tensor;
}

export interface LstmParameters {
  Wf: Tensor; // (n_a, n_a + n_x), acting on the stack [a_prev; x_t]
  bf: Tensor; // (n_a, 1)
  Wi: Tensor;
  bi: Tensor;
  Wc: Tensor;
  bc: Tensor;
  Wo: Tensor;
  bo: Tensor;
  Wy: Tensor; // (n_y, n_a)
  by: Tensor; // (n_y, 1)
}

export interface LstmCache {
  aNext: Tensor;
  cNext: Tensor;
  aPrev: Tensor;
  cPrev: Tensor;
  ft: Tensor;
  it: Tensor;
  cct: Tensor;
  ot: Tensor;
  xt: Tensor;
  parameters: LstmParameters;
}

export interface LstmCaches {
  steps: LstmCache[];
  x: Tensor;
}

/** Checks each named tensor against its expected shape; the error names the function and both shapes. */
function expectShapes(fn: string, expected: Record<string, [Tensor, readonly number[]]>): void {
  for (const [name, [t, shape]] of Object.entries(expected)) {
    if (!(t instanceof Tensor)) throw new TypeError(`${fn}: ${name} is not a Tensor`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ShapeError(`${fn}: ${name} has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
    }
  }
}

/** The sizes of a rank-`rank` tensor, or an error naming the function. */
function dims(fn: string, name: string, t: Tensor, rank: number): number[] {
  if (!(t instanceof Tensor)) throw new TypeError(`${fn}: ${name} is not a Tensor`);
  if (t.shape.length !== rank) {
    throw new ShapeError(`${fn}: ${name} must have rank ${rank}, got shape ${fmt(t.shape)}`);
  }
  return [...t.shape];
}

/** x[:, :, t] of an (n, m, T) tensor, as a differentiable (n, m) slice. */
const timeStep = (x: Tensor, t: number): Tensor =>
  squeeze(slice(x, [0, 0, t], [x.shape[0]!, x.shape[1]!, t + 1]), 2);

/** Σ Wᵀ·d over the pairs, through the gemm kernel's transpose flag (no weight copied to be transposed). */
function transposedTimes(weights: readonly Tensor[], grads: readonly Tensor[]): Tensor {
  const [rows, cols] = weights[0]!.shape as [number, number];
  const n = grads[0]!.shape[1]!;
  const out = allocate(grads[0]!.dtype, cols * n);
  weights.forEach((w, i) => {
    kernels.gemm({
      a: w.data,
      b: grads[i]!.data,
      c: out,
      m: cols,
      n,
      k: rows,
      transA: true,
      accumulate: true,
    });
  });
  return new Tensor(out, [cols, n]);
}

/** d·vᵀ: a weight's grad from its pre-activation grad d (k, m) and its input v (n, m). */
function timesTransposed(d: Tensor, v: Tensor): Tensor {
  const [k, m] = d.shape as [number, number];
  const n = v.shape[0]!;
  const out = allocate(d.dtype, k * n);
  kernels.gemm({ a: d.data, b: v.data, c: out, m: k, n, k: m, transB: true });
  return new Tensor(out, [k, n]);
}

/** A bias's grad: the pre-activation grad summed over the examples (columns). */
const columnSum = (d: Tensor): Tensor => sum(d, { axis: 1, keepDims: true });

// tanh' = 1 - y², sigmoid' = y(1 - y), written in terms of the forward's outputs.
const tanhSlope = (y: Tensor): Tensor => sub(1, mul(y, y));
const sigmoidSlope = (y: Tensor): Tensor => mul(y, sub(1, y));

// ---------------------------------------------------------------------------------------------------
// RNN

/** Checks the parameters and the initial state of an RNN step on n_x inputs and m examples. */
function checkRnn(
  fn: string,
  nX: number,
  m: number,
  aName: string,
  aPrev: Tensor,
  parameters: RnnParameters,
) {
  const [nA] = dims(fn, aName, aPrev, 2) as [number, number];
  const [nY] = dims(fn, 'Wya', parameters.Wya, 2) as [number, number];
  expectShapes(fn, {
    [aName]: [aPrev, [nA, m]],
    Wax: [parameters.Wax, [nA, nX]],
    Waa: [parameters.Waa, [nA, nA]],
    Wya: [parameters.Wya, [nY, nA]],
    ba: [parameters.ba, [nA, 1]],
    by: [parameters.by, [nY, 1]],
  });
}

function rnnCell(xt: Tensor, aPrev: Tensor, parameters: RnnParameters) {
  const { Wax, Waa, Wya, ba, by } = parameters;
  const aNext = tanh(add(add(matmul(Wax, xt), matmul(Waa, aPrev)), ba));
  const ytPred = softmax(add(matmul(Wya, aNext), by), 0);
  return { aNext, ytPred, cache: { aNext, aPrev, xt, parameters } };
}

/** One step: a_next = tanh(Wax·x_t + Waa·a_prev + ba), ŷ_t = softmax(Wya·a_next + by) over axis 0. */
export function rnnCellForward(
  xt: Tensor,
  aPrev: Tensor,
  parameters: RnnParameters,
): { aNext: Tensor; ytPred: Tensor; cache: RnnCache } {
  const [nX, m] = dims('rnnCellForward', 'xt', xt, 2) as [number, number];
  checkRnn('rnnCellForward', nX, m, 'aPrev', aPrev, parameters);
  return rnnCell(xt, aPrev, parameters);
}

/** The cell over x (n_x, m, T) from a0 (n_a, m); a (n_a, m, T) and yPred (n_y, m, T) stack the steps. */
export function rnnForward(
  x: Tensor,
  a0: Tensor,
  parameters: RnnParameters,
): { a: Tensor; yPred: Tensor; caches: RnnCaches } {
  const [nX, m, T] = dims('rnnForward', 'x', x, 3) as [number, number, number];
  if (T === 0) throw new ShapeError(`rnnForward: x has shape ${fmt(x.shape)}, with no time steps`);
  checkRnn('rnnForward', nX, m, 'a0', a0, parameters);
  const steps: RnnCache[] = [];
  const as: Tensor[] = [];
  const ys: Tensor[] = [];
  let aNext = a0;
  for (let t = 0; t < T; t++) {
    const step = rnnCell(timeStep(x, t), aNext, parameters);
    aNext = step.aNext;
    as.push(step.aNext);
    ys.push(step.ytPred);
    steps.push(step.cache);
  }
  return { a: stack(as, 2), yPred: stack(ys, 2), caches: { steps, x } };
}

/**
 * One step back, given daNext = ∂L/∂a_next. With dz = (1 - a_next²) ⊙ daNext, the grad at the
 * pre-activation: dxt = Waxᵀ·dz, daPrev = Waaᵀ·dz, dWax = dz·x_tᵀ, dWaa = dz·a_prevᵀ, dba = Σ_m dz.
 */
export function rnnCellBackward(
  daNext: Tensor,
  cache: RnnCache,
): { dxt: Tensor; daPrev: Tensor; dWax: Tensor; dWaa: Tensor; dba: Tensor } {
  const { aNext, aPrev, xt, parameters } = cache;
  expectShapes('rnnCellBackward', { daNext: [daNext, aNext.shape] });
  return noGrad(() => {
    const dz = mul(tanhSlope(aNext), daNext);
    return {
      dxt: transposedTimes([parameters.Wax], [dz]),
      daPrev: transposedTimes([parameters.Waa], [dz]),
      dWax: timesTransposed(dz, xt),
      dWaa: timesTransposed(dz, aPrev),
      dba: columnSum(dz),
    };
  });
}

/**
 * Backpropagation through time. `da` (n_a, m, T) is the gradient of the loss with respect to the hidden
 * states from outside the recurrence only, as in the notebook: the output layer ŷ = softmax(Wya·a + by) is
 * not differentiated here (fold it into da, and Wya, by get no grads). Each step adds the grad carried
 * back from the step after it, so the result is the full gradient of Σ_t ⟨da_t, a_t⟩.
 */
export function rnnBackward(
  da: Tensor,
  caches: RnnCaches,
): { dx: Tensor; da0: Tensor; dWax: Tensor; dWaa: Tensor; dba: Tensor } {
  const { steps } = caches;
  const first = steps[0];
  if (!first) throw new ShapeError('rnnBackward: caches hold no time steps');
  const [nA, m] = first.aNext.shape as [number, number];
  expectShapes('rnnBackward', { da: [da, [nA, m, steps.length]] });
  return noGrad(() => {
    const dxs: Tensor[] = [];
    let daPrev = zeros([nA, m], { dtype: da.dtype });
    let dWax = zeros(first.parameters.Wax.shape, { dtype: da.dtype });
    let dWaa = zeros(first.parameters.Waa.shape, { dtype: da.dtype });
    let dba = zeros([nA, 1], { dtype: da.dtype });
    for (let t = steps.length - 1; t >= 0; t--) {
      const step = rnnCellBackward(add(timeStep(da, t), daPrev), steps[t]!);
      dxs[t] = step.dxt;
      daPrev = step.daPrev;
      dWax = add(dWax, step.dWax);
      dWaa = add(dWaa, step.dWaa);
      dba = add(dba, step.dba);
    }
    return { dx: stack(dxs, 2), da0: daPrev, dWax, dWaa, dba };
  });
}

// ---------------------------------------------------------------------------------------------------
// LSTM

/** Checks the parameters and the initial states of an LSTM step on n_x inputs and m examples. */
function checkLstm(
  fn: string,
  nX: number,
  m: number,
  states: Record<string, Tensor>,
  parameters: LstmParameters,
): void {
  const [aName, aPrev] = Object.entries(states)[0]!;
  const [nA] = dims(fn, aName, aPrev, 2) as [number, number];
  const [nY] = dims(fn, 'Wy', parameters.Wy, 2) as [number, number];
  const expected: Record<string, [Tensor, readonly number[]]> = {};
  for (const [name, state] of Object.entries(states)) expected[name] = [state, [nA, m]];
  for (const g of ['f', 'i', 'c', 'o'] as const) {
    expected[`W${g}`] = [parameters[`W${g}`], [nA, nA + nX]];
    expected[`b${g}`] = [parameters[`b${g}`], [nA, 1]];
  }
  expected.Wy = [parameters.Wy, [nY, nA]];
  expected.by = [parameters.by, [nY, 1]];
  expectShapes(fn, expected);
}

function lstmCell(xt: Tensor, aPrev: Tensor, cPrev: Tensor, parameters: LstmParameters) {
  const { Wf, bf, Wi, bi, Wc, bc, Wo, bo, Wy, by } = parameters;
  const stacked = concat([aPrev, xt], 0);
  const ft = sigmoid(add(matmul(Wf, stacked), bf));
  const it = sigmoid(add(matmul(Wi, stacked), bi));
  const cct = tanh(add(matmul(Wc, stacked), bc));
  const ot = sigmoid(add(matmul(Wo, stacked), bo));
  const cNext = add(mul(ft, cPrev), mul(it, cct));
  const aNext = mul(ot, tanh(cNext));
  const ytPred = softmax(add(matmul(Wy, aNext), by), 0);
  const cache = { aNext, cNext, aPrev, cPrev, ft, it, cct, ot, xt, parameters };
  return { aNext, cNext, ytPred, cache };
}

/**
 * One step, gates on the stack s = [a_prev; x_t]: f, i, o = σ(W·s + b), c̃ = tanh(Wc·s + bc),
 * c_next = f ⊙ c_prev + i ⊙ c̃, a_next = o ⊙ tanh(c_next), ŷ_t = softmax(Wy·a_next + by) over axis 0.
 */
export function lstmCellForward(
  xt: Tensor,
  aPrev: Tensor,
  cPrev: Tensor,
  parameters: LstmParameters,
): { aNext: Tensor; cNext: Tensor; ytPred: Tensor; cache: LstmCache } {
  const [nX, m] = dims('lstmCellForward', 'xt', xt, 2) as [number, number];
  checkLstm('lstmCellForward', nX, m, { aPrev, cPrev }, parameters);
  return lstmCell(xt, aPrev, cPrev, parameters);
}

/** The cell over x (n_x, m, T) from a0 and c0 = 0; a, c (n_a, m, T) and y (n_y, m, T) stack the steps. */
export function lstmForward(
  x: Tensor,
  a0: Tensor,
  parameters: LstmParameters,
): { a: Tensor; y: Tensor; c: Tensor; caches: LstmCaches } {
  const [nX, m, T] = dims('lstmForward', 'x', x, 3) as [number, number, number];
  if (T === 0) throw new ShapeError(`lstmForward: x has shape ${fmt(x.shape)}, with no time steps`);
  checkLstm('lstmForward', nX, m, { a0 }, parameters);
  const steps: LstmCache[] = [];
  const as: Tensor[] = [];
  const cs: Tensor[] = [];
  const ys: Tensor[] = [];
  let aNext = a0;
  let cNext = zeros(a0.shape, { dtype: a0.dtype });
  for (let t = 0; t < T; t++) {
    const step = lstmCell(timeStep(x, t), aNext, cNext, parameters);
    ({ aNext, cNext } = step);
    as.push(aNext);
    cs.push(cNext);
    ys.push(step.ytPred);
    steps.push(step.cache);
  }
  return { a: stack(as, 2), y: stack(ys, 2), c: stack(cs, 2), caches: { steps, x } };
}

/**
 * One step back, given daNext = ∂L/∂a_next and dcNext = ∂L/∂c_next (from outside a_next's path).
 * dc = dcNext + daNext ⊙ o ⊙ (1 - tanh²c_next) is the cell state's whole grad; at the pre-activations
 * df = dc ⊙ c_prev ⊙ f(1-f), di = dc ⊙ c̃ ⊙ i(1-i), dc̃ = dc ⊙ i ⊙ (1-c̃²), do = daNext ⊙ tanh c_next ⊙ o(1-o);
 * then d[a_prev; x_t] = Σ_g W_gᵀ·dg (split by rows), dW_g = dg·[a_prev; x_t]ᵀ, db_g = Σ_m dg, dcPrev = dc ⊙ f.
 */
export function lstmCellBackward(
  daNext: Tensor,
  dcNext: Tensor,
  cache: LstmCache,
): {
  dxt: Tensor;
  daPrev: Tensor;
  dcPrev: Tensor;
  dWf: Tensor;
  dbf: Tensor;
  dWi: Tensor;
  dbi: Tensor;
  dWc: Tensor;
  dbc: Tensor;
  dWo: Tensor;
  dbo: Tensor;
} {
  const { aNext, cNext, aPrev, cPrev, ft, it, cct, ot, xt, parameters } = cache;
  expectShapes('lstmCellBackward', { daNext: [daNext, aNext.shape], dcNext: [dcNext, cNext.shape] });
  return noGrad(() => {
    const nA = aPrev.shape[0]!;
    const tanhC = tanh(cNext);
    const dc = add(dcNext, mul(mul(daNext, ot), tanhSlope(tanhC)));
    const df = mul(mul(dc, cPrev), sigmoidSlope(ft));
    const di = mul(mul(dc, cct), sigmoidSlope(it));
    const dcc = mul(mul(dc, it), tanhSlope(cct));
    const dout = mul(mul(daNext, tanhC), sigmoidSlope(ot));
    const stacked = concat([aPrev, xt], 0);
    const { Wf, Wi, Wc, Wo } = parameters;
    const dStacked = transposedTimes([Wf, Wi, Wc, Wo], [df, di, dcc, dout]);
    return {
      dxt: slice(dStacked, [nA], [dStacked.shape[0]!]),
      daPrev: slice(dStacked, [0], [nA]),
      dcPrev: mul(dc, ft),
      dWf: timesTransposed(df, stacked),
      dbf: columnSum(df),
      dWi: timesTransposed(di, stacked),
      dbi: columnSum(di),
      dWc: timesTransposed(dcc, stacked),
      dbc: columnSum(dcc),
      dWo: timesTransposed(dout, stacked),
      dbo: columnSum(dout),
    };
  });
}

/**
 * Backpropagation through time. As in rnnBackward, `da` (n_a, m, T) is the gradient of the loss with
 * respect to the hidden states from outside the recurrence only (the output layer Wy, by is not
 * differentiated). Both da_prev and dc_prev are carried from each step to the one before it, so the
 * result is the full gradient of Σ_t ⟨da_t, a_t⟩ with respect to x, a0 and the gate parameters.
 */
export function lstmBackward(
  da: Tensor,
  caches: LstmCaches,
): {
  dx: Tensor;
  da0: Tensor;
  dWf: Tensor;
  dbf: Tensor;
  dWi: Tensor;
  dbi: Tensor;
  dWc: Tensor;
  dbc: Tensor;
  dWo: Tensor;
  dbo: Tensor;
} {
  const { steps } = caches;
  const first = steps[0];
  if (!first) throw new ShapeError('lstmBackward: caches hold no time steps');
  const [nA, m] = first.aNext.shape as [number, number];
  expectShapes('lstmBackward', { da: [da, [nA, m, steps.length]] });
  return noGrad(() => {
    const dxs: Tensor[] = [];
    const gate = first.parameters.Wf.shape;
    const totals = {
      dWf: zeros(gate, { dtype: da.dtype }),
      dbf: zeros([nA, 1], { dtype: da.dtype }),
      dWi: zeros(gate, { dtype: da.dtype }),
      dbi: zeros([nA, 1], { dtype: da.dtype }),
      dWc: zeros(gate, { dtype: da.dtype }),
      dbc: zeros([nA, 1], { dtype: da.dtype }),
      dWo: zeros(gate, { dtype: da.dtype }),
      dbo: zeros([nA, 1], { dtype: da.dtype }),
    };
    let daPrev = zeros([nA, m], { dtype: da.dtype });
    let dcPrev = zeros([nA, m], { dtype: da.dtype });
    for (let t = steps.length - 1; t >= 0; t--) {
      const step = lstmCellBackward(add(timeStep(da, t), daPrev), dcPrev, steps[t]!);
      dxs[t] = step.dxt;
      ({ daPrev, dcPrev } = step);
      for (const key of Object.keys(totals) as (keyof typeof totals)[]) {
        totals[key] = add(totals[key], step[key]);
      }
    }
    return { dx: stack(dxs, 2), da0: daPrev, ...totals };
  });
}

markLibraryCode(codeStart, new Error()); // and where it ends
