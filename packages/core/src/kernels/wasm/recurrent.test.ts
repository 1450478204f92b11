// The wasm sequence loops (recurrent.wat) against the plain-JS loops of kernels/recurrent.ts run in
// float64: every output of every forward and backward, at sizes that take the packed gemm's edge tiles
// and two k-blocks, hidden sizes padded to a multiple of 4, and the activations alone over a grid that
// includes saturation, 0, NaN and ±Inf.

import { availableParallelism as cores } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { SequenceDims } from '../../backend/backend.js';
import * as loops from '../../backend/choose.js';
import { setBackend } from '../../backend/choose.js';
import type { TypedArray } from '../../dtype.js';
import { RandomState } from '../../rng.js';
import { Layout } from './module.js';
import { gemmWasm, wasmAvailable } from './sgemm.js';
import {
  getThreads,
  jobsOnWorkers,
  queueBands,
  queueWords,
  runParallel,
  runQueue,
  setThreads,
  threadsReady,
} from './threads.js';

type Kind = 'lstm' | 'gru' | 'rnnTanh' | 'rnnRelu';
const gateCount: Record<Kind, number> = { lstm: 4, gru: 3, rnnTanh: 1, rnnRelu: 1 };

/** Runs `body` with the gemm backend set to `choice`, restoring the default after. */
function on<T>(choice: 'js' | 'wasm', body: () => T): T {
  setBackend(choice);
  try {
    return body();
  } finally {
    setBackend('auto');
  }
}

/** Named buffers: the inputs (random) and the outputs (zero) of one kind's forward then backward. */
type Buffers = Record<string, TypedArray>;

function buffers(kind: Kind, dims: SequenceDims, seed: number, make: (n: number) => TypedArray): Buffers {
  const { steps, batch, hidden } = dims;
  const rng = new RandomState(seed);
  const random = (n: number, scale = 1) => {
    const out = make(n);
    out.set(Array.from(rng.randn(n).data as Float64Array, (v) => v * scale));
    return out;
  };
  const width = gateCount[kind] * hidden;
  const rows = steps * batch;
  const common = {
    // x·W_ihᵀ of every step, as the caller's gemm leaves it
    gates: random(rows * width),
    weightHh: random(width * hidden, 1 / Math.sqrt(hidden)),
    biasIh: random(width, 0.5),
    biasHh: random(width, 0.5),
    h0: random(batch * hidden, 0.5),
    gradOutput: random(rows * hidden),
    gradHN: random(batch * hidden),
    output: make(rows * hidden),
  };
  if (kind === 'lstm') {
    return {
      ...common,
      c0: random(batch * hidden),
      gradCN: random(batch * hidden),
      cells: make(rows * hidden),
      tanhCells: make(rows * hidden),
      dGates: make(rows * width),
      dBias: make(width),
    };
  }
  if (kind === 'gru') {
    return {
      ...common,
      hiddenGates: make(batch * width),
      hiddenN: make(rows * hidden),
      dInputGates: make(rows * width),
      dHiddenGates: make(rows * width),
      dBiasIh: make(width),
      dBiasHh: make(width),
    };
  }
  return { ...common, dGates: make(rows * width), dBias: make(width) };
}

