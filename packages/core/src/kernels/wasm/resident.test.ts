// Resident buffers: float32 arrays that live in the kernels' shared wasm memory. The allocator's
// regions (reuse, merging, giving the top back), and kernels that read and write them in place agreeing
// exactly with the same kernels on ordinary arrays.
import { describe, expect, it } from 'vitest';
import { lstmSequenceBackward, lstmSequenceForward } from '../../backend/choose.js';
import { releaseResident, residentFloat32 } from '../../memory/allocator.js';
import { callArena } from '../../memory/arena.js';
import { RandomState } from '../../rng.js';
import { gemmJs } from '../matmul.js';
import { residentOffset, residentState, sharedModule } from './module.js';
import { gemmWasm } from './sgemm.js';

const random = (rng: RandomState, n: number) => Float32Array.from(rng.randn(n).data);

describe.runIf(sharedModule() !== null)('resident buffers', () => {
  it('are zero-filled views of wasm memory; freed regions are reused, merged and the top given back', () => {
    const start = residentState();
    const a = residentFloat32(100)!;
    const b = residentFloat32(40)!;
    expect(residentOffset(a)).toBeGreaterThanOrEqual(0);
    expect(residentOffset(b.subarray(8))).toBe(residentOffset(b) + 8);
    expect(Array.from(a).every((v) => v === 0)).toBe(true);
    a.fill(3);
    releaseResident(a);
    // The freed 112 floats (100 rounded up to 16s) take a smaller array first, zero-filled again.
    const c = residentFloat32(30)!;
    expect(residentOffset(c)).toBe(residentOffset(a));
    expect(Array.from(c).every((v) => v === 0)).toBe(true);
    releaseResident(c);
    releaseResident(b);
    expect(residentState()).toEqual(start);
  });

  it('ordinary arrays and float64 are not resident; an arena gives resident float32', () => {
    expect(residentOffset(new Float32Array(8))).toBe(-1);
    callArena('resident test', (arena) => {
      expect(residentOffset(arena.take('float64', 8))).toBe(-1);
      expect(residentOffset(arena.take('float32', 8))).toBeGreaterThanOrEqual(0);
    });
  });

  it('gemm reads resident operands and writes a resident C in place, as with copies', () => {
    const rng = new RandomState(1);
    const [m, n, k] = [37, 45, 29];
    const a = random(rng, m * k + 5);
    const b = random(rng, k * n);
    const c0 = random(rng, m * n + 7);
    const spec = { m, n, k, transA: true, aOffset: 5, cOffset: 7, accumulate: true };
    const expected = c0.slice();
    gemmWasm(a, b, expected, spec);
    const [ra, rc] = [residentFloat32(a.length)!, residentFloat32(c0.length)!];
    ra.set(a);
    rc.set(c0);
    gemmWasm(ra, b, rc, spec);
    expect(Array.from(rc)).toEqual(Array.from(expected));
    releaseResident(ra);
    releaseResident(rc);
  });

  it('without accumulate, gemm writes C without reading it: a resident C full of NaN becomes A·B', () => {
    const rng = new RandomState(3);
    // Edge tiles on both axes and two k-blocks (KC = 256), then the empty sum k = 0.
    for (const [m, n, k] of [
      [37, 45, 300],
      [5, 3, 7],
      [6, 10, 0],
    ] as const) {
      const a = random(rng, m * k);
      const b = random(rng, k * n);
      const expected = new Float32Array(m * n);
      gemmWasm(a, b, expected, { m, n, k, transB: true });
      // That product itself against the float64 loop (the matmul tests cover it against numpy too).
      const reference = new Float64Array(m * n);
      gemmJs(Float64Array.from(a), Float64Array.from(b), reference, { m, n, k, transB: true });
      const worst = Math.max(0, ...Array.from(expected, (v, i) => Math.abs(v - reference[i]!)));
      expect(worst).toBeLessThan(1e-4 * (1 + k));
      const rc = residentFloat32(m * n)!;
      rc.fill(Number.NaN);
      gemmWasm(a, b, rc, { m, n, k, transB: true });
      expect(Array.from(rc)).toEqual(Array.from(expected));
      if (k === 0) expect(Array.from(rc).every((v) => v === 0)).toBe(true);
      releaseResident(rc);
    }
  });

  it('the LSTM sequence loops on resident saved activations and scratch, as with copies', () => {
    const dims = { steps: 3, batch: 6, hidden: 8 };
    const rows = dims.steps * dims.batch;
    const width = 4 * dims.hidden;
    const rng = new RandomState(2);
    const gates0 = random(rng, rows * width);
    const weightHh = random(rng, width * dims.hidden);
    const [biasIh, biasHh] = [random(rng, width), random(rng, width)];
    const [h0, c0] = [random(rng, dims.batch * dims.hidden), random(rng, dims.batch * dims.hidden)];
    const gradOutput = random(rng, rows * dims.hidden);
    const run = (make: (n: number) => Float32Array) => {
      const [gates, cells, tanhCells, dGates] = [
        make(rows * width),
        make(rows * dims.hidden),
        make(rows * dims.hidden),
        make(rows * width),
      ];
      gates.set(gates0);
      const output = new Float32Array(rows * dims.hidden);
      lstmSequenceForward({ gates, weightHh, biasIh, biasHh, h0, c0, output, cells, tanhCells, ...dims });
      const [dh, dc, dBias] = [make(dims.batch * dims.hidden), make(dims.batch * dims.hidden), make(width)];
      lstmSequenceBackward({
        gradOutput,
        gates,
        c0,
        cells,
        tanhCells,
        weightHh,
        dGates,
        dh,
        dc,
        dBias,
        ...dims,
      });
      return { gates, cells, tanhCells, output, dGates, dh, dc, dBias };
    };
    const held: Float32Array[] = [];
    const resident = run((n) => {
      const view = residentFloat32(n)!;
      held.push(view);
      return view;
    });
    const copied = run((n) => new Float32Array(n));
    for (const [name, values] of Object.entries(copied)) {
      expect(Array.from(resident[name as keyof typeof resident]), name).toEqual(Array.from(values));
    }
    for (const view of held) releaseResident(view);
  });
});
