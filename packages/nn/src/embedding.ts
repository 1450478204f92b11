// Embedding: a lookup table [numEmbeddings, dim] read by integer indices (indexSelect, whose grad
// scatter-adds into the rows that were used).

import { indexSelect, reshape, Tensor, tensor } from '@tapegrad/core';
import { markLibraryCode } from '@tapegrad/core/kernels';
import { type InitOptions, normal } from './init.js';
import { Module, Parameter } from './module.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

/** weight [numEmbeddings, embeddingDim] drawn from N(0, 1), PyTorch's default. */
export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: InitOptions = {},
  ) {
    super();
    for (const [name, n] of [
      ['numEmbeddings', numEmbeddings],
      ['embeddingDim', embeddingDim],
    ] as const) {
      if (!Number.isInteger(n) || n < 0)
        throw new RangeError(`Embedding: ${name} must be an integer ≥ 0, got ${n}`);
    }
    this.weight = this.registerParameter(
      'weight',
      new Parameter(normal([numEmbeddings, embeddingDim], 1, options)),
    );
  }

  /** indices of any shape (integer-valued) → [...indices.shape, embeddingDim]. */
  forward(indices: Tensor | readonly number[]): Tensor {
    if (!Array.isArray(indices) && !(indices instanceof Tensor)) {
      throw new TypeError(
        `Embedding: indices must be a Tensor or an array of integers, got ${String(indices)}`,
      );
    }
    const index = Array.isArray(indices) ? tensor([...indices], { dtype: 'float64' }) : (indices as Tensor);
    const rows = indexSelect(this.weight, 0, reshape(index, [index.size]));
    return reshape(rows, [...index.shape, this.embeddingDim]);
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