/** Forward then backward through time; returns every buffer either wrote (dh, dc: the carries). */
function run(kind: Kind, dims: SequenceDims, b: Buffers): Buffers {
  const dh = b.gradHN!.slice();
  if (kind === 'lstm') {
    const dc = b.gradCN!.slice();
    loops.lstmSequenceForward({
      gates: b.gates!,
      weightHh: b.weightHh!,
      biasIh: b.biasIh!,
      biasHh: b.biasHh!,
      h0: b.h0!,
      c0: b.c0!,
      output: b.output!,
      cells: b.cells!,
      tanhCells: b.tanhCells!,
      ...dims,
    });
    loops.lstmSequenceBackward({
      gradOutput: b.gradOutput!,
      gates: b.gates!,
      c0: b.c0!,
      cells: b.cells!,
      tanhCells: b.tanhCells!,
      weightHh: b.weightHh!,
      dGates: b.dGates!,
      dh,
      dc,
      dBias: b.dBias!,
      ...dims,
    });
    return {
      gates: b.gates!,
      output: b.output!,
      cells: b.cells!,
      tanhCells: b.tanhCells!,
      dGates: b.dGates!,
      dh,
      dc,
      dBias: b.dBias!,
    };
  }
  if (kind === 'gru') {
    loops.gruSequenceForward({
      gates: b.gates!,
      hiddenGates: b.hiddenGates!,
      weightHh: b.weightHh!,
      biasIh: b.biasIh!,
      biasHh: b.biasHh!,
      h0: b.h0!,
      output: b.output!,
      hiddenN: b.hiddenN!,
      ...dims,
    });
    loops.gruSequenceBackward({
      gradOutput: b.gradOutput!,
      gates: b.gates!,
      hiddenN: b.hiddenN!,
      h0: b.h0!,
      output: b.output!,
      weightHh: b.weightHh!,
      dInputGates: b.dInputGates!,
      dHiddenGates: b.dHiddenGates!,
      dh,
      dBiasIh: b.dBiasIh!,
      dBiasHh: b.dBiasHh!,
      ...dims,
    });
    return {
      gates: b.gates!,
      output: b.output!,
      hiddenN: b.hiddenN!,
      dInputGates: b.dInputGates!,
      dHiddenGates: b.dHiddenGates!,
      dh,
      dBiasIh: b.dBiasIh!,
      dBiasHh: b.dBiasHh!,
    };
  }
  const nonlinearity = kind === 'rnnTanh' ? 'tanh' : 'relu';
  // The RNN's pre-activations start in the output buffer.
  b.output!.set(b.gates!.subarray(0, b.output!.length));
  loops.rnnSequenceForward({
    output: b.output!,
    weightHh: b.weightHh!,
    biasIh: b.biasIh!,
    biasHh: b.biasHh!,
    h0: b.h0!,
    nonlinearity,
    ...dims,
  });
  loops.rnnSequenceBackward({
    gradOutput: b.gradOutput!,
    output: b.output!,
    weightHh: b.weightHh!,
    dGates: b.dGates!,
    dh,
    dBias: b.dBias!,
    nonlinearity,
    ...dims,
  });
  return { output: b.output!, dGates: b.dGates!, dh, dBias: b.dBias! };
}

/** |a - e| ≤ tol·(1 + scale), scale the largest |e| of the buffer: float32 against a float64 oracle. */
function expectClose(actual: TypedArray, expected: TypedArray, tol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol * (1 + scale))) {
      throw new Error(`${what}[${i}]: wasm ${actual[i]}, float64 JS ${expected[i]} (scale ${scale})`);
    }
  }
}

describe.runIf(wasmAvailable())('wasm sequence loops against the float64 JS loops', () => {
  // B 5 and H 68: edge tiles in m (5 rows) and in n (68, 204 columns); the backward product of the
  // LSTM and GRU has k = 4H = 272 or 3H = 204 (two k-blocks past 256 for the LSTM). B 8, H 4: the least.
  const sizes: SequenceDims[] = [
    { steps: 3, batch: 5, hidden: 68 },
    { steps: 6, batch: 8, hidden: 4 },
    { steps: 1, batch: 32, hidden: 16 },
    // Not multiples of 4: padded to 12, 8 and 4 in wasm memory (lstm-small is B 10, H 5).
    { steps: 2, batch: 8, hidden: 10 },
    { steps: 4, batch: 10, hidden: 5 },
    { steps: 3, batch: 3, hidden: 1 },
  ];
  for (const kind of ['lstm', 'gru', 'rnnTanh', 'rnnRelu'] as const) {
    for (const dims of sizes) {
      it(`${kind}, T ${dims.steps}, B ${dims.batch}, H ${dims.hidden}: every forward and backward output`, () => {
        const wasm = on('wasm', () =>
          run(
            kind,
            dims,
            buffers(kind, dims, 3, (n) => new Float32Array(n)),
          ),
        );
        const reference = on('js', () =>
          run(
            kind,
            dims,
            buffers(kind, dims, 3, (n) => new Float64Array(n)),
          ),
        );
        for (const [name, expected] of Object.entries(reference)) {
          expect(wasm[name]).toBeInstanceOf(Float32Array);
          expectClose(wasm[name]!, expected, 2e-5, `${kind} ${name}`);
        }
      });
    }
  }
});

