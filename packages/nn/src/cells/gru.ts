// The GRU cell (PyTorch's GRUCell, gates r, z, n), fused: two gemms (the hidden side kept apart, since
// n needs r ⊙ (W_hn h + b_hn)) and one gate loop; backward by hand. gruCellReference is the same from core ops.
import {
  add,
  type CustomOp,
  customOp,
  mul,
  sigmoid,
  split,
  sub,
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

const NAMES = ['x', 'h', 'weightIh', 'weightHh', 'biasIh', 'biasHh'] as const;

interface GruResiduals {
  shape: CellShape;
  /** The activated gates r, z, n [B, 3H]. */
  gates: TypedArray;
  /** W_hn h + b_hn [B, H]. */
  hiddenN: TypedArray;
}

type GruInputs = [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];

/** The fused cell, a customOp of (x, h, weightIh, weightHh, biasIh, biasHh) → h'. */
export const gruCellOp: CustomOp<GruResiduals | null> = customOp<GruResiduals | null>({
  name: 'gruCell',
  forward(inputs, { needsGrad }) {
    const shape = checkCell('gruCell', 3, inputs, NAMES);
    const [x, h, weightIh, weightHh, biasIh, biasHh] = inputs as GruInputs;
    const { batch, hidden, width } = shape;
    const gates = allocate(x.dtype, batch * width);
    const hiddenGates = allocate(x.dtype, batch * width);
    const hNext = allocate(x.dtype, batch * hidden);
    const hiddenN = allocate(x.dtype, batch * hidden);
    projectGates(shape, x, h, weightIh, weightHh, gates, hiddenGates);
    kernels.gruGatesForward({
      gates,
      hiddenGates,
      biasIh: biasIh.data,
      biasHh: biasHh.data,
      h: h.data,
      hNext,
      hiddenN,
      batch,
      hidden,
    });
    return {
      outputs: toTensor(hNext, h.shape),
      residuals: needsGrad ? { shape, gates, hiddenN } : null,
    };
  },
  backward([gradH], residuals, inputs) {
    const { shape, gates, hiddenN } = residuals!;
    const [x, h, weightIh, weightHh, biasIh, biasHh] = inputs as GruInputs;
    const dInputGates = allocate(x.dtype, shape.batch * shape.width);
    const dHiddenGates = allocate(x.dtype, shape.batch * shape.width);
    const dhDirect = allocate(x.dtype, shape.batch * shape.hidden);
    const dBiasIh = allocate(x.dtype, shape.width);
    const dBiasHh = allocate(x.dtype, shape.width);
    kernels.gruGatesBackward({
      gradH: gradH!.data,
      gates,
      hiddenN,
      h: h.data,
      dInputGates,
      dHiddenGates,
      dH: dhDirect,
      dBiasIh,
      dBiasHh,
      batch: shape.batch,
      hidden: shape.hidden,
    });
    // dh = g·z + dGates_hh·W_hh; db_ih = Σ_batch dGates_ih, db_hh = Σ_batch dGates_hh
    const d = projectionGrads(shape, x, h, weightIh, weightHh, dInputGates, dHiddenGates, dhDirect);
    return [d.dx, d.dh, d.dWeightIh, d.dWeightHh, biasGrad(biasIh, dBiasIh), biasGrad(biasHh, dBiasHh)];
  },
  reference: (...inputs) => gruCellReference(...(inputs as GruInputs)),
});

/**
 * h' of x [B, I] and h [B, H]; weightIh [3H, I], weightHh [3H, H], biases [3H].
 * n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) and h' = (1 - z) ⊙ n + z ⊙ h.
 */
export function gruCell(
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): Tensor {
  return gruCellOp(x, h, weightIh, weightHh, biasIh, biasHh) as Tensor;
}

/** The cell from core ops (matmul, add, sigmoid, tanh, mul, split): what the fused backward is checked against. */
export function gruCellReference(
  x: Tensor,
  h: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): Tensor {
  const [inputR, inputZ, inputN] = split(add(linear(x, weightIh), biasIh), 3, 1) as [Tensor, Tensor, Tensor];
  const [hiddenR, hiddenZ, hiddenN] = split(add(linear(h, weightHh), biasHh), 3, 1) as [
    Tensor,
    Tensor,
    Tensor,
  ];
  const r = sigmoid(add(inputR, hiddenR));
  const z = sigmoid(add(inputZ, hiddenZ));
  const n = tanh(add(inputN, mul(r, hiddenN)));
  return add(mul(sub(1, z), n), mul(z, h));
}

markLibraryCode(codeStart, new Error()); // and where it ends
