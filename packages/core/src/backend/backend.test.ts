// Every kernel of the Backend interface on both backends, against each other: a table keyed by
// KernelName (a kernel added to Backend without a row here is a compile error), float32 inputs, each at
// a size under the thread threshold and one over it (with two threads ready). Then the chooser's rule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TypedArray } from '../dtype.js';
import { recurrentWasmAvailable } from '../kernels/wasm/module.js';
import {
  getThreads,
  jobsOnWorkers,
  setThreads,
  threadsAvailable,
  threadsReady,
} from '../kernels/wasm/threads.js';
import { RandomState } from '../rng.js';
import type { Backend, KernelArgs, KernelName } from './backend.js';
import { backendFor, getBackend, setBackend } from './choose.js';
import { jsBackend } from './js.js';
import { wasmBackend } from './wasm.js';

/** Random float32 values, seeded: the same seed gives both backends the same inputs. */
function values(rng: RandomState, n: number, scale = 1): Float32Array {
  return Float32Array.from(rng.randn(n).data as Float64Array, (v) => v * scale);
}

const zeros = (n: number) => new Float32Array(n);

/** 'exact': the same bits (the same loop, or the same adds in the same order); else a tolerance. */
type Agreement = 'exact' | number;

interface Case<K extends KernelName> {
  /** The arguments for one size: small (under the thread threshold) or big (over it). */
  make(rng: RandomState, big: boolean): KernelArgs<K>;
  agreement: Agreement;
}

/** The recurrent weight [G·H, H] at the scale PyTorch's init gives it, so the carries stay O(1). */
const weight = (rng: RandomState, gates: number, hidden: number) =>
  values(rng, gates * hidden * hidden, 1 / Math.sqrt(hidden));

/** Small: H 5 (padded to 8 in wasm), B 2. Big: B 16, H 64, B·G·H² ≥ 2^16, so the batch splits over threads. */
const sequenceDims = (big: boolean) =>
  big ? { steps: 4, batch: 16, hidden: 64 } : { steps: 3, batch: 2, hidden: 5 };
const cellDims = (big: boolean) => (big ? { batch: 16, hidden: 64 } : { batch: 3, hidden: 5 });

