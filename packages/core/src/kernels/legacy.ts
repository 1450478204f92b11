// TEMPORARY, removed once nn and bench call the Backend's kernels with named arguments: the subpath's
// old positional kernels and gemm-backend settings, as thin wrappers over backend/choose.ts.
import type { AdamHyper, SgdHyper } from '../backend/backend.js';
import * as chosen from '../backend/choose.js';
import type { TypedArray } from '../dtype.js';
import type { Gemm } from './matmul.js';

export type { Gemm };
export type GemmBackend = chosen.BackendChoice;
export const setGemmBackend = chosen.setBackend;
export const getGemmBackend = chosen.getBackend;
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
