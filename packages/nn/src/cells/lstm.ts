// The LSTM cell (PyTorch's LSTMCell, gates i, f, g, o), fused: two gemms into one [B, 4H] buffer and
// one loop for the gates, c' and h'; backward by hand. lstmCellReference is the same from core ops.
import {
  add,
  type CustomOp,
  customOp,
  mul,
  sigmoid,
  split,
  type Tensor,
  type TypedArray,
  tanh,
} from '@tapegrad/core';
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

const NAMES = ['x', 'h', 'c', 'weightIh', 'weightHh', 'biasIh', 'biasHh'] as const;

interface LstmResiduals {
  shape: CellShape;
  /** The activated gates i, f, g, o [B, 4H]. */
  gates: TypedArray;
  tanhCNext: TypedArray;
}

type LstmInputs = [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];

/** The fused cell, a two-output customOp of (x, h, c, weightIh, weightHh, biasIh, biasHh) → [h', c']. */
export const lstmCellOp: CustomOp<LstmResiduals | null> = customOp<LstmResiduals | null>({
  name: 'lstmCell',
  forward(inputs, { needsGrad }) {
    const shape = checkCell('lstmCell', 4, inputs, NAMES);
    const [x, h, c, weightIh, weightHh, biasIh, biasHh] = inputs as LstmInputs;
    const { batch, hidden } = shape;
    const gates = allocate(x.dtype, batch * 4 * hidden);
    const hNext = allocate(x.dtype, batch * hidden);
    const cNext = allocate(x.dtype, batch * hidden);
    const tanhCNext = allocate(x.dtype, batch * hidden);
    projectGates(shape, x, h, weightIh, weightHh, gates);
    kernels.lstmGatesForward({
      gates,
      biasIh: biasIh.data,
      biasHh: biasHh.data,
      c: c.data,
      cNext,
      hNext,
      tanhCNext,
      batch,
      hidden,
    });
    return {
      outputs: [toTensor(hNext, h.shape), toTensor(cNext, c.shape)],
      residuals: needsGrad ? { shape, gates, tanhCNext } : null,
    };
  },
  backward([gradH, gradC], residuals, inputs) {
    const { shape, gates, tanhCNext } = residuals!;
    const [x, h, c, weightIh, weightHh, biasIh, biasHh] = inputs as LstmInputs;
    const dGates = allocate(x.dtype, shape.batch * shape.width);
    const dC = allocate(x.dtype, shape.batch * shape.hidden);
    const dBias = allocate(x.dtype, shape.width);
    kernels.lstmGatesBackward({
      gradH: gradH!.data,
      gradC: gradC!.data,
      gates,
      c: c.data,
      tanhCNext,
      dGates,
      dC,
      dBias,
      batch: shape.batch,
      hidden: shape.hidden,
    });
    const d = projectionGrads(shape, x, h, weightIh, weightHh, dGates, dGates);
    // dc = dc'·f (the kernel's dC); db_ih = db_hh = Σ_batch dGates
    const dc = c.requiresGrad ? toTensor(dC, c.shape) : null;
    return [d.dx, d.dh, dc, d.dWeightIh, d.dWeightHh, biasGrad(biasIh, dBias), biasGrad(biasHh, dBias)];
  },
  reference: (...inputs) => lstmCellReference(...(inputs as LstmInputs)),
});

/**
 * [h', c'] of x [B, I], h [B, H], c [B, H]; weightIh [4H, I], weightHh [4H, H], biases [4H].
 * c' = f⊙c + i⊙g and h' = o⊙tanh(c'), with i, f, o sigmoids and g a tanh.
 */
export function lstmCell(
  x: Tensor,
  h: Tensor,
  c: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): [Tensor, Tensor] {
  return lstmCellOp(x, h, c, weightIh, weightHh, biasIh, biasHh) as [Tensor, Tensor];
}

/** The cell from core ops (matmul, add, sigmoid, tanh, mul, split): what the fused backward is checked against. */
export function lstmCellReference(
  x: Tensor,
  h: Tensor,
  c: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): [Tensor, Tensor] {
  const pre = add(add(linear(x, weightIh), biasIh), add(linear(h, weightHh), biasHh));
  const [i, f, g, o] = split(pre, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
  const cNext = add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(g)));
  return [mul(sigmoid(o), tanh(cNext)), cNext];
}

markLibraryCode(codeStart, new Error()); // and where it ends
