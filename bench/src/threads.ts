// lstm-big's training iteration (the tapegrad contestant's) in blocks of iterations on 1 or 2 threads,
// for bench/browser.mjs: the same module in Node and, bundled, in a Web Worker of a cross-origin
// isolated page, so the two runtimes run the very same code.
import * as kernels from '@tapegrad/core/kernels';
import type { Runner } from './contestant.js';
import { tapegradOneThread } from './contestants/tapegrad.js';
import { makeProblem, workloadNamed } from './workloads.js';

export interface Block {
  /** What setThreads returned: the threads the block ran on. */
  threads: number;
  /** Milliseconds of each iteration, wall clock. */
  times: number[];
  /** The last iteration's loss (the same on every thread count). */
  loss: number;
}

let runner: Promise<Runner> | undefined;

/** Runs `iterations` iterations of lstm-big on `threads` threads, timing each. */
export async function block(threads: number, iterations: number): Promise<Block> {
  runner ??= tapegradOneThread.create(makeProblem(workloadNamed('lstm-big')));
  const run = await runner;
  const used = kernels.setThreads(threads);
  // Workers start in the background; time them only once they serve.
  await kernels.threadsReady();
  const times: number[] = [];
  let loss = Number.NaN;
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    loss = (await run.step()) as number;
    times.push(performance.now() - started);
  }
  return { threads: used, times, loss };
}

// In a Web Worker: answer the page's requests ({ threads, iterations }) with blocks.
type WorkerScope = {
  document?: unknown;
  WorkerGlobalScope?: unknown;
  postMessage(message: unknown): void;
  onmessage: ((event: { data: { threads: number; iterations: number } }) => void) | null;
};
const scope = globalThis as unknown as WorkerScope;
if (scope.WorkerGlobalScope !== undefined && scope.document === undefined) {
  scope.onmessage = ({ data }) => {
    block(data.threads, data.iterations).then(
      (result) => scope.postMessage(result),
      (error) => scope.postMessage({ error: String((error as Error)?.stack ?? error) }),
    );
  };
}
