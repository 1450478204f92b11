// The kernel interface: the Backend's kernels (named arguments, each through the chooser), and the
// plain loops that have one implementation only (elementwise, reductions, data movement).

export {
  type AdamHyper,
  type AdamStepArgs,
  type Backend,
  type BackendChoice,
  type BackendName,
  backendFor,
  type CellDims,
  type GemmArgs,
  type GruGatesBackwardArgs,
  type GruGatesForwardArgs,
  type GruSequenceBackwardArgs,
  type GruSequenceForwardArgs,
  gemm,
  getBackend,
  gruGatesBackward,
  gruGatesForward,
  gruSequenceBackward,
  gruSequenceForward,
  jsBackend,
  type KernelArgs,
  type KernelName,
  type LstmGatesBackwardArgs,
  type LstmGatesForwardArgs,
  type LstmSequenceBackwardArgs,
  type LstmSequenceForwardArgs,
  lstmGatesBackward,
  lstmGatesForward,
  lstmSequenceBackward,
  lstmSequenceForward,
  type RnnGatesBackwardArgs,
  type RnnGatesForwardArgs,
  type RnnNonlinearity,
  type RnnSequenceBackwardArgs,
  type RnnSequenceForwardArgs,
  rnnGatesBackward,
  rnnGatesForward,
  rnnSequenceBackward,
  rnnSequenceForward,
  type SequenceDims,
  type SgdHyper,
  type SgdStepArgs,
  type SoftmaxCrossEntropyArgs,
  type SoftmaxCrossEntropyBackwardArgs,
  type SumRowsArgs,
  setBackend,
  sumRows,
  wasmBackend,
} from '../backend/index.js';
export { addInto, broadcastInto, map, zipBroadcast } from './elementwise.js';
export * from './legacy.js';
export { reduceAxes, sumToShape } from './reduce.js';
export { copyBox, gatherOffsets, permuteInto, scatterAdd, selectOffsets, takeInto } from './shape.js';
export { getThreads, setThreads, threadsReady } from './wasm/threads.js';
export { workspaceBuffer } from './workspace.js';
