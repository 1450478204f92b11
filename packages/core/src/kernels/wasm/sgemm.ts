// The wasm SIMD backend of gemm for float32: operands are copied into the kernels' wasm memory (unless
// they live there already: resident buffers), sgemm.wat multiplies them there (split over worker
// threads by bands of C when the product is big enough to pay for the handshake), and C is copied back.
import type { Gemm } from '../matmul.js';
import { KC, Layout, packedSize, residentOffset } from './module.js';
import { bands, queueBands, queueWords, runParallel, runQueue, threadsAvailable } from './threads.js';

export { wasmAvailable } from './module.js';

/** Multiply-adds below which a product stays on one thread: a smaller one does not repay the handshake
 * with a worker, cheap while it spins but far dearer once it sleeps (bench/README). */
const PARALLEL_MIN_WORK = 1 << 20;

/** C[m, n] (+)= op(A)[m, k] · op(B)[k, n] in float32 on the wasm kernel. */
export function gemmWasm(a: Float32Array, b: Float32Array, c: Float32Array, spec: Gemm): void {
  const { m, n, k, transA = false, transB = false, accumulate = false } = spec;
  const ao = spec.aOffset ?? 0;
  const bo = spec.bOffset ?? 0;
  const co = spec.cOffset ?? 0;
  if (k === 0) {
    // An empty sum: the kernel leaves C as it is, which is the answer when accumulating.
    if (!accumulate) c.fill(0, co, co + m * n);
    return;
  }
  const threads = m * n * k >= PARALLEL_MIN_WORK ? threadsAvailable() : 1;
  // Over threads, C is cut into bands of rows that the threads take from a queue (B packed once, here),
  // or, with few rows, into one band of columns per thread.
  const queued = threads > 1 && m >= 4 * threads;
  const parts = queued ? queueBands(m, threads, 4) : bands(n, threads, 8);
  const layout = new Layout(threads);
  // An operand resident in wasm memory is used where it is; the others are copied in (and C out).
  const aResident = residentOffset(a);
  const bResident = residentOffset(b);
  const cResident = residentOffset(c);
  const aAt = aResident >= 0 ? aResident + ao : layout.take(m * k);
  const bAt = bResident >= 0 ? bResident + bo : layout.take(k * n);
  const cAt = cResident >= 0 ? cResident + co : layout.take(m * n);
  // Byte strides of A(i, p) along i and p and of B(p, j) along j and p: a stored transpose is a stride.
  const sai = transA ? 4 : k * 4;
  const sap = transA ? m * 4 : 4;
  const sbj = transB ? k * 4 : 4;
  const sbp = transB ? 4 : n * 4;
  const add = accumulate ? 1 : 0;
  // The queue packs all of B once, here; bands of columns pack one k-block of theirs per thread.
  const bPack = queued ? layout.take(packedSize(n, k)) * 4 : 0;
  const bPackOf = queued ? [] : parts.map(() => layout.take(Math.ceil(n / 8) * 8 * Math.min(k, KC)) * 4);
  // sgemmPackedB(a, sai, sap, bpack, c, ldc, m, n, k, apack, accumulate); apack (9) is the thread's.
  const chunks = queued
    ? parts.map(([lo, hi]) => [
        aAt * 4 + lo * sai,
        sai,
        sap,
        bPack,
        (cAt + lo * n) * 4,
        n,
        hi - lo,
        n,
        k,
        0,
        add,
      ])
    : [];
  const tableAt = queued ? layout.take(queueWords(chunks.length, chunks[0]!.length)) : 0;
  const { heap, kernels } = layout.heap();
  if (aResident < 0) heap.set(a.subarray(ao, ao + m * k), aAt);
  if (bResident < 0) heap.set(b.subarray(bo, bo + k * n), bAt);
  // Without accumulate the kernel writes C without reading it (BLAS's beta = 0): nothing to copy in or zero.
  if (accumulate && cResident < 0) heap.set(c.subarray(co, co + m * n), cAt);
  if (queued) {
    kernels.packB(bAt * 4, bPack, n, k, transB ? 1 : 0);
    runQueue(kernels, heap, {
      kernel: 'sgemmPackedB',
      chunks,
      at: tableAt * 4,
      apackIndex: 9,
      apack: (thread) => layout.apack(thread),
      threads,
    });
  } else {
    const jobs = parts.map(([lo, hi], thread) => {
      const args = [aAt * 4, sai, sap, bAt * 4 + lo * sbj, sbj, sbp, (cAt + lo) * 4, n, m, hi - lo, k];
      return { kernel: 'sgemm' as const, args: [...args, layout.apack(thread), bPackOf[thread]!, add] };
    });
    runParallel(kernels, jobs);
  }
  if (cResident < 0) c.set(heap.subarray(cAt, cAt + m * n), co);
}