describe.runIf(wasmAvailable())('the wasm activations', () => {
  // One step from h0 = c0 = 0 with W_hh = 0 and zero biases: the gates are the activations of the
  // values placed in them (i, f, o sigmoid; g tanh), and the tanh RNN's output is tanh of its input.
  // The values: a dense sweep of [-20, 20], magnitudes from 1e-30 to 1 of both signs, and specials.
  const grid = [
    ...Array.from({ length: 8001 }, (_, i) => (i - 4000) / 200),
    ...Array.from({ length: 601 }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-30 + i / 20)),
    ...[1e-3, -1e-3, 0.049, 0.0505, -0.0505, 0.051, -0, 0, 40, 86, 87.5, 89, 100, 1e4, -1e4, 3.4e38],
    ...[Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
  ];
  const hidden = 64;
  const batch = Math.ceil(grid.length / hidden);
  const values = new Float32Array(batch * hidden);
  values.set(grid);
  const dims = { steps: 1, batch, hidden };
  const zeros = (n: number) => new Float32Array(n);
  /** values[i] went through f as actual[i]: within 4e-7 relative of float64 (a few float32 ulps). */
  const expectActivation = (actual: (i: number) => number, f: (v: number) => number, what: string) => {
    values.forEach((v, i) => {
      const expected = f(v);
      const got = actual(i);
      const ok = Number.isNaN(expected)
        ? Number.isNaN(got)
        : got === expected || Math.abs(got - expected) <= 4e-7 * Math.abs(expected) + 1e-37;
      if (!ok) throw new Error(`${what}(${v}): wasm ${got}, expected ${expected}`);
    });
  };

  it('sigmoid and tanh are within 4e-7 relative of float64, and NaN stays NaN', () => {
    const gates = zeros(batch * 4 * hidden);
    // row r's values in each of its four gate blocks
    const at = (i: number, block: number) =>
      Math.floor(i / hidden) * 4 * hidden + block * hidden + (i % hidden);
    values.forEach((v, i) => {
      for (let block = 0; block < 4; block++) gates[at(i, block)] = v;
    });
    const state = () => zeros(batch * hidden);
    on('wasm', () =>
      loops.lstmSequenceForward({
        gates,
        weightHh: zeros(4 * hidden * hidden),
        biasIh: zeros(4 * hidden),
        biasHh: zeros(4 * hidden),
        h0: state(),
        c0: state(),
        output: state(),
        cells: state(),
        tanhCells: state(),
        ...dims,
      }),
    );
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    expectActivation((i) => gates[at(i, 0)]!, sigmoid, 'sigmoid');
    expectActivation((i) => gates[at(i, 2)]!, Math.tanh, 'tanh');
    expectActivation((i) => gates[at(i, 3)]!, sigmoid, 'sigmoid');
  });

  it("the tanh RNN's tanh and the relu RNN's relu (NaN stays NaN, -0 becomes 0)", () => {
    for (const [nonlinearity, f] of [
      ['tanh', Math.tanh],
      ['relu', (v: number) => (Number.isNaN(v) ? v : Math.max(v, 0))],
    ] as const) {
      const output = values.slice();
      on('wasm', () =>
        loops.rnnSequenceForward({
          output,
          weightHh: zeros(hidden * hidden),
          biasIh: zeros(hidden),
          biasHh: zeros(hidden),
          h0: zeros(batch * hidden),
          nonlinearity,
          ...dims,
        }),
      );
      expectActivation((i) => output[i]!, f, nonlinearity);
      if (nonlinearity === 'relu') expect(Object.is(output[grid.indexOf(-0)], 0)).toBe(true);
    }
  });
});

