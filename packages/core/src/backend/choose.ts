// The one place that picks a backend: per call, from the user's choice, the kernel, the dtype and the
// size of the work, and what this runtime can compile. The kernels' front doors below (gemm(args), ...)
// ask it and call the chosen backend; nothing else in the library decides JS or wasm.
//
// The rule (backendFor): the JS loops when the choice is 'js', when the dtype is not float32 (the wasm
// loops are float32 only: float64 always runs JS, whatever the choice), when the kernel has no wasm loop,
// when the work is under the kernel's floor (minWork, both choices), when the choice is 'auto' and the
// work is under the kernel's 'auto' floor, or when the kernel's wasm module does not load here (no wasm
// SIMD; a browser main thread that refuses recurrent.wat); else wasm.
import type { DType, TypedArray } from '../dtype.js';
import { recurrentWasmAvailable, wasmAvailable } from '../kernels/wasm/module.js';
import type {
  AdamStepArgs,
  Backend,
  GemmArgs,
  GruGatesBackwardArgs,
  GruGatesForwardArgs,
  GruSequenceBackwardArgs,
  GruSequenceForwardArgs,
  KernelName,
  LstmGatesBackwardArgs,
  LstmGatesForwardArgs,
  LstmSequenceBackwardArgs,
  LstmSequenceForwardArgs,
  RnnGatesBackwardArgs,
  RnnGatesForwardArgs,
  RnnSequenceBackwardArgs,
  RnnSequenceForwardArgs,
  SgdStepArgs,
  SoftmaxCrossEntropyArgs,
  SoftmaxCrossEntropyBackwardArgs,
  SumRowsArgs,
} from './backend.js';
import { jsBackend } from './js.js';
import { wasmBackend } from './wasm.js';

/**
 * 'auto' (the default) takes the faster backend per call; 'wasm' takes wasm for every float32 call of a
 * kernel that has a wasm loop; 'js' is the reference loops everywhere.
 */
export type BackendChoice = 'auto' | 'js' | 'wasm';

interface Rule {
  /** The wasm module the kernel's wasm loop lives in; null: no wasm loop, always JS. */
  module: 'sgemm' | 'recurrent' | null;
  /** Work under which even 'wasm' keeps JS. */
  minWork: number;
  /** Work under which 'auto' keeps JS: the wasm call's fixed cost (copies, packing) is not repaid. */
  autoMinWork: number;
}

/**
 * The wasm call has a fixed cost whatever the size that only the smallest products do not repay:
 * bench/gemm.ts puts the crossover near 200 multiply-adds (10×2×5 is faster in JS, 8×8×8 already faster
 * in wasm); the timings are in bench/README.
 */
const WASM_MIN_WORK = 256;

/** Values below which a float32 bias grad is summed in JS (the wasm call's copies cost more). */
const WASM_MIN_SUM = 4096;

const jsOnly: Rule = { module: null, minWork: 0, autoMinWork: 0 };

/**
 * Per kernel, typed so that a kernel added to Backend without a rule is a compile error. The work a
 * kernel's front door measures: gemm m·n·k; a sequence its per-step recurrent product B·G·H·H; softmax
 * rows·classes; sumRows rows·width.
 */
const rules: Record<KernelName, Rule> = {
  gemm: { module: 'sgemm', minWork: 0, autoMinWork: WASM_MIN_WORK },
  rnnGatesForward: jsOnly,
  rnnGatesBackward: jsOnly,
  lstmGatesForward: jsOnly,
  lstmGatesBackward: jsOnly,
  gruGatesForward: jsOnly,
  gruGatesBackward: jsOnly,
  rnnSequenceForward: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  rnnSequenceBackward: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  lstmSequenceForward: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  lstmSequenceBackward: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  gruSequenceForward: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  gruSequenceBackward: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  softmaxCrossEntropy: { module: 'recurrent', minWork: 0, autoMinWork: WASM_MIN_WORK },
  softmaxCrossEntropyBackward: jsOnly,
  sumRows: { module: 'recurrent', minWork: WASM_MIN_SUM, autoMinWork: WASM_MIN_SUM },
  adamStep: jsOnly,
  sgdStep: jsOnly,
};

let choice: BackendChoice = 'auto';

export function setBackend(to: BackendChoice): void {
  if (to !== 'auto' && to !== 'js' && to !== 'wasm') {
    throw new RangeError(`setBackend: expected 'auto', 'js' or 'wasm', got ${String(to)}`);
  }
  choice = to;
}

export function getBackend(): BackendChoice {
  return choice;
}

/** The backend that runs `kernel` on `dtype` data for `work` (the kernel's measure, rules above). */
export function backendFor(kernel: KernelName, dtype: DType, work: number): Backend {
  const rule = rules[kernel];
  if (choice === 'js' || dtype !== 'float32' || rule.module === null || work < rule.minWork) return jsBackend;
  if (choice === 'auto' && work < rule.autoMinWork) return jsBackend;
  const available = rule.module === 'sgemm' ? wasmAvailable() : recurrentWasmAvailable();
  return available ? wasmBackend : jsBackend;
}

