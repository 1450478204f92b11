// Child process for worker-death.test.ts: kills a wasm worker thread in the middle of a split gemm
// (by process.exit in it, or terminate() while the main thread waits for it) and prints, as one JSON
// line, what each call did: its error and how long it took to come, then the calls after it.
// A child, so that a wait that never ends (the bug this guards against) is killed by the test's timeout.

import { gemmWasm, wasmAvailable } from '../src/kernels/wasm/sgemm.js';
import {
  dieAtNextJob,
  getThreads,
  jobsOnWorkers,
  setThreads,
  threadsAvailable,
  threadsReady,
} from '../src/kernels/wasm/threads.js';
import { RandomState } from '../src/rng.js';

if (!wasmAvailable()) throw new Error('worker-death-probe: no wasm here');

const rng = new RandomState(19);
// Many rows take the queue of row bands (sgemmPackedB); few take one band of columns per thread (sgemm).
const shapes = {
  sgemmPackedB: { m: 300, n: 100, k: 200 },
  sgemm: { m: 5, n: 700, k: 300, transB: true },
} as const;
type KernelCase = keyof typeof shapes;
const operands = Object.fromEntries(
  Object.entries(shapes).map(([kernel, { m, n, k }]) => [
    kernel,
    [Float32Array.from(rng.randn(m * k).data), Float32Array.from(rng.randn(k * n).data)],
  ]),
) as Record<KernelCase, [Float32Array, Float32Array]>;

const product = (kernel: KernelCase): number[] => {
  const [a, b] = operands[kernel];
  const spec = shapes[kernel];
  const c = new Float32Array(spec.m * spec.n);
  gemmWasm(a, b, c, spec);
  return Array.from(c);
};

const sameBits = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));

setThreads(1);
const oneThread = { sgemmPackedB: product('sgemmPackedB'), sgemm: product('sgemm') };

const results = [];
for (const [threads, index, how, kernel] of [
  [2, 1, 3, 'sgemmPackedB'],
  [2, 1, 'terminate', 'sgemmPackedB'],
  [2, 1, 7, 'sgemm'],
  [2, 1, 'terminate', 'sgemm'],
  [3, 2, 5, 'sgemmPackedB'],
] as const) {
  setThreads(threads);
  await threadsReady();
  const before = threadsAvailable();
  if (!dieAtNextJob(index, how)) throw new Error(`worker-death-probe: no worker ${index}`);
  const started = performance.now();
  let message = '';
  try {
    product(kernel);
  } catch (error) {
    message = (error as Error).message;
  }
  const ms = performance.now() - started;
  // At once, without yielding: the dead worker is out, its replacement not ready yet.
  const availableAfter = threadsAvailable();
  const nextEqual = sameBits(product(kernel), oneThread[kernel]);
  await threadsReady();
  const jobs = jobsOnWorkers;
  const readyEqual = sameBits(product(kernel), oneThread[kernel]);
  results.push({
    threads,
    index,
    how,
    kernel,
    before,
    message,
    ms,
    availableAfter,
    getThreads: getThreads(),
    nextEqual,
    availableReady: threadsAvailable(),
    jobsReady: jobsOnWorkers - jobs,
    readyEqual,
  });
}
console.log(JSON.stringify(results));
