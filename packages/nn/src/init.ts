// Weight initialisation driven by a numpy-compatible RandomState, so a seed gives the same weights
// every run (and the same as numpy's `RandomState(seed).uniform(...)` in the same draw order).

import { type DType, RandomState, type Tensor } from '@tapegrad/core';
import { markLibraryCode } from '@tapegrad/core/kernels';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface InitOptions {
  /** The stream to draw from; defaults to the shared one that `manualSeed` re-seeds. */
  rng?: RandomState;
  /** float32 by default; float32 rounds each float64 draw, so the stream stays numpy's. */
  dtype?: DType;
}

// Like PyTorch's global generator: deterministic from the start, re-seeded by manualSeed.
let sharedRng = new RandomState(0);

/** Re-seeds the stream that modules created without an `rng` draw from. */
export function manualSeed(seed: number): void {
  sharedRng = new RandomState(seed);
}

const rngOf = (options: InitOptions): RandomState => options.rng ?? sharedRng;

/** uniform(-bound, bound) of the given shape. */
export function uniform(shape: readonly number[], bound: number, options: InitOptions = {}): Tensor {
  return rngOf(options).uniform(-bound, bound, shape, { dtype: options.dtype ?? 'float32' });
}

/** Glorot & Bengio (2010): uniform(±gain·√(6 / (fanIn + fanOut))) for a weight [fanOut, fanIn]. */
export function xavierUniform(
  shape: readonly [number, number],
  options: InitOptions & { gain?: number } = {},
): Tensor {
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new RangeError(
      `xavierUniform: needs a weight shape [fanOut, fanIn] of integers ≥ 0, got [${String(shape)}]`,
    );
  }
  const [fanOut, fanIn] = shape;
  const bound = (options.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(shape, bound, options);
}

/** PyTorch's default for RNN/LSTM/GRU (cells and layers): every weight and bias uniform(±1/√hidden). */
export function recurrentUniform(
  shape: readonly number[],
  hiddenSize: number,
  options: InitOptions = {},
): Tensor {
  if (!Number.isInteger(hiddenSize) || hiddenSize < 1) {
    throw new RangeError(`recurrentUniform: hiddenSize must be a positive integer, got ${hiddenSize}`);
  }
  return uniform(shape, 1 / Math.sqrt(hiddenSize), options);
}

/** N(0, std²) of the given shape (PyTorch's default for Embedding). */
export function normal(shape: readonly number[], std: number, options: InitOptions = {}): Tensor {
  return rngOf(options).normal(0, std, shape, { dtype: options.dtype ?? 'float32' });
}

markLibraryCode(codeStart, new Error()); // and where it ends