/** The dtype the chooser sees: float32 when every buffer given is a Float32Array (null: absent). */
function dtypeOf(a: TypedArray | null, b: TypedArray | null = null, c: TypedArray | null = null): DType {
  return (a === null || a instanceof Float32Array) &&
    (b === null || b instanceof Float32Array) &&
    (c === null || c instanceof Float32Array)
    ? 'float32'
    : 'float64';
}

// The front doors: each kernel through backendFor. Declared as functions (hoisted): kernels/ imports
// gemm from here while this module's own imports are still being evaluated.

/** C[m, n] (+)= op(A)[m, k] · op(B)[k, n]. */
export function gemm(args: GemmArgs): void {
  backendFor('gemm', dtypeOf(args.a, args.b, args.c), args.m * args.n * args.k).gemm(args);
}

export function rnnGatesForward(args: RnnGatesForwardArgs): void {
  backendFor('rnnGatesForward', dtypeOf(args.gates), 0).rnnGatesForward(args);
}

export function rnnGatesBackward(args: RnnGatesBackwardArgs): void {
  backendFor('rnnGatesBackward', dtypeOf(args.dGates), 0).rnnGatesBackward(args);
}

export function lstmGatesForward(args: LstmGatesForwardArgs): void {
  backendFor('lstmGatesForward', dtypeOf(args.gates), 0).lstmGatesForward(args);
}

export function lstmGatesBackward(args: LstmGatesBackwardArgs): void {
  backendFor('lstmGatesBackward', dtypeOf(args.dGates), 0).lstmGatesBackward(args);
}

export function gruGatesForward(args: GruGatesForwardArgs): void {
  backendFor('gruGatesForward', dtypeOf(args.gates), 0).gruGatesForward(args);
}

export function gruGatesBackward(args: GruGatesBackwardArgs): void {
  backendFor('gruGatesBackward', dtypeOf(args.dInputGates), 0).gruGatesBackward(args);
}

/** A sequence's work: its per-step recurrent product, B·G·H·H multiply-adds. */
const stepWork = (args: { batch: number; hidden: number }, gates: number): number =>
  args.batch * gates * args.hidden * args.hidden;

// A sequence's precision is its result's dtype (the wasm loops convert the other inputs as they copy them).

export function rnnSequenceForward(args: RnnSequenceForwardArgs): void {
  backendFor('rnnSequenceForward', dtypeOf(args.output), stepWork(args, 1)).rnnSequenceForward(args);
}

export function rnnSequenceBackward(args: RnnSequenceBackwardArgs): void {
  backendFor('rnnSequenceBackward', dtypeOf(args.dGates), stepWork(args, 1)).rnnSequenceBackward(args);
}

export function lstmSequenceForward(args: LstmSequenceForwardArgs): void {
  backendFor('lstmSequenceForward', dtypeOf(args.gates), stepWork(args, 4)).lstmSequenceForward(args);
}

export function lstmSequenceBackward(args: LstmSequenceBackwardArgs): void {
  backendFor('lstmSequenceBackward', dtypeOf(args.dGates), stepWork(args, 4)).lstmSequenceBackward(args);
}

export function gruSequenceForward(args: GruSequenceForwardArgs): void {
  backendFor('gruSequenceForward', dtypeOf(args.gates), stepWork(args, 3)).gruSequenceForward(args);
}

export function gruSequenceBackward(args: GruSequenceBackwardArgs): void {
  backendFor('gruSequenceBackward', dtypeOf(args.dInputGates), stepWork(args, 3)).gruSequenceBackward(args);
}

/** Σ_rows lse(row) - row[target], summed in float64; softmax rows into probabilities when given. */
export function softmaxCrossEntropy(args: SoftmaxCrossEntropyArgs): number {
  const dtype = dtypeOf(args.x, args.probabilities);
  return backendFor('softmaxCrossEntropy', dtype, args.rows * args.classes).softmaxCrossEntropy(args);
}

export function softmaxCrossEntropyBackward(args: SoftmaxCrossEntropyBackwardArgs): void {
  backendFor('softmaxCrossEntropyBackward', dtypeOf(args.dLogits), 0).softmaxCrossEntropyBackward(args);
}

export function sumRows(args: SumRowsArgs): void {
  backendFor('sumRows', dtypeOf(args.x, args.out), args.rows * args.width).sumRows(args);
}

export function adamStep(args: AdamStepArgs): void {
  backendFor('adamStep', dtypeOf(args.value), 0).adamStep(args);
}

export function sgdStep(args: SgdStepArgs): void {
  backendFor('sgdStep', dtypeOf(args.value), 0).sgdStep(args);
}
