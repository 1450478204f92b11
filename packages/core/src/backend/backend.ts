// The Backend interface: every kernel that has (or may have) more than one implementation, each taking
// ONE object of named arguments, so that two buffers swapped at a call site are a visible mistake, not
// a silent one. Shaped as jax-js's `Backend` and tfjs's registered kernels: a table of kernels by name.
import type { TypedArray } from '../dtype.js';

/** The implementations there are: plain JS loops (any dtype, the reference) and wasm SIMD (float32). */
export type BackendName = 'js' | 'wasm';

export interface CellDims {
  batch: number;
  hidden: number;
}

export interface SequenceDims extends CellDims {
  steps: number;
}

export type RnnNonlinearity = 'tanh' | 'relu';

/** C[m, n] (+)= op(A)[m, k] · op(B)[k, n], row-major, each operand at an offset into its buffer. */
export interface GemmArgs {
  a: TypedArray;
  b: TypedArray;
  c: TypedArray;
  m: number;
  n: number;
  k: number;
  /** A is stored [k, m] instead of [m, k]. */
  transA?: boolean;
  /** B is stored [n, k] instead of [k, n]. */
  transB?: boolean;
  /** C += A·B instead of C = A·B. */
  accumulate?: boolean;
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
}

/** In place: gates [B, H] holds x·W_ihᵀ + h·W_hhᵀ on entry and h' = act(gates + b_ih + b_hh) on exit. */
export interface RnnGatesForwardArgs extends CellDims {
  gates: TypedArray;
  biasIh: TypedArray;
  biasHh: TypedArray;
  nonlinearity: RnnNonlinearity;
}

/** dGates = gradH ⊙ act'(pre), from h' alone; dBias = Σ_batch dGates. */
export interface RnnGatesBackwardArgs extends CellDims {
  gradH: TypedArray;
  hNext: TypedArray;
  dGates: TypedArray;
  dBias: TypedArray;
  nonlinearity: RnnNonlinearity;
}

/**
 * In place: gates [B, 4H] holds x·W_ihᵀ + h·W_hhᵀ on entry and the activated i, f, g, o on exit;
 * writes c' = f⊙c + i⊙g, h' = o⊙tanh(c') and tanh(c') (kept for backward).
 */
export interface LstmGatesForwardArgs extends CellDims {
  gates: TypedArray;
  biasIh: TypedArray;
  biasHh: TypedArray;
  c: TypedArray;
  cNext: TypedArray;
  hNext: TypedArray;
  tanhCNext: TypedArray;
}

/** From the grads of h' and c': the grads of the pre-activation gates [B, 4H], of c, and of the bias. */
export interface LstmGatesBackwardArgs extends CellDims {
  gradH: TypedArray;
  gradC: TypedArray;
  /** The activated i, f, g, o. */
  gates: TypedArray;
  c: TypedArray;
  tanhCNext: TypedArray;
  dGates: TypedArray;
  dC: TypedArray;
  dBias: TypedArray;
}

/**
 * In place: gates [B, 3H] holds x·W_ihᵀ on entry and the activated r, z, n on exit; hiddenGates [B, 3H]
 * holds h·W_hhᵀ. Writes h' = (1-z)⊙n + z⊙h and hiddenN = W_hn h + b_hn (kept for backward).
 */
export interface GruGatesForwardArgs extends CellDims {
  gates: TypedArray;
  hiddenGates: TypedArray;
  biasIh: TypedArray;
  biasHh: TypedArray;
  h: TypedArray;
  hNext: TypedArray;
  hiddenN: TypedArray;
}

/** From the grad of h': the input-side and hidden-side pre-activation grads, the direct dh, both biases. */
export interface GruGatesBackwardArgs extends CellDims {
  gradH: TypedArray;
  gates: TypedArray;
  hiddenN: TypedArray;
  h: TypedArray;
  dInputGates: TypedArray;
  dHiddenGates: TypedArray;
  dH: TypedArray;
  dBiasIh: TypedArray;
  dBiasHh: TypedArray;
}

/**
 * An RNN over T steps. output [T·B, H] holds X·W_ihᵀ for every step on entry and h_1..h_T on exit.
 * Float32 precision when output is a Float32Array (the other buffers are read as they are).
 */
export interface RnnSequenceForwardArgs extends SequenceDims {
  output: TypedArray;
  weightHh: TypedArray;
  biasIh: TypedArray;
  biasHh: TypedArray;
  h0: TypedArray;
  nonlinearity: RnnNonlinearity;
}

/** Backward through time: dGates [T·B, H], dBias = Σ dGates; dh [B, H] holds grad h_T on entry, grad h0 on exit. */
export interface RnnSequenceBackwardArgs extends SequenceDims {
  gradOutput: TypedArray;
  output: TypedArray;
  weightHh: TypedArray;
  dGates: TypedArray;
  dh: TypedArray;
  dBias: TypedArray;
  nonlinearity: RnnNonlinearity;
}

/**
 * An LSTM over T steps. gates [T·B, 4H] holds X·W_ihᵀ on entry and the activated i, f, g, o on exit;
 * writes h_t into output, c_t into cells and tanh c_t into tanhCells (each [T·B, H]).
 */
