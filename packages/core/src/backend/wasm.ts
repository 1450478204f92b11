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

function float32(kernel: string, ...arrays: (TypedArray | null)[]): Float32Array[] {
  for (const a of arrays) {
    if (a !== null && !(a instanceof Float32Array)) {
      throw new TypeError(`wasm ${kernel}: takes Float32Array buffers only (backendFor sends float64 to js)`);
    }
  }
  return arrays as Float32Array[];
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
    float32('gemm', args.a, args.b, args.c);
    gemmWasm(args.a as Float32Array, args.b as Float32Array, args.c as Float32Array, args);
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
    const [x32, probabilities32] = float32('softmaxCrossEntropy', x, probabilities);
    return softmaxCrossEntropyWasm(x32!, rows, classes, targets, probabilities32 ?? null);
  },
  sumRows(args) {
    const [x, out] = float32('sumRows', args.x, args.out);
    // The wasm loop takes 4 columns at a time: another width is summed by the JS loop (the same sums).
    if (args.width % 4 !== 0) sumRowsJs(args);
    else sumRowsWasm(x!, args.rows, args.width, out!);
  },
};
