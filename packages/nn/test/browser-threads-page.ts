// The browser side of browser-threads.test.ts, bundled by esbuild (sources, not dist): on a page's main
// thread it reports what kernel calls do there, then starts this same script as a module Web Worker,
// which reports the same on threads; the page hands both reports to the test as
// globalThis.threadsReport. Each report compares a big gemm and an LSTM layer's forward and backward
// on 2 threads with 1, bit for bit, and (in a worker) kills a worker in mid-call.
import { mul, RandomState, sum, type Tensor, tensor } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { LSTM, manualSeed } from '@tapegrad/nn';
// Internal hooks, the same modules as the package's (esbuild resolves the package to its sources).
import { residentOffset } from '../../core/src/kernels/wasm/module.js';
import * as threads from '../../core/src/kernels/wasm/threads.js';

export interface Report {
  where: 'main thread' | 'worker';
  crossOriginIsolated: boolean;
  /** Whether kernels' buffers live in the wasm memory (shared, so no copies). */
  residentBuffers: boolean;
  /** What setThreads(2) returned, and getThreads() after it. */
  setThreads: number;
  getThreads: number;
  singleThreadReason: string | null;
  /** Jobs workers ran during the two-thread calls. */
  jobsOnWorkers: number;
  gemmEqual: boolean;
  lstmEqual: boolean;
  /** Worker only: the errors of the calls whose worker died, and whether each next call matched. */
  deaths: { message: string; nextEqual: boolean }[];
}

const copies = (arrays: ArrayLike<number>[]) => arrays.map((a) => Float32Array.from(a));

function sameBits(x: Float32Array[], y: Float32Array[]): boolean {
  const words = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
  return (
    x.length === y.length &&
    x.every((a, i) => {
      const [u, v] = [words(a), words(y[i]!)];
      return u.length === v.length && u.every((word, j) => word === v[j]);
    })
  );
}

const rng = new RandomState(29);
const draw = (n: number) => Float32Array.from(rng.randn(n).data);

// 320³ multiply-adds: above sgemm's threshold for splitting (2^20).
const size = 320;
const [a, b] = [draw(size * size), draw(size * size)];
function bigGemm(): Float32Array[] {
  const c = new Float32Array(size * size);
  kernels.gemm({ a, b, c, m: size, n: size, k: size, transB: true });
  return [c];
}

// An LSTM layer over 24 steps of a batch of 32 (hidden 128: the recurrent loop splits its batch rows).
const [steps, batch, input, hidden] = [24, 32, 64, 128];
const xs = draw(steps * batch * input);
const outputWeights = draw(steps * batch * hidden);
function lstmForwardBackward(): Float32Array[] {
  manualSeed(11);
  const lstm = new LSTM(input, hidden);
  const x = tensor(xs, { shape: [steps, batch, input], requiresGrad: true });
  const { output, hN, cN } = lstm.forward(x);
  const loss: Tensor = sum(mul(output, tensor(outputWeights, { shape: [steps, batch, hidden] })));
  loss.backward();
  const grads = [x, ...lstm.parameters()].map((p) => p.grad!.data);
  return copies([loss.data, output.data, hN.data, cN.data, ...grads]);
}

async function report(where: Report['where']): Promise<Report> {
  kernels.setBackend('wasm');
  kernels.setThreads(1);
  const one = { gemm: bigGemm(), lstm: lstmForwardBackward() };
  const asked = kernels.setThreads(2);
  await kernels.threadsReady();
  const jobsBefore = threads.jobsOnWorkers;
  const two = { gemm: bigGemm(), lstm: lstmForwardBackward() };
  const jobs = threads.jobsOnWorkers - jobsBefore;
  const deaths: Report['deaths'] = [];
  // Kill a worker where there is one (1 thread elsewhere: no worker to kill).
  if (where === 'worker' && kernels.getThreads() > 1) {
    for (const how of [3, 'terminate'] as const) {
      await kernels.threadsReady();
      if (!threads.dieAtNextJob(1, how)) throw new Error('browser-threads-page: no worker 1 to kill');
      let message = '';
      try {
        bigGemm();
      } catch (error) {
        message = (error as Error).message;
      }
      deaths.push({ message, nextEqual: sameBits(bigGemm(), one.gemm) });
    }
  }
  return {
    where,
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    residentBuffers: kernels.callArena(
      'browser test',
      (arena) => residentOffset(arena.take('float32', 64)) >= 0,
    ),
    setThreads: asked,
    getThreads: kernels.getThreads(),
    singleThreadReason: kernels.singleThreadReason(),
    jobsOnWorkers: jobs,
    gemmEqual: sameBits(two.gemm, one.gemm),
    lstmEqual: sameBits(two.lstm, one.lstm),
    deaths,
  };
}

const failure = (where: string, error: unknown) =>
  `${where}: ${error instanceof Error ? `${error.message}\n${error.stack}` : String(error)}`;

type Page = { document?: unknown; threadsReport?: Promise<unknown> };
type WorkerScope = { postMessage(message: unknown): void };
type WebWorker = {
  addEventListener(
    event: 'message' | 'error',
    listener: (event: { data?: unknown; message?: string }) => void,
  ): void;
};
const scope = globalThis as unknown as Page & WorkerScope;

if (scope.document !== undefined) {
  scope.threadsReport = (async () => {
    const main = await report('main thread').catch((error) => failure('main thread', error));
    const WorkerClass = (globalThis as unknown as { Worker: new (url: string, o: object) => WebWorker })
      .Worker;
    const worker = new WorkerClass(import.meta.url, { type: 'module' });
    const inWorker = await new Promise((resolve) => {
      worker.addEventListener('message', (event) => resolve(event.data));
      worker.addEventListener('error', (event) => resolve(`worker: ${event.message}`));
    });
    return { main, worker: inWorker };
  })();
} else {
  report('worker').then(
    (result) => scope.postMessage(result),
    (error) => scope.postMessage(failure('worker', error)),
  );
}
