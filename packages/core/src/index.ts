// @tapegrad/core: tensors, ops, the tape and its grad API, custom ops, a numpy-compatible RNG.
// Kernels and buffer hooks for cell and op authors are on the subpath '@tapegrad/core/kernels' (kernels.ts).

export { AnomalyError, detectAnomaly, isAnomalyEnabled, setDetectAnomaly } from './anomaly.js';
export { type CustomOp, type CustomOpSpec, customOp } from './custom.js';
export { type DType, DTypeError, type TypedArray } from './dtype.js';
export type { Differentiable, JvpRule, OpFn, Tangents } from './forward.js';
export { type GradOptions, type GradsOf, grad, hessian, hvp, valueAndGrad, vjp } from './grad.js';
export { type JacobianOptions, type JvpOutputs, jacobian, jvp, linearize } from './jvp.js';
export { emptyPool, keep, type MemoryInfo, memory, tidy } from './memory/index.js';
export { isGradEnabled, noGrad } from './mode.js';
export * from './ops/elementwise.js';
export { type OpName, ops } from './ops/index.js';
export { matmul } from './ops/matmul.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export type { TensorLike } from './ops/util.js';
export { type RandomOptions, RandomState, type RandomStateSnapshot } from './rng.js';
export { broadcastShapes, fmt as formatShape, MAX_BUFFER_BYTES, type Shape, ShapeError } from './shape.js';
export { type BackwardOptions, zeroGrad } from './tape.js';
export {
  arange,
  eye,
  full,
  type NestedArray,
  ones,
  onesLike,
  Tensor,
  type TensorOptions,
  tensor,
  zeros,
  zerosLike,
} from './tensor.js';
