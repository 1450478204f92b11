// The Elman RNN cell h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh) (PyTorch's RNNCell), fused: two gemms
// into one buffer and one activation loop, backward by hand; rnnCellReference is the same from core ops.
import { add, type CustomOp, customOp, relu, type Tensor, type TypedArray, tanh } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';
import {
  biasGrad,
  type CellShape,
  checkCell,
  linear,
  projectGates,
  projectionGrads,
  toTensor,
} from './common.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export type RnnNonlinearity = kernels.RnnNonlinearity;

export interface RnnCellOptions {
  nonlinearity?: RnnNonlinearity;
}

const NAMES = ['x', 'h', 'weightIh', 'weightHh', 'biasIh', 'biasHh'] as const;

type RnnCellInputs = [
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
];

interface RnnResiduals {
  shape: CellShape;
  hNext: TypedArray;
}

function rnnCellOp(nonlinearity: RnnNonlinearity): CustomOp<RnnResiduals | null> {
  const name = nonlinearity === 'tanh' ? 'rnnTanhCell' : 'rnnReluCell';
  return customOp<RnnResiduals | null>({
    name,
    forward(inputs, { needsGrad }) {
      const shape = checkCell(name, 1, inputs, NAMES);
      const [x, h, weightIh, weightHh, biasIh, biasHh] = inputs as RnnCellInputs;
      const gates = allocate(x.dtype, shape.batch * shape.hidden);
      projectGates(shape, x, h, weightIh, weightHh, gates);
      const { batch, hidden } = shape;
      kernels.rnnGatesForward({
        gates,
        biasIh: biasIh.data,
        biasHh: biasHh.data,
        batch,
        hidden,
        nonlinearity,
      });
      // h' alone gives act'(pre): 1 - h'² for tanh, [h' > 0] for relu.
      return {
        outputs: toTensor(gates, [shape.batch, shape.hidden]),
        residuals: needsGrad ? { shape, hNext: gates } : null,
      };
    },
    backward([gradH], residuals, inputs) {
      const { shape, hNext } = residuals!;
      const [x, h, weightIh, weightHh, biasIh, biasHh] = inputs as RnnCellInputs;
      const dGates = allocate(x.dtype, shape.batch * shape.hidden);
      const dBias = allocate(x.dtype, shape.hidden);
      const { batch, hidden } = shape;
      kernels.rnnGatesBackward({ gradH: gradH!.data, hNext, dGates, dBias, batch, hidden, nonlinearity });
      const d = projectionGrads(shape, x, h, weightIh, weightHh, dGates, dGates);
      // db_ih = db_hh = Σ_batch dGates
      return [d.dx, d.dh, d.dWeightIh, d.dWeightHh, biasGrad(biasIh, dBias), biasGrad(biasHh, dBias)];
    },
    reference: (...inputs) => rnnCellReference(...(inputs as RnnCellInputs), { nonlinearity }),
  });
}

/** The fused tanh cell, a customOp of (x, h, weightIh, weightHh, biasIh, biasHh). */
export const rnnTanhCell = rnnCellOp('tanh');
/** The fused relu cell, a customOp of (x, h, weightIh, weightHh, biasIh, biasHh). */
export const rnnReluCell = rnnCellOp('relu');

function checkNonlinearity(nonlinearity: unknown): RnnNonlinearity {
  if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
    throw new RangeError(`rnnCell: nonlinearity must be 'tanh' or 'relu', got ${String(nonlinearity)}`);
  }
  return nonlinearity;
}

/** h' [B, H] of x [B, I] and h [B, H]; weightIh [H, I], weightHh [H, H], biases [H]. */
export function rnnCell(
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
  options: RnnCellOptions = {},
): Tensor {
  const op = checkNonlinearity(options.nonlinearity ?? 'tanh') === 'tanh' ? rnnTanhCell : rnnReluCell;
  return op(x, h, weightIh, weightHh, biasIh, biasHh) as Tensor;
}

/** The cell from core ops (matmul, add, tanh/relu): what the fused backward is checked against. */
export function rnnCellReference(
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
  options: RnnCellOptions = {},
): Tensor {
  const pre = add(add(linear(x, weightIh), biasIh), add(linear(h, weightHh), biasHh));
  return checkNonlinearity(options.nonlinearity ?? 'tanh') === 'tanh' ? tanh(pre) : relu(pre);
}

markLibraryCode(codeStart, new Error()); // and where it ends
