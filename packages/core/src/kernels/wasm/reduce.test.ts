// A float32 bias grad (sumToShape over leading axes) on wasm's sumRows against the JS loop: the same
// rows added in the same order, so the sums agree to the bit, NaN, ±Inf and -0 included.
import { afterEach, describe, expect, it } from 'vitest';
import { setBackend } from '../../backend/choose.js';
import { residentFloat32 } from '../../memory/allocator.js';
import { RandomState } from '../../rng.js';
import { sumToShape } from '../reduce.js';
import { recurrentWasmAvailable, sharedModule } from './module.js';

afterEach(() => setBackend('auto'));

function sums(x: Float32Array, shape: number[], backend: 'js' | 'wasm'): Float32Array {
  setBackend(backend);
  const out = new Float32Array(shape[shape.length - 1]!).fill(Number.NaN);
  sumToShape(x, shape, [shape[shape.length - 1]!], out);
  return out;
}

function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]))
      throw new Error(`column ${i}: ${actual[i]} against ${expected[i]}`);
  }
}

describe.runIf(recurrentWasmAvailable())('bias grads summed in wasm', () => {
  // Values of mixed magnitude, so that float32 rounding depends on the order of the adds.
  const values = (n: number, seed: number) => {
    const rng = new RandomState(seed);
    return Float32Array.from(rng.randn(n).data, (v, i) => v * 10 ** ((i % 7) - 3));
  };

  for (const shape of [
    [1600, 64],
    [50, 32, 128],
    [4096, 4],
    [1024, 6],
  ]) {
    it(`[${shape.join(', ')}] to [${shape.at(-1)}]: the JS loop's sums to the bit`, () => {
      const x = values(
        shape.reduce((a, b) => a * b),
        shape.length,
      );
      expectSameBits(sums(x, shape, 'wasm'), sums(x, shape, 'js'));
    });
  }

  it('NaN, ±Inf and -0 come out as in the JS loop', () => {
    const x = values(1024 * 8, 5);
    // column 0 all -0; column 1 one NaN; column 2 +Inf and -Inf; column 3 +Inf
    for (let r = 0; r < 1024; r++) x[r * 8] = -0;
    x[9] = Number.NaN;
    x[2] = Number.POSITIVE_INFINITY;
    x[8 * 500 + 2] = Number.NEGATIVE_INFINITY;
    x[3] = Number.POSITIVE_INFINITY;
    const wasm = sums(x, [1024, 8], 'wasm');
    expectSameBits(wasm, sums(x, [1024, 8], 'js'));
    expect([Object.is(wasm[0], 0), Number.isNaN(wasm[1]), Number.isNaN(wasm[2]), wasm[3]]).toEqual([
      true,
      true,
      true,
      Number.POSITIVE_INFINITY,
    ]);
  });

  // Resident buffers need a shared memory (not every runtime that has the wasm kernels has one).
  it.runIf(sharedModule() !== null)('reads a resident x in place', () => {
    const x = residentFloat32(2048 * 4)!;
    x.set(values(2048 * 4, 9));
    expectSameBits(sums(x, [2048, 4], 'wasm'), sums(x, [2048, 4], 'js'));
  });
});
