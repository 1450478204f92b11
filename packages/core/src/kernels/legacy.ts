// TEMPORARY, removed once nn and bench call the Backend's kernels with named arguments: the subpath's
// old positional kernels and gemm-backend settings, as thin wrappers over backend/choose.ts.
import type { AdamHyper, CellDims, RnnNonlinearity, SequenceDims, SgdHyper } from '../backend/backend.js';
import * as chosen from '../backend/choose.js';
import type { TypedArray } from '../dtype.js';
import type { Gemm } from './matmul.js';

export type { Gemm };
export type GemmBackend = chosen.BackendChoice;
export const setGemmBackend = chosen.setBackend;
export const getGemmBackend = chosen.getBackend;
export const rnnGatesForward = (
  g: TypedArray,
  bi: TypedArray,
  bh: TypedArray,
  d: CellDims,
  nl: RnnNonlinearity,
) => chosen.rnnGatesForward({ gates: g, biasIh: bi, biasHh: bh, ...d, nonlinearity: nl });
export const rnnGatesBackward = (
  gradH: TypedArray,
  hNext: TypedArray,
  dGates: TypedArray,
  dBias: TypedArray,
  d: CellDims,
  nl: RnnNonlinearity,
) => chosen.rnnGatesBackward({ gradH, hNext, dGates, dBias, ...d, nonlinearity: nl });
export const lstmGatesForward = (
  gates: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  c: TypedArray,
  cNext: TypedArray,
  hNext: TypedArray,
  tanhCNext: TypedArray,
  d: CellDims,
) => chosen.lstmGatesForward({ gates, biasIh, biasHh, c, cNext, hNext, tanhCNext, ...d });
export const lstmGatesBackward = (
  gradH: TypedArray,
  gradC: TypedArray,
  gates: TypedArray,
  c: TypedArray,
  tanhCNext: TypedArray,
  dGates: TypedArray,
  dC: TypedArray,
  dBias: TypedArray,
  d: CellDims,
) => chosen.lstmGatesBackward({ gradH, gradC, gates, c, tanhCNext, dGates, dC, dBias, ...d });
export const gruGatesForward = (
  gates: TypedArray,
  hiddenGates: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h: TypedArray,
  hNext: TypedArray,
  hiddenN: TypedArray,
  d: CellDims,
) => chosen.gruGatesForward({ gates, hiddenGates, biasIh, biasHh, h, hNext, hiddenN, ...d });
export const gruGatesBackward = (
  gradH: TypedArray,
  gates: TypedArray,
  hiddenN: TypedArray,
  h: TypedArray,
  dInputGates: TypedArray,
  dHiddenGates: TypedArray,
  dH: TypedArray,
  dBiasIh: TypedArray,
  dBiasHh: TypedArray,
  d: CellDims,
) =>
  chosen.gruGatesBackward({
    gradH,
    gates,
    hiddenN,
    h,
    dInputGates,
    dHiddenGates,
    dH,
    dBiasIh,
    dBiasHh,
    ...d,
  });
export const rnnSequenceForward = (
  output: TypedArray,
  weightHh: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h0: TypedArray,
  d: SequenceDims,
  nl: RnnNonlinearity,
) => chosen.rnnSequenceForward({ output, weightHh, biasIh, biasHh, h0, ...d, nonlinearity: nl });
export const rnnSequenceBackward = (
  gradOutput: TypedArray,
  output: TypedArray,
  weightHh: TypedArray,
  dGates: TypedArray,
  dh: TypedArray,
  dBias: TypedArray,
  d: SequenceDims,
  nl: RnnNonlinearity,
) => chosen.rnnSequenceBackward({ gradOutput, output, weightHh, dGates, dh, dBias, ...d, nonlinearity: nl });
export const lstmSequenceForward = (
  gates: TypedArray,
  weightHh: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h0: TypedArray,
  c0: TypedArray,
  output: TypedArray,
  cells: TypedArray,
  tanhCells: TypedArray,
  d: SequenceDims,
) => chosen.lstmSequenceForward({ gates, weightHh, biasIh, biasHh, h0, c0, output, cells, tanhCells, ...d });
export const lstmSequenceBackward = (
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
  d: SequenceDims,
) =>
  chosen.lstmSequenceBackward({
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
    ...d,
  });
export const gruSequenceForward = (
  gates: TypedArray,
  hiddenGates: TypedArray,
  weightHh: TypedArray,
  biasIh: TypedArray,
  biasHh: TypedArray,
  h0: TypedArray,
  output: TypedArray,
  hiddenN: TypedArray,
  d: SequenceDims,
) => chosen.gruSequenceForward({ gates, hiddenGates, weightHh, biasIh, biasHh, h0, output, hiddenN, ...d });
export const gruSequenceBackward = (
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
  d: SequenceDims,
) =>
  chosen.gruSequenceBackward({
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
    ...d,
  });
export const softmaxCrossEntropy = (
  x: TypedArray,
  rows: number,
  classes: number,
  targets: Int32Array,
  probabilities: TypedArray | null,
) => chosen.softmaxCrossEntropy({ x, rows, classes, targets, probabilities });
export const softmaxCrossEntropyBackward = (dLogits: TypedArray, classes: number, targets: Int32Array) =>
  chosen.softmaxCrossEntropyBackward({ dLogits, classes, targets });
export const adamStep = (
  param: TypedArray,
  grad: TypedArray,
  m: TypedArray | undefined,
  v: TypedArray | undefined,
  value: TypedArray,
  newM: TypedArray,
  newV: TypedArray,
  hyper: AdamHyper,
) => chosen.adamStep({ param, grad, m, v, value, newM, newV, hyper });
export const sgdStep = (
  param: TypedArray,
  grad: TypedArray,
  b: TypedArray | undefined,
  value: TypedArray,
  newB: TypedArray | null,
  hyper: SgdHyper,
) => chosen.sgdStep({ param, grad, momentumBuffer: b, value, newMomentumBuffer: newB, hyper });
