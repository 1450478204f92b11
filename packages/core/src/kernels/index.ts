// The kernel interface: pure loops over typed arrays. A faster backend replaces these.

export { addInto, broadcastInto, map, zipBroadcast } from './elementwise.js';
export { type Gemm, gemm } from './matmul.js';
export { reduceAxes, sumToShape } from './reduce.js';
