// The kernels on an ordinary wasm memory, as in a browser page without cross-origin isolation: no
// worker threads, no resident buffers (their views would not survive the memory's growth), and the
// same results as the JS loops. Its own file: the memory is chosen once per process.
import { expect, it } from 'vitest';
import { lstmSequenceForward } from '../../backend/choose.js';
import { callArena } from '../../memory/arena.js';
import { RandomState } from '../../rng.js';
import { gemmJs } from '../matmul.js';
import { loadLikeABrowser, residentOffset, sharedModule, wasmAvailable } from './module.js';
import { gemmWasm } from './sgemm.js';
import { getThreads, setThreads, singleThreadReason, threadsAvailable, threadsReady } from './threads.js';

loadLikeABrowser({ shared: false });

it('runs on one thread with copies, growing the memory as it goes', async () => {
  expect(wasmAvailable()).toBe(true);
  expect(sharedModule()).toBeNull();
  // Asked for 2, it keeps 1 and says so: in what it returns, in getThreads, and why.
  expect(setThreads(2)).toBe(1);
  expect(getThreads()).toBe(1);
  expect(singleThreadReason()).toMatch(/the wasm memory is not shared/);
  await threadsReady();
  expect(threadsAvailable()).toBe(1);
  callArena('unshared test', (arena) => expect(residentOffset(arena.take('float32', 64))).toBe(-1));
  const rng = new RandomState(3);
  // Sizes that grow the memory between calls (a view taken before a growth is detached).
  for (const size of [16, 300, 700]) {
    const a = Float32Array.from(rng.randn(size * size).data);
    const b = Float32Array.from(rng.randn(size * size).data);
    const [c, expected] = [new Float32Array(size * size), new Float64Array(size * size)];
    gemmWasm(a, b, c, { m: size, n: size, k: size, transB: true });
    gemmJs(Float64Array.from(a), Float64Array.from(b), expected, {
      m: size,
      n: size,
      k: size,
      transB: true,
    });
    const scale = Math.sqrt(size);
    for (let i = 0; i < c.length; i += 97)
      expect(Math.abs(c[i]! - expected[i]!)).toBeLessThan(1e-5 * scale * 4);
  }
  const dims = { steps: 3, batch: 16, hidden: 32 };
  const rows = dims.steps * dims.batch;
  const gates = Float32Array.from(rng.randn(rows * 4 * dims.hidden).data);
  const reference = Float64Array.from(gates);
  const weightHh = Float32Array.from(rng.randn(4 * dims.hidden * dims.hidden).data, (v) => v / 8);
  const zeros = (n: number) => new Float32Array(n);
  const [output, cells, tanhCells] = [
    zeros(rows * dims.hidden),
    zeros(rows * dims.hidden),
    zeros(rows * dims.hidden),
  ];
  lstmSequenceForward({
    gates,
    weightHh,
    biasIh: zeros(128),
    biasHh: zeros(128),
    h0: zeros(512),
    c0: zeros(512),
    output,
    cells,
    tanhCells,
    ...dims,
  });
  const out64 = new Float64Array(rows * dims.hidden);
  const f64 = (n: number) => new Float64Array(n);
  setThreads(1);
  lstmSequenceForward({
    gates: reference,
    weightHh: Float64Array.from(weightHh),
    biasIh: f64(128),
    biasHh: f64(128),
    h0: f64(512),
    c0: f64(512),
    output: out64,
    cells: f64(rows * dims.hidden),
    tanhCells: f64(rows * dims.hidden),
    ...dims,
  });
  for (let i = 0; i < output.length; i++) expect(Math.abs(output[i]! - out64[i]!)).toBeLessThan(1e-5);
});