export interface LstmSequenceForwardArgs extends SequenceDims {
  gates: TypedArray;
  weightHh: TypedArray;
  biasIh: TypedArray;
  biasHh: TypedArray;
  h0: TypedArray;
  c0: TypedArray;
  output: TypedArray;
  cells: TypedArray;
  tanhCells: TypedArray;
}

/** Backward through time: dGates [T·B, 4H], dBias; dh and dc hold the grads of h_T, c_T on entry and of h0, c0 on exit. */
export interface LstmSequenceBackwardArgs extends SequenceDims {
  gradOutput: TypedArray;
  gates: TypedArray;
  c0: TypedArray;
  cells: TypedArray;
  tanhCells: TypedArray;
  weightHh: TypedArray;
  dGates: TypedArray;
  dh: TypedArray;
  dc: TypedArray;
  dBias: TypedArray;
}

/**
 * A GRU over T steps. gates [T·B, 3H] holds X·W_ihᵀ on entry and the activated r, z, n on exit; writes
 * h_t into output and W_hn h_{t-1} + b_hn into hiddenN. hiddenGates [B, 3H] is one step's scratch.
 */
export interface GruSequenceForwardArgs extends SequenceDims {
  gates: TypedArray;
  hiddenGates: TypedArray;
  weightHh: TypedArray;
  biasIh: TypedArray;
  biasHh: TypedArray;
  h0: TypedArray;
  output: TypedArray;
  hiddenN: TypedArray;
}

/** Backward through time: both gate grads [T·B, 3H] and their bias sums; dh holds grad h_T on entry, grad h0 on exit. */
export interface GruSequenceBackwardArgs extends SequenceDims {
  gradOutput: TypedArray;
  gates: TypedArray;
  hiddenN: TypedArray;
  h0: TypedArray;
  output: TypedArray;
  weightHh: TypedArray;
  dInputGates: TypedArray;
  dHiddenGates: TypedArray;
  dh: TypedArray;
  dBiasIh: TypedArray;
  dBiasHh: TypedArray;
}

/** Σ_rows lse(row) - row[target] over x [rows, classes]; softmax(x) into probabilities when given. */
export interface SoftmaxCrossEntropyArgs {
  x: TypedArray;
  rows: number;
  classes: number;
  targets: Int32Array;
  probabilities: TypedArray | null;
}

/** In place on a copy of softmax: softmax - onehot(target). */
export interface SoftmaxCrossEntropyBackwardArgs {
  dLogits: TypedArray;
  classes: number;
  targets: Int32Array;
}

/** out[width] = the column sums of x [rows, width], rows added in order (a bias grad). */
export interface SumRowsArgs {
  x: TypedArray;
  rows: number;
  width: number;
  out: TypedArray;
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for the bias corrections. */
  step: number;
}

/** One Adam update of param into value, newM, newV; m and v absent mean zeros (the first step). */
export interface AdamStepArgs {
  param: TypedArray;
  grad: TypedArray;
  m: TypedArray | undefined;
  v: TypedArray | undefined;
  value: TypedArray;
  newM: TypedArray;
  newV: TypedArray;
  hyper: AdamHyper;
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

/** One SGD update of param into value; newB (the momentum buffer) null without momentum. */
export interface SgdStepArgs {
  param: TypedArray;
  grad: TypedArray;
  momentumBuffer: TypedArray | undefined;
  value: TypedArray;
  newMomentumBuffer: TypedArray | null;
  hyper: SgdHyper;
}

/**
 * One implementation of every kernel. Kernels write into the buffers they are given and allocate
 * nothing the caller sees; none checks shapes (the ops and cells that call them do).
 */
export interface Backend {
  readonly name: BackendName;
  gemm(args: GemmArgs): void;
  rnnGatesForward(args: RnnGatesForwardArgs): void;
  rnnGatesBackward(args: RnnGatesBackwardArgs): void;
  lstmGatesForward(args: LstmGatesForwardArgs): void;
  lstmGatesBackward(args: LstmGatesBackwardArgs): void;
  gruGatesForward(args: GruGatesForwardArgs): void;
  gruGatesBackward(args: GruGatesBackwardArgs): void;
  rnnSequenceForward(args: RnnSequenceForwardArgs): void;
  rnnSequenceBackward(args: RnnSequenceBackwardArgs): void;
  lstmSequenceForward(args: LstmSequenceForwardArgs): void;
  lstmSequenceBackward(args: LstmSequenceBackwardArgs): void;
  gruSequenceForward(args: GruSequenceForwardArgs): void;
  gruSequenceBackward(args: GruSequenceBackwardArgs): void;
  /** Returns the summed loss (float64 whatever x's dtype). */
  softmaxCrossEntropy(args: SoftmaxCrossEntropyArgs): number;
  softmaxCrossEntropyBackward(args: SoftmaxCrossEntropyBackwardArgs): void;
  sumRows(args: SumRowsArgs): void;
  adamStep(args: AdamStepArgs): void;
  sgdStep(args: SgdStepArgs): void;
}

/** A kernel's name: a key of Backend other than `name`. A `Record<KernelName, ...>` must cover them all. */
export type KernelName = Exclude<keyof Backend, 'name'>;

/** The argument object of kernel K. */
export type KernelArgs<K extends KernelName> = Parameters<Backend[K]>[0];
