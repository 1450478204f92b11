// The wasm backend: float32 on wasm SIMD (sgemm.wat, recurrent.wat), wrapping kernels/wasm/. Kernels with
// no wasm loop (the single-step cell gates, the optimizer steps, softmax's backward) are the JS
// backend's own: the chooser never sends them here, and a direct call gets the same loop.
import type { TypedArray } from '../dtype.js';
import {
  gruGatesBackward,
  gruGatesForward,
  lstmGatesBackward,
  lstmGatesForward,
  rnnGatesBackward,
  rnnGatesForward,
} from '../kernels/recurrent.js';
import { sumRowsJs } from '../kernels/reduce.js';
import { adamStep, sgdStep, softmaxCrossEntropyBackward } from '../kernels/training.js';
import {
  gruSequenceBackwardWasm,
  gruSequenceForwardWasm,
  lstmSequenceBackwardWasm,
  lstmSequenceForwardWasm,
  rnnSequenceBackwardWasm,
  rnnSequenceForwardWasm,
} from '../kernels/wasm/recurrent.js';
import { sumRowsWasm } from '../kernels/wasm/reduce.js';
import { gemmWasm } from '../kernels/wasm/sgemm.js';
import { softmaxCrossEntropyWasm } from '../kernels/wasm/softmax.js';
import type { Backend } from './backend.js';

const isFloat32 = (a: TypedArray | null): a is Float32Array | null => a === null || a instanceof Float32Array;

/** The wasm loops are float32 only; backendFor sends float64 to js, so this throws only on a direct call. */
function notFloat32(kernel: string): TypeError {
  return new TypeError(`wasm ${kernel}: takes Float32Array buffers only (backendFor sends float64 to js)`);
}

// The JS loops are imported as functions, not spread from jsBackend: kernels/recurrent.ts imports the
// chooser, which imports this file, so jsBackend may not exist yet while this module is evaluated.
export const wasmBackend: Backend = {
  name: 'wasm',
  rnnGatesForward,
  rnnGatesBackward,
  lstmGatesForward,
  lstmGatesBackward,
  gruGatesForward,
  gruGatesBackward,
  softmaxCrossEntropyBackward,
  adamStep,
  sgdStep,
  gemm(args) {
    const { a, b, c } = args;
    if (!(a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array)) {
      throw notFloat32('gemm');
    }
    gemmWasm(a, b, c, args);
  },
  // The sequence loops compute in float32 and convert any other dtype as they copy it in and out.
  rnnSequenceForward: rnnSequenceForwardWasm,
  rnnSequenceBackward: rnnSequenceBackwardWasm,
  lstmSequenceForward: lstmSequenceForwardWasm,
  lstmSequenceBackward: lstmSequenceBackwardWasm,
  // hiddenGates is the JS loop's scratch; the wasm loop keeps its own in wasm memory.
  gruSequenceForward: gruSequenceForwardWasm,
  gruSequenceBackward: gruSequenceBackwardWasm,
  softmaxCrossEntropy({ x, rows, classes, targets, probabilities }) {
    if (!(x instanceof Float32Array && isFloat32(probabilities))) throw notFloat32('softmaxCrossEntropy');
    return softmaxCrossEntropyWasm(x, rows, classes, targets, probabilities);
  },
  sumRows(args) {
    const { x, rows, width, out } = args;
    if (!(x instanceof Float32Array && out instanceof Float32Array)) throw notFloat32('sumRows');
    // The wasm loop takes 4 columns at a time: another width is summed by the JS loop (the same sums).
    if (width % 4 !== 0) sumRowsJs(args);
    else sumRowsWasm(x, rows, width, out);
  },
};
