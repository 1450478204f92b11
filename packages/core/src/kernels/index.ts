// The kernel interface: pure loops over typed arrays. A faster backend replaces these.

export { addInto, broadcastInto, map, zipBroadcast } from './elementwise.js';
export { type Gemm, type GemmBackend, gemm, gemmJs, getGemmBackend, setGemmBackend } from './matmul.js';
export {
  type CellDims,
  gruGatesBackward,
  gruGatesForward,
  gruSequenceBackward,
  gruSequenceForward,
  lstmGatesBackward,
  lstmGatesForward,
  lstmSequenceBackward,
  lstmSequenceForward,
  type RnnNonlinearity,
  rnnGatesBackward,
  rnnGatesForward,
  rnnSequenceBackward,
  rnnSequenceForward,
  type SequenceDims,
} from './recurrent.js';
export { reduceAxes, sumToShape } from './reduce.js';
export { copyBox, gatherOffsets, permuteInto, scatterAdd, selectOffsets, takeInto } from './shape.js';
export {
  type AdamHyper,
  adamStep,
  type SgdHyper,
  sgdStep,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
} from './training.js';
export { getThreads, setThreads, threadsReady } from './wasm/threads.js';
export { workspaceBuffer } from './workspace.js';