const cases: { [K in KernelName]: Case<K> } = {
  gemm: {
    // Big: 128³ ≥ 2^20 multiply-adds, split over threads by bands of C.
    make: (rng, big) =>
      big
        ? {
            a: values(rng, 128 * 128),
            b: values(rng, 128 * 128),
            c: zeros(128 * 128),
            m: 128,
            n: 128,
            k: 128,
            transB: true,
          }
        : {
            a: values(rng, 9 * 13 + 3),
            b: values(rng, 9 * 7),
            c: values(rng, 13 * 7 + 2),
            m: 13,
            n: 7,
            k: 9,
            transA: true,
            accumulate: true,
            aOffset: 3,
            cOffset: 2,
          },
    agreement: 1e-5,
  },
  rnnGatesForward: {
    make: (rng, big) => {
      const d = cellDims(big);
      const width = d.hidden;
      return {
        gates: values(rng, d.batch * width),
        biasIh: values(rng, width),
        biasHh: values(rng, width),
        ...d,
        nonlinearity: big ? 'relu' : 'tanh',
      };
    },
    agreement: 'exact',
  },
  rnnGatesBackward: {
    make: (rng, big) => {
      const d = cellDims(big);
      const n = d.batch * d.hidden;
      return {
        gradH: values(rng, n),
        hNext: values(rng, n, 0.5),
        dGates: zeros(n),
        dBias: zeros(d.hidden),
        ...d,
        nonlinearity: big ? 'relu' : 'tanh',
      };
    },
    agreement: 'exact',
  },
  lstmGatesForward: {
    make: (rng, big) => {
      const d = cellDims(big);
      const n = d.batch * d.hidden;
      return {
        gates: values(rng, 4 * n),
        biasIh: values(rng, 4 * d.hidden),
        biasHh: values(rng, 4 * d.hidden),
        c: values(rng, n),
        cNext: zeros(n),
        hNext: zeros(n),
        tanhCNext: zeros(n),
        ...d,
      };
    },
    agreement: 'exact',
  },
  lstmGatesBackward: {
    make: (rng, big) => {
      const d = cellDims(big);
      const n = d.batch * d.hidden;
      return {
        gradH: values(rng, n),
        gradC: values(rng, n),
        gates: values(rng, 4 * n, 0.3),
        c: values(rng, n),
        tanhCNext: values(rng, n, 0.3),
        dGates: zeros(4 * n),
        dC: zeros(n),
        dBias: zeros(4 * d.hidden),
        ...d,
      };
    },
    agreement: 'exact',
  },
  gruGatesForward: {
    make: (rng, big) => {
      const d = cellDims(big);
      const n = d.batch * d.hidden;
      return {
        gates: values(rng, 3 * n),
        hiddenGates: values(rng, 3 * n),
        biasIh: values(rng, 3 * d.hidden),
        biasHh: values(rng, 3 * d.hidden),
        h: values(rng, n),
        hNext: zeros(n),
        hiddenN: zeros(n),
        ...d,
      };
    },
    agreement: 'exact',
  },
  gruGatesBackward: {
    make: (rng, big) => {
      const d = cellDims(big);
      const n = d.batch * d.hidden;
      return {
        gradH: values(rng, n),
        gates: values(rng, 3 * n, 0.3),
        hiddenN: values(rng, n),
        h: values(rng, n),
        dInputGates: zeros(3 * n),
        dHiddenGates: zeros(3 * n),
        dH: zeros(n),
        dBiasIh: zeros(3 * d.hidden),
        dBiasHh: zeros(3 * d.hidden),
        ...d,
      };
    },
    agreement: 'exact',
  },
  rnnSequenceForward: {
    make: (rng, big) => {
      const d = sequenceDims(big);
      const { steps, batch, hidden } = d;
      return {
        output: values(rng, steps * batch * hidden),
        weightHh: weight(rng, 1, hidden),
        biasIh: values(rng, hidden, 0.1),
        biasHh: values(rng, hidden, 0.1),
        h0: values(rng, batch * hidden, 0.5),
        ...d,
        nonlinearity: big ? 'relu' : 'tanh',
      };
    },
    agreement: 1e-5,
  },
  rnnSequenceBackward: {
    make: (rng, big) => {
      const d = sequenceDims(big);
      const { steps, batch, hidden } = d;
      const rows = steps * batch;
      return {
        gradOutput: values(rng, rows * hidden),
        output: values(rng, rows * hidden, 0.5),
        weightHh: weight(rng, 1, hidden),
        dGates: zeros(rows * hidden),
        dh: values(rng, batch * hidden),
        dBias: zeros(hidden),
        ...d,
        nonlinearity: big ? 'relu' : 'tanh',
      };
    },
    agreement: 1e-5,
  },
  lstmSequenceForward: {
    make: (rng, big) => {
      const d = sequenceDims(big);
      const { steps, batch, hidden } = d;
      const rows = steps * batch;
      return {
        gates: values(rng, rows * 4 * hidden),
        weightHh: weight(rng, 4, hidden),
        biasIh: values(rng, 4 * hidden, 0.1),
        biasHh: values(rng, 4 * hidden, 0.1),
        h0: values(rng, batch * hidden, 0.5),
        c0: values(rng, batch * hidden, 0.5),
        output: zeros(rows * hidden),
        cells: zeros(rows * hidden),
        tanhCells: zeros(rows * hidden),
        ...d,
      };
    },
    agreement: 1e-5,
  },
  lstmSequenceBackward: {
    make: (rng, big) => {
      const d = sequenceDims(big);
      const { steps, batch, hidden } = d;
      const rows = steps * batch;
      return {
        gradOutput: values(rng, rows * hidden),
        gates: values(rng, rows * 4 * hidden, 0.3),
        c0: values(rng, batch * hidden),
        cells: values(rng, rows * hidden),
        tanhCells: values(rng, rows * hidden, 0.3),
        weightHh: weight(rng, 4, hidden),
        dGates: zeros(rows * 4 * hidden),
        dh: values(rng, batch * hidden),
        dc: values(rng, batch * hidden),
        dBias: zeros(4 * hidden),
        ...d,
      };
    },
    agreement: 1e-5,
  },
  gruSequenceForward: {
    make: (rng, big) => {
      const d = sequenceDims(big);
      const { steps, batch, hidden } = d;
      const rows = steps * batch;
      return {
        gates: values(rng, rows * 3 * hidden),
        // The JS loop's per-step scratch (the wasm loop keeps its own): compared only as written.
        hiddenGates: zeros(batch * 3 * hidden),
        weightHh: weight(rng, 3, hidden),
        biasIh: values(rng, 3 * hidden, 0.1),
        biasHh: values(rng, 3 * hidden, 0.1),
        h0: values(rng, batch * hidden, 0.5),
        output: zeros(rows * hidden),
        hiddenN: zeros(rows * hidden),
        ...d,
      };
    },
    agreement: 1e-5,
  },
  gruSequenceBackward: {
    make: (rng, big) => {
      const d = sequenceDims(big);
      const { steps, batch, hidden } = d;
      const rows = steps * batch;
      return {
        gradOutput: values(rng, rows * hidden),
        gates: values(rng, rows * 3 * hidden, 0.3),
        hiddenN: values(rng, rows * hidden),
        h0: values(rng, batch * hidden),
        output: values(rng, rows * hidden),
        weightHh: weight(rng, 3, hidden),
        dInputGates: zeros(rows * 3 * hidden),
        dHiddenGates: zeros(rows * 3 * hidden),
        dh: values(rng, batch * hidden),
        dBiasIh: zeros(3 * hidden),
        dBiasHh: zeros(3 * hidden),
        ...d,
      };
    },
    agreement: 1e-5,
  },
  softmaxCrossEntropy: {
    // Big: 512·100 values ≥ 2^15, split over threads by bands of rows.
    make: (rng, big) => {
      const [rows, classes] = big ? [512, 100] : [6, 10];
      return {
        x: values(rng, rows * classes, 3),
        rows,
        classes,
        targets: Int32Array.from({ length: rows }, (_, i) => (i * 7) % classes),
        probabilities: zeros(rows * classes),
      };
    },
    agreement: 1e-5,
  },
  softmaxCrossEntropyBackward: {
    make: (rng, big) => {
      const [rows, classes] = big ? [512, 100] : [6, 10];
      return {
        dLogits: values(rng, rows * classes),
        classes,
        targets: Int32Array.from({ length: rows }, (_, i) => (i * 7) % classes),
      };
    },
    agreement: 'exact',
  },
  sumRows: {
    // Small: still a multiple of 4 wide, so the wasm loop runs (it hands other widths to JS). Not threaded.
    make: (rng, big) => {
      const [rows, width] = big ? [2048, 64] : [5, 8];
      return { x: values(rng, rows * width, 100), rows, width, out: zeros(width) };
    },
    agreement: 'exact',
  },
  adamStep: {
    make: (rng, big) => {
      const n = big ? 50_000 : 7;
      const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: big ? 0.01 : 0, step: 3 };
      return {
        param: values(rng, n),
        grad: values(rng, n),
        m: big ? values(rng, n, 0.1) : undefined,
        v: big ? Float32Array.from(values(rng, n), (x) => x * x) : undefined,
        value: zeros(n),
        newM: zeros(n),
        newV: zeros(n),
        hyper,
      };
    },
    agreement: 'exact',
  },
  sgdStep: {
    make: (rng, big) => {
      const n = big ? 50_000 : 7;
      return {
        param: values(rng, n),
        grad: values(rng, n),
        momentumBuffer: big ? values(rng, n) : undefined,
        value: zeros(n),
        newMomentumBuffer: zeros(n),
        hyper: { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: big, weightDecay: 0.001 },
      };
    },
    agreement: 'exact',
  },
};

