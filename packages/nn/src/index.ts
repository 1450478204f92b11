export { gruCell, gruCellOp, gruCellReference } from './cells/gru.js';
export { lstmCell, lstmCellOp, lstmCellReference } from './cells/lstm.js';
export {
  type RnnCellOptions,
  type RnnNonlinearity,
  rnnCell,
  rnnCellReference,
  rnnReluCell,
  rnnTanhCell,
} from './cells/rnn.js';
export {
  gruSequence,
  gruSequenceOp,
  lstmSequence,
  lstmSequenceOp,
  rnnReluSequence,
  rnnSequence,
  rnnTanhSequence,
} from './cells/sequence.js';
export { type ClipNormOptions, clipGradNorm, clipGradValue } from './clip.js';
export { Embedding } from './embedding.js';
export { type InitOptions, manualSeed, normal, recurrentUniform, uniform, xavierUniform } from './init.js';
export { load, save, writeFileAtomic } from './io/node.js';
export {
  decodeSafetensors,
  loadSafetensors,
  type Safetensors,
  safetensorsLimits,
  saveSafetensors,
} from './io/safetensors.js';
export { Linear, type LinearOptions, linear, linearOp } from './linear.js';
export {
  type CrossEntropyOptions,
  crossEntropy,
  crossEntropyOps,
  crossEntropyOpWith,
  crossEntropyReference,
  type LossOptions,
  linearCrossEntropy,
  linearCrossEntropyOps,
  mse,
  type Reduction,
} from './losses.js';
export { CheckpointError, type LoadResult, Module, Parameter, type StateDict } from './module.js';
export * from './optim/index.js';
export {
  GRU,
  GRUCell,
  LSTM,
  LSTMCell,
  type LSTMOutput,
  type RecurrentCellOptions,
  type RecurrentOptions,
  type RecurrentOutput,
  RNN,
  RNNCell,
} from './recurrent.js';
export * as stepByStep from './stepByStep.js';
