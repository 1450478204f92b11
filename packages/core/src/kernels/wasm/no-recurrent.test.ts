// The kernels where only sgemm compiles, as on a browser page's main thread (synchronous compiles over
// 4 KB refused; recurrent.wat is ~9 KB): gemm still runs in wasm, the sequence loops and softmax rows
// run in JS, with the JS loops' results. Its own file: the modules are loaded once per process.
import { expect, it } from 'vitest';
import { lstmSequenceForward, setBackend, softmaxCrossEntropy } from '../../backend/choose.js';
import { RandomState } from '../../rng.js';
import { gemmJs } from '../matmul.js';
import { loadLikeABrowser, recurrentWasmAvailable, wasmAvailable } from './module.js';
import { gemmWasm } from './sgemm.js';

loadLikeABrowser({ recurrent: false });

it('gemm in wasm, the recurrent loops and softmax rows in JS', () => {
  expect(wasmAvailable()).toBe(true);
  expect(recurrentWasmAvailable()).toBe(false);
  const rng = new RandomState(5);
  const a = Float32Array.from(rng.randn(40 * 30).data);
  const b = Float32Array.from(rng.randn(30 * 20).data);
  const [c, expected] = [new Float32Array(40 * 20), new Float32Array(40 * 20)];
  gemmWasm(a, b, c, { m: 40, n: 20, k: 30 });
  gemmJs(a, b, expected, { m: 40, n: 20, k: 30 });
  for (let i = 0; i < c.length; i++) expect(Math.abs(c[i]! - expected[i]!)).toBeLessThan(1e-4);
  // The default backend sends these sizes to wasm where it can; here they must give the JS loops' values
  // (W_hh = 0 makes every product exact, so only the activations could differ).
  const run = () => {
    const dims = { steps: 2, batch: 8, hidden: 16 };
    const rows = dims.steps * dims.batch;
    const gates = Float32Array.from(new RandomState(6).randn(rows * 64).data);
    const zeros = (n: number) => new Float32Array(n);
    const output = zeros(rows * 16);
    lstmSequenceForward({
      gates,
      weightHh: zeros(64 * 16),
      biasIh: zeros(64),
      biasHh: zeros(64),
      h0: zeros(128),
      c0: zeros(128),
      output,
      cells: zeros(rows * 16),
      tanhCells: zeros(rows * 16),
      ...dims,
    });
    const logits = Float32Array.from(new RandomState(7).randn(64 * 10).data);
    const loss = softmaxCrossEntropy({
      x: logits,
      rows: 64,
      classes: 10,
      targets: Int32Array.from({ length: 64 }, (_, i) => i % 10),
      probabilities: null,
    });
    return { output: Array.from(output), loss };
  };
  const auto = run();
  setBackend('js');
  try {
    expect(auto).toEqual(run());
  } finally {
    setBackend('auto');
  }
});
