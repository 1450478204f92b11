// gemm's two backends, each run explicitly: against numpy (test/fixtures/gemm.json, from
// scripts/fixtures/gemm.py), then the wasm kernel against the float64 JS loop over many shapes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gemm as chosenGemm, getBackend, setBackend } from '../backend/choose.js';
import type { TypedArray } from '../dtype.js';
import { type Gemm, gemmJs } from './matmul.js';
import { gemmWasm, wasmAvailable } from './wasm/sgemm.js';

interface Case {
  m: number;
  n: number;
  k: number;
  a: number[];
  b: number[];
  c: number[];
  product: number[];
  accumulated: number[];
}
const { cases } = JSON.parse(
  readFileSync(new URL('../../test/fixtures/gemm.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

type Backend = (a: Float32Array, b: Float32Array, c: Float32Array, spec: Gemm) => void;
const backends: [string, Backend][] = [
  ['js', gemmJs],
  ['wasm', gemmWasm],
];
const flags = [false, true];
/** gemm through the chooser, named arguments. */
const gemm = (a: TypedArray, b: TypedArray, c: TypedArray, spec: Gemm): void =>
  chosenGemm({ a, b, c, ...spec });

/** The [rows, cols] row-major matrix laid out transposed, as a caller with a trans flag stores it. */
function transpose(values: ArrayLike<number>, rows: number, cols: number): number[] {
  const out = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j]!;
  return out;
}

/** `values` placed after `offset` junk entries and followed by `tail` more, to test offsets. */
function padded<T extends TypedArray>(
  make: (n: number) => T,
  values: ArrayLike<number>,
  offset: number,
  tail = 3,
): T {
  const out = make(offset + values.length + tail);
  out.fill(-7);
  out.set(values, offset);
  return out;
}
const f32 = (n: number) => new Float32Array(n);
const f64 = (n: number) => new Float64Array(n);

/** Runs gemm with every layout option: stored transposes, offsets, accumulate. */
function run<T extends TypedArray>(
  kernel: (a: T, b: T, c: T, spec: Gemm) => void,
  make: (n: number) => T,
  { m, n, k, a, b, c }: Pick<Case, 'm' | 'n' | 'k' | 'a' | 'b' | 'c'>,
  transA: boolean,
  transB: boolean,
  accumulate: boolean,
): T {
  const storedA = padded(make, transA ? transpose(a, m, k) : a, 5);
  const storedB = padded(make, transB ? transpose(b, k, n) : b, 2);
  const out = padded(make, accumulate ? c : new Array(m * n).fill(123), 3);
  kernel(storedA, storedB, out, { m, n, k, transA, transB, accumulate, aOffset: 5, bOffset: 2, cOffset: 3 });
  // The junk around C must be untouched.
  expect([...out.subarray(0, 3), ...out.subarray(3 + m * n)]).toEqual([-7, -7, -7, -7, -7, -7]);
  return out.subarray(3, 3 + m * n) as T;
}

/** |got − want| within float32 rounding of a k-term dot product, elementwise (γ_(k+1) bound, doubled). */
function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  magnitude: ArrayLike<number>,
  k: number,
) {
  expect(got.length).toBe(want.length);
  const u = 2 ** -23;
  for (let i = 0; i < want.length; i++) {
    const tol = (k + 2) * u * magnitude[i]! + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
      expect.fail(`element ${i}: got ${got[i]}, want ${want[i]} (tolerance ${tol.toExponential(2)})`);
    }
  }
}

/** Σ_p |A(i,p)|·|B(p,j)| (+ |C(i,j)|): the scale of rounding error in C(i,j). */
function magnitudes(
  { m, n, k, a, b, c }: Pick<Case, 'm' | 'n' | 'k' | 'a' | 'b' | 'c'>,
  accumulate: boolean,
) {
  const out = accumulate ? Float64Array.from(c, Math.abs) : new Float64Array(m * n);
  gemmJs(Float64Array.from(a, Math.abs), Float64Array.from(b, Math.abs), out, { m, n, k, accumulate });
  return out;
}

describe('gemm against numpy', () => {
  for (const testCase of cases) {
    const { m, n, k } = testCase;
    for (const transA of flags) {
      for (const transB of flags) {
        for (const accumulate of flags) {
          const label = `${m}×${n}×${k}${transA ? ' transA' : ''}${transB ? ' transB' : ''}${accumulate ? ' accumulate' : ''}`;
          const want = accumulate ? testCase.accumulated : testCase.product;
          it(`js float64 ${label}`, () => {
            const got = run(gemmJs, f64, testCase, transA, transB, accumulate);
            expect([...got]).toEqual(want.map((x) => expect.closeTo(x, 12)));
          });
          for (const [name, kernel] of backends) {
            it(`${name} float32 ${label}`, () => {
              const got = run(kernel, f32, testCase, transA, transB, accumulate);
              expectClose(got, want, magnitudes(testCase, accumulate), k);
            });
          }
        }
      }
    }
  }
});

/** Deterministic values in [-1, 1), exactly representable in float32. */
function values(count: number, seed: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.fround(Math.sin(seed * 7.31 + i * 1.618) * 0.999));
}

describe('wasm backend against the float64 JS loop', () => {
  it('loads in this runtime', () => expect(wasmAvailable()).toBe(true));

  // Every small shape around the 4×8 micro-tile (and zero sizes), then shapes around the 64-row
  // A block and the 256-deep k-block.
  const small = [0, 1, 3, 4, 5, 7, 8, 9, 17];
  const shapes: [number, number, number][] = small.flatMap((m) =>
    small.flatMap((n) => small.map((k): [number, number, number] => [m, n, k])),
  );
  shapes.push(
    [63, 9, 255],
    [64, 8, 256],
    [65, 17, 257],
    [131, 40, 520],
    [5, 7, 520],
    [131, 1, 3],
    [1, 40, 257],
  );
  for (const transA of flags) {
    for (const transB of flags) {
      it(`${shapes.length} shapes m×n×k, transA ${transA}, transB ${transB}, with and without accumulate`, () => {
        let seed = 0;
        for (const [m, n, k] of shapes) {
          const problem = {
            m,
            n,
            k,
            a: values(m * k, ++seed),
            b: values(k * n, ++seed),
            c: values(m * n, ++seed),
          };
          for (const accumulate of flags) {
            const want = run(gemmJs, f64, problem, transA, transB, accumulate);
            const scale = magnitudes(problem, accumulate);
            for (const [, kernel] of backends)
              expectClose(run(kernel, f32, problem, transA, transB, accumulate), want, scale, k);
          }
        }
      });
    }
  }
});

describe('gemm dispatch', () => {
  const testCase = cases.find((c) => c.m === 13)!;

  it('defaults to auto and can be pinned to either backend', () => {
    expect(getBackend()).toBe('auto');
    for (const choice of ['js', 'wasm', 'auto'] as const) {
      setBackend(choice);
      expect(getBackend()).toBe(choice);
      expectClose(
        run(gemm, f32, testCase, true, false, true),
        testCase.accumulated,
        magnitudes(testCase, true),
        6,
      );
    }
  });

  it('keeps float64 on the JS loop even when wasm is chosen', () => {
    setBackend('wasm');
    try {
      // A float32 kernel would be ~1e-7 off; float64 agrees with numpy to 1e-12.
      const got = run(gemm, f64, testCase, false, true, false);
      expect([...got]).toEqual(testCase.product.map((x) => expect.closeTo(x, 12)));
    } finally {
      setBackend('auto');
    }
  });
});