const kernelNames = Object.keys(cases) as KernelName[];

/** Runs kernel on backend with fresh (seeded) arguments; every typed array after the call, and the result. */
function runOn<K extends KernelName>(
  backend: Backend,
  kernel: K,
  big: boolean,
): { buffers: Record<string, TypedArray>; result: unknown } {
  const args = cases[kernel].make(new RandomState(kernel.length * 101 + (big ? 1 : 0)), big);
  // The JS backend's sequence loops take their per-step gemm through the chooser: pin it to JS too.
  setBackend(backend.name);
  let result: unknown;
  try {
    result = (backend[kernel] as (a: KernelArgs<K>) => unknown)(args);
  } finally {
    setBackend('auto');
  }
  const buffers: Record<string, TypedArray> = {};
  for (const [name, value] of Object.entries(args)) {
    if (ArrayBuffer.isView(value) && !(value instanceof Int32Array)) buffers[name] = value as TypedArray;
  }
  return { buffers, result };
}

function expectAgree(actual: TypedArray, expected: TypedArray, agreement: Agreement, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  if (agreement === 'exact') {
    for (let i = 0; i < expected.length; i++) {
      if (!Object.is(actual[i], expected[i]))
        throw new Error(`${what}[${i}]: wasm ${actual[i]}, js ${expected[i]}`);
    }
    return;
  }
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= agreement * (1 + scale))) {
      throw new Error(`${what}[${i}]: wasm ${actual[i]}, js ${expected[i]} (scale ${scale})`);
    }
  }
}