describe.runIf(wasmAvailable())('worker threads', () => {
  /** Every output of `body` with one thread and with two (workers ready), and the jobs the workers ran. */
  async function bothWays(body: () => Buffers): Promise<[Buffers, Buffers, number]> {
    setThreads(1);
    const one = body();
    setThreads(2);
    await threadsReady();
    const before = jobsOnWorkers;
    try {
      return [one, body(), jobsOnWorkers - before];
    } finally {
      setThreads(1);
    }
  }

  // Bands of batch rows run the same arithmetic in the same order, the bias grads' partial sums included
  // (by groups of 4 rows, and bands start at multiples of 4): the results are bit for bit equal.
  for (const kind of ['lstm', 'gru', 'rnnTanh', 'rnnRelu'] as const) {
    it(`${kind}: a sequence split by bands of batch rows equals the one-thread run exactly`, async () => {
      const dims = { steps: 3, batch: 18, hidden: 66 };
      const run32 = () =>
        on('wasm', () =>
          run(
            kind,
            dims,
            buffers(kind, dims, 9, (n) => new Float32Array(n)),
          ),
        );
      const [one, two, jobs] = await bothWays(run32);
      if (cores() > 1) expect(jobs).toBeGreaterThan(0);
      for (const [name, values] of Object.entries(one))
        expect(Array.from(two[name]!), name).toEqual(Array.from(values));
    });
  }

  it('a big gemm split by bands of rows, or of columns when rows are few, equals the one-thread run', async () => {
    const rng = new RandomState(10);
    for (const spec of [
      { m: 97, n: 100, k: 130, transA: true },
      { m: 5, n: 700, k: 300, transB: true, accumulate: true },
    ]) {
      const a = Float32Array.from(rng.randn(spec.m * spec.k).data);
      const b = Float32Array.from(rng.randn(spec.k * spec.n).data);
      const c0 = Float32Array.from(rng.randn(spec.m * spec.n).data);
      const product = () => {
        const c = c0.slice();
        gemmWasm(a, b, c, spec);
        return { c };
      };
      const [one, two, jobs] = await bothWays(product);
      if (cores() > 1) expect(jobs).toBeGreaterThan(0);
      expect(Array.from(two.c!)).toEqual(Array.from(one.c!));
    }
  });

  it('a job that traps on either thread throws after both are done, and the pool still works', async () => {
    setThreads(2);
    await threadsReady();
    try {
      const { kernels } = new Layout(2).heap();
      // sumRows of one row of 4 floats: at 0 it is fine; at 2 GiB it reads past the memory and traps.
      const fine = { kernel: 'sumRows' as const, args: [0, 64, 1, 4] };
      const traps = { kernel: 'sumRows' as const, args: [0x7fffff00, 64, 1, 4] };
      if (cores() > 1) {
        expect(() => runParallel(kernels, [fine, traps])).toThrow(
          /kernels: sumRows failed on a worker thread/,
        );
      }
      expect(() => runParallel(kernels, [traps, fine])).toThrow(/out of bounds/);
      const rng = new RandomState(11);
      const [a, b] = [
        Float32Array.from(rng.randn(300 * 200).data),
        Float32Array.from(rng.randn(200 * 100).data),
      ];
      const product = () => {
        const c = new Float32Array(300 * 100);
        gemmWasm(a, b, c, { m: 300, n: 100, k: 200 });
        return Array.from(c);
      };
      const two = product();
      setThreads(1);
      expect(two).toEqual(product());
    } finally {
      setThreads(1);
    }
  });

  it('a queue with a chunk that traps throws once every thread is done, after the other chunks ran', async () => {
    setThreads(2);
    await threadsReady();
    try {
      const layout = new Layout(2);
      const [x, sums, table] = [layout.take(4), layout.take(8 * 4), layout.take(queueWords(8, 5))];
      const { heap, kernels } = layout.heap();
      heap.set([1, 2, 3, 4], x);
      heap.fill(Number.NaN, sums, sums + 8 * 4);
      // sumRows(x, out, rows 1, width 4) copies x's row into chunk i's sums; chunk 3 reads at 2 GiB and
      // traps (after zeroing its sums). The last argument stands where a kernel's packing space would go,
      // and is ignored.
      const chunks = Array.from({ length: 8 }, (_, i) => [
        i === 3 ? 0x7fffff00 : x * 4,
        (sums + 4 * i) * 4,
        1,
        4,
        0,
      ]);
      const queue = {
        kernel: 'sumRows' as const,
        chunks,
        at: table * 4,
        apackIndex: 4,
        apack: () => 0,
        threads: 2,
      };
      expect(() => runQueue(kernels, heap, queue)).toThrow(/sumRows failed on a worker thread|out of bounds/);
      // Whichever thread trapped, the other took every chunk left (one thread stops at the trap).
      const ran = Array.from({ length: 8 }, (_, i) =>
        Array.from(heap.subarray(sums + 4 * i, sums + 4 * i + 4)),
      );
      ran.forEach((got, i) => {
        if (i < 3 || (i > 3 && cores() > 1)) expect(got, `chunk ${i}`).toEqual([1, 2, 3, 4]);
      });
      expect(ran[3]).not.toEqual([1, 2, 3, 4]);
      // A queue laid out for fewer threads than are ready (packing space for that many) uses no more.
      setThreads(3);
      await threadsReady();
      const fine = chunks.map((chunk, i) => (i === 3 ? [x * 4, ...chunk.slice(1)] : chunk));
      for (const threads of [1, 2]) {
        heap.fill(Number.NaN, sums, sums + 8 * 4);
        const before = jobsOnWorkers;
        runQueue(kernels, heap, { ...queue, chunks: fine, threads });
        expect(jobsOnWorkers - before, `threads ${threads}`).toBe(threads - 1);
        expect(Array.from(heap.subarray(sums, sums + 8 * 4))).toEqual(Array(8).fill([1, 2, 3, 4]).flat());
      }
    } finally {
      setThreads(1);
    }
  });

  it('queueBands covers the rows once, in aligned bands: one per thread first, then shrinking ones', () => {
    for (const [total, threads] of [
      [32, 2],
      [1600, 2],
      [97, 3],
      [8, 2],
      [5, 2],
      [0, 2],
    ] as const) {
      const parts = queueBands(total, threads, 4);
      let next = 0;
      for (const [lo, hi] of parts) {
        expect(lo).toBe(next);
        expect(hi > lo || total === 0).toBe(true);
        if (hi < total) expect((hi - lo) % 4).toBe(0);
        next = hi;
      }
      expect(next).toBe(total);
    }
    expect(queueBands(32, 2, 4)).toEqual([
      [0, 12],
      [12, 24],
      [24, 28],
      [28, 32],
    ]);
    // Made once per arguments and shared, so a kernel call allocates none (frozen: no caller may change them).
    expect(queueBands(1600, 2, 4)).toBe(queueBands(1600, 2, 4));
    expect(Object.isFrozen(queueBands(1600, 2, 4))).toBe(true);
    expect(queueBands(1600, 3, 4)).not.toBe(queueBands(1600, 2, 4));
  });

  it('setThreads takes 1 to 8 threads and names a bad count', () => {
    expect(() => setThreads(0)).toThrow(/setThreads: count must be an integer from 1 to 8, got 0/);
    expect(() => setThreads(1.5)).toThrow(RangeError);
    expect(getThreads()).toBe(1);
    // Where workers run (Node, a shared memory), the count asked for is the count in use.
    expect(setThreads(3)).toBe(3);
    expect(getThreads()).toBe(3);
    expect(setThreads(1)).toBe(1);
  });
});
