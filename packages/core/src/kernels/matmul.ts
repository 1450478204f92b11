// General matrix multiply over row-major typed arrays, with transpose flags so that callers
// (backward passes above all) never copy a matrix to transpose it. The JS backend's loop (backend/js.ts);
// the wasm backend's is wasm/sgemm.ts.
import type { GemmArgs } from '../backend/backend.js';
import type { TypedArray } from '../dtype.js';

/** The operands' sizes, flags and offsets of a gemm: GemmArgs without the buffers. */
export type Gemm = Omit<GemmArgs, 'a' | 'b' | 'c'>;

/** The reference loop, any dtype (positional inside; GemmArgs at the Backend's boundary). */
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
