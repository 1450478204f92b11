// The wasm SIMD backend of gemm for float32: operands are copied into the kernels' wasm memory,
// sgemm.wat multiplies them there, and C is copied back.
import type { Gemm } from '../matmul.js';
import { KC, Layout } from './module.js';

export { wasmAvailable } from './module.js';

/** C[m, n] (+)= op(A)[m, k] · op(B)[k, n] in float32 on the wasm kernel. */
export function gemmWasm(a: Float32Array, b: Float32Array, c: Float32Array, spec: Gemm): void {
  const { m, n, k, transA = false, transB = false, accumulate = false } = spec;
  const ao = spec.aOffset ?? 0;
  const bo = spec.bOffset ?? 0;
  const co = spec.cOffset ?? 0;
  const layout = new Layout();
  const aAt = layout.take(m * k);
  const bAt = layout.take(k * n);
  const cAt = layout.take(m * n);
  const bPackAt = layout.take(Math.ceil(n / 8) * 8 * Math.min(k, KC));
  const { heap, kernels } = layout.heap();
  heap.set(a.subarray(ao, ao + m * k), aAt);
  heap.set(b.subarray(bo, bo + k * n), bAt);
  if (accumulate) heap.set(c.subarray(co, co + m * n), cAt);
  else heap.fill(0, cAt, cAt + m * n);
  kernels.sgemm(
    aAt * 4,
    bAt * 4,
    cAt * 4,
    m,
    n,
    k,
    transA ? 1 : 0,
    transB ? 1 : 0,
    layout.apack,
    bPackAt * 4,
  );
  c.set(heap.subarray(cAt, cAt + m * n), co);
}