describe.runIf(recurrentWasmAvailable())(
  'every kernel: the wasm backend against the JS backend, float32',
  () => {
    let threadsBefore = 1;
    beforeAll(async () => {
      threadsBefore = getThreads();
      setThreads(2);
      await threadsReady();
    });
    afterAll(() => setThreads(threadsBefore));

    it('runs with two threads ready, so the big sizes split', () => {
      expect(threadsAvailable()).toBe(2);
    });

    // A kernel with no wasm loop is the same function on both backends (the chooser's tests check
    // that): comparing it with itself could not fail.
    for (const kernel of kernelNames.filter((k) => wasmBackend[k] !== jsBackend[k])) {
      for (const big of [false, true]) {
        it(`${kernel}, ${big ? 'over' : 'under'} the thread threshold`, () => {
          const js = runOn(jsBackend, kernel, big);
          const jobsBefore = jobsOnWorkers;
          const wasm = runOn(wasmBackend, kernel, big);
          // The threaded wasm loops split a big call over the worker (and a small one not at all).
          const threaded =
            big && (kernel === 'gemm' || kernel.includes('Sequence') || kernel === 'softmaxCrossEntropy');
          expect(jobsOnWorkers > jobsBefore, 'ran on a worker').toBe(threaded);
          const { agreement } = cases[kernel];
          expect(Object.keys(wasm.buffers)).toEqual(Object.keys(js.buffers));
          for (const name of Object.keys(js.buffers)) {
            // gruSequenceForward's hiddenGates is the JS loop's scratch; the wasm loop never touches it.
            if (kernel === 'gruSequenceForward' && name === 'hiddenGates') continue;
            expectAgree(wasm.buffers[name]!, js.buffers[name]!, agreement, `${kernel}.${name}`);
          }
          if (typeof js.result === 'number') {
            expect(Math.abs((wasm.result as number) - js.result)).toBeLessThanOrEqual(
              1e-5 * (1 + Math.abs(js.result)),
            );
          } else {
            expect(wasm.result).toBe(js.result);
          }
        });
      }
    }
  },
);

describe('the chooser', () => {
  const wasmLoops: readonly KernelName[] = [
    'gemm',
    'rnnSequenceForward',
    'rnnSequenceBackward',
    'lstmSequenceForward',
    'lstmSequenceBackward',
    'gruSequenceForward',
    'gruSequenceBackward',
    'softmaxCrossEntropy',
    'sumRows',
  ];

  it("defaults to 'auto', can be set and queried, and refuses an unknown choice", () => {
    expect(getBackend()).toBe('auto');
    for (const choice of ['js', 'wasm', 'auto'] as const) {
      setBackend(choice);
      expect(getBackend()).toBe(choice);
    }
    expect(() => setBackend('gpu' as 'js')).toThrow(RangeError);
    expect(getBackend()).toBe('auto');
  });

  it('kernels with no wasm loop are the same function on both backends, and always chosen on JS', () => {
    for (const kernel of kernelNames) {
      const hasWasm = wasmLoops.includes(kernel);
      expect(wasmBackend[kernel] === jsBackend[kernel], kernel).toBe(!hasWasm);
      setBackend('wasm');
      try {
        if (!hasWasm) expect(backendFor(kernel, 'float32', 1e9).name, kernel).toBe('js');
      } finally {
        setBackend('auto');
      }
    }
  });

  it.runIf(recurrentWasmAvailable())(
    "float64 runs JS whatever the choice; 'js' is JS; 'wasm' is wasm at any size; 'auto' by size",
    () => {
      try {
        for (const kernel of wasmLoops) {
          for (const choice of ['auto', 'js', 'wasm'] as const) {
            setBackend(choice);
            expect(backendFor(kernel, 'float64', 1e9).name, `${kernel} float64 ${choice}`).toBe('js');
          }
          setBackend('js');
          expect(backendFor(kernel, 'float32', 1e9).name).toBe('js');
          setBackend('wasm');
          // sumRows keeps a floor under both choices: its copies outweigh a small sum.
          expect(backendFor(kernel, 'float32', 300).name, kernel).toBe(kernel === 'sumRows' ? 'js' : 'wasm');
          setBackend('auto');
          expect(backendFor(kernel, 'float32', 100).name, kernel).toBe('js');
          expect(backendFor(kernel, 'float32', 1 << 20).name, kernel).toBe('wasm');
        }
      } finally {
        setBackend('auto');
      }
    },
  );

  it('the wasm backend called directly refuses float64 buffers by name, rather than misreading them', () => {
    const f64 = new Float64Array(16);
    expect(() => wasmBackend.gemm({ a: f64, b: f64, c: f64, m: 4, n: 4, k: 4 })).toThrow(
      /wasm gemm.*Float32Array/,
    );
    expect(() => wasmBackend.sumRows({ x: f64, rows: 4, width: 4, out: f64 })).toThrow(/wasm sumRows/);
  });

  it('float64 arguments through a front door run the JS loop even when wasm is chosen', async () => {
    const { gemm } = await import('./choose.js');
    const a = Float64Array.from({ length: 16 * 16 }, (_, i) => Math.sin(i) * 1e-9 + 1);
    const c = new Float64Array(16 * 16);
    setBackend('wasm');
    try {
      gemm({ a, b: a, c, m: 16, n: 16, k: 16 });
    } finally {
      setBackend('auto');
    }
    const expected = new Float64Array(16 * 16);
    jsBackend.gemm({ a, b: a, c: expected, m: 16, n: 16, k: 16 });
    expect(Array.from(c)).toEqual(Array.from(expected));
  });
});
