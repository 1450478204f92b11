// General matrix multiply over row-major typed arrays, with transpose flags so that callers
// (backward passes above all) never copy a matrix to transpose it. Two backends: plain JS, and wasm SIMD.
import type { TypedArray } from '../dtype.js';
import { recurrentWasmAvailable } from './wasm/module.js';
import { gemmWasm, wasmAvailable } from './wasm/sgemm.js';

export interface Gemm {
  m: number;
  n: number;
  k: number;
  /** A is stored [k, m] instead of [m, k]. */
  transA?: boolean;
  /** B is stored [n, k] instead of [k, n]. */
  transB?: boolean;
  /** C += A·B instead of C = A·B. */
  accumulate?: boolean;
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
}

/**
 * 'auto' (the default) takes the faster backend per call; 'wasm' forces it for every float32 call
 * (float64, and runtimes without wasm SIMD, stay on JS); 'js' is the reference loop everywhere. The
 * choice covers the whole-sequence recurrent loops too (kernels/recurrent.ts), whose steps are gemms.
 */
export type GemmBackend = 'auto' | 'js' | 'wasm';

let backend: GemmBackend = 'auto';

export function setGemmBackend(choice: GemmBackend): void {
  backend = choice;
}

export function getGemmBackend(): GemmBackend {
  return backend;
}

/** C[m, n] (+)= op(A)[m, k] · op(B)[k, n], on the wasm kernel for float32 when it pays, else in JS. */
export function gemm(a: TypedArray, b: TypedArray, c: TypedArray, spec: Gemm): void {
  if (
    a instanceof Float32Array &&
    b instanceof Float32Array &&
    c instanceof Float32Array &&
    onWasm(spec.m * spec.n * spec.k)
  ) {
    gemmWasm(a, b, c, spec);
  } else {
    gemmJs(a, b, c, spec);
  }
}

/**
 * The wasm call has a fixed cost whatever the size (copies, packing, edge tiles) that only the smallest
 * products do not repay. bench/gemm.ts puts the crossover near 200 multiply-adds (10×2×5 is faster in
 * JS, 8×8×8 already faster in wasm); the timings are in bench/README.
 */
const WASM_MIN_WORK = 256;

/**
 * Whether float32 work of `work` multiply-adds (a product, or one step of a recurrent sequence) runs on
 * the wasm kernels under the backend choice; float64 always stays on JS.
 */
export function onWasm(work: number): boolean {
  return backend !== 'js' && (backend === 'wasm' || work >= WASM_MIN_WORK) && wasmAvailable();
}

/**
 * onWasm for recurrent.wat's kernels (the sequence loops, softmax rows, row sums), which a browser
 * page's main thread may refuse to compile; they then run in JS.
 */
export function onRecurrentWasm(work: number): boolean {
  return onWasm(work) && recurrentWasmAvailable();
}

/** The reference backend: plain loops, any dtype. */
export function gemmJs(a: TypedArray, b: TypedArray, c: TypedArray, spec: Gemm): void {
  const { m, n, k, transA = false, transB = false, accumulate = false } = spec;
  const ao = spec.aOffset ?? 0;
  const bo = spec.bOffset ?? 0;
  const co = spec.cOffset ?? 0;
  if (!accumulate) c.fill(0, co, co + m * n);
  // A(i, p) sits at ao + i*sai + p*sap.
  const sai = transA ? 1 : k;
  const sap = transA ? m : 1;
  if (!transB) {
    // Row of C += A(i, p) · row p of B: both inner reads run along memory.
    for (let i = 0; i < m; i++) {
      const ci = co + i * n;
      for (let p = 0; p < k; p++) {
        const aip = a[ao + i * sai + p * sap]!;
        const bp = bo + p * n;
        for (let j = 0; j < n; j++) c[ci + j] = c[ci + j]! + aip * b[bp + j]!;
      }
    }
    return;
  }
  // B stored [n, k]: C(i, j) is a dot product of A's row i with B's row j.
  for (let i = 0; i < m; i++) {
    const ci = co + i * n;
    const ai = ao + i * sai;
    for (let j = 0; j < n; j++) {
      const bj = bo + j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p * sap]! * b[bj + p]!;
      c[ci + j] = c[ci + j]! + s;
    }
  }
}
