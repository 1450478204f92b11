// The byte limit on one tensor buffer (issue 19): a buffer past MAX_BUFFER_BYTES is refused with an
// error naming the op, the shape, the dtype and the bytes, before anything is allocated; sizes under it
// work as before.
import { afterEach, describe, expect, it } from 'vitest';
import {
  add,
  arange,
  broadcastTo,
  eye,
  full,
  indexSelect,
  MAX_BUFFER_BYTES,
  matmul,
  ones,
  RandomState,
  ShapeError,
  sum,
  tensor,
  where,
  zeros,
} from '../src/index.js';
import { allocate, backwardScratch } from '../src/kernels.js';
import { checkBytes } from '../src/shape.js';

// Counts the typed arrays of 1 MiB or more made while installed, by wrapping the global constructors
// (which the library's code looks up at each call), so a test can show that a refusal allocated nothing.
const real = { Float32Array: globalThis.Float32Array, Float64Array: globalThis.Float64Array };
let large = 0;
function countLargeAllocations(): void {
  for (const name of ['Float32Array', 'Float64Array'] as const) {
    const ctor = real[name];
    (globalThis as Record<string, unknown>)[name] = new Proxy(ctor, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number' && args[0] * ctor.BYTES_PER_ELEMENT >= 2 ** 20) large++;
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
}
afterEach(() => {
  Object.assign(globalThis, real);
  large = 0;
});

describe('MAX_BUFFER_BYTES', () => {
  it('is 2 GiB, and checkBytes takes exactly up to it', () => {
    expect(MAX_BUFFER_BYTES).toBe(2 ** 31);
    expect(() => checkBytes('op', [2 ** 28], 'float64')).not.toThrow();
    expect(() => checkBytes('op', [2 ** 29], 'float32')).not.toThrow();
    expect(() => checkBytes('op', [2 ** 28 + 1], 'float64')).toThrow(ShapeError);
    expect(() => checkBytes('op', [2 ** 29 + 1], 'float32')).toThrow(ShapeError);
    expect(() => checkBytes('op', [0, 1e300, 1e300], 'float64')).not.toThrow(); // no values at all
    expect(() => checkBytes('op', [1e300, 1e300], 'float64')).toThrow(/needs Infinity bytes/);
  });

  it("zeros([2**31], float64): a ShapeError (a RangeError) naming 'zeros', the shape, the dtype and the bytes", () => {
    countLargeAllocations();
    let error: unknown;
    try {
      zeros([2 ** 31], { dtype: 'float64' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ShapeError);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      'zeros: shape [2147483648] of float64 needs 17179869184 bytes (16 GiB), more than the ' +
        '2147483648 bytes (2 GiB) one tensor buffer may take (MAX_BUFFER_BYTES)',
    );
    expect(large).toBe(0);
  });

  it('every factory and op that makes a buffer from a shape refuses one past the limit, allocating nothing', () => {
    const small = tensor(new Float32Array(2 ** 10), { shape: [1, 2 ** 10] });
    const wide = tensor(new Float32Array(2 ** 20), { shape: [1, 2 ** 20] });
    const column = tensor(new Float32Array(2 ** 16), { shape: [2 ** 16, 1] });
    const row = tensor(new Float32Array(2 ** 16), { shape: [1, 2 ** 16] });
    countLargeAllocations();
    const cases: [string, () => unknown, RegExp][] = [
      ['ones', () => ones([2 ** 29 + 1]), /^ones: shape \[536870913\] of float32 needs 2147483652 bytes/],
      [
        'full',
        () => full([2 ** 15, 2 ** 15], 1, { dtype: 'float64' }),
        /^full: shape \[32768,32768\] of float64/,
      ],
      ['tensor', () => tensor([1], { shape: [2 ** 31] }), /^tensor: shape \[2147483648\] of float32/],
      ['arange', () => arange(2 ** 29 + 1), /^arange: shape \[536870913\] of float32/],
      ['eye', () => eye(2 ** 15, 2 ** 15, { dtype: 'float64' }), /^eye: shape \[32768,32768\] of float64/],
      ['add (broadcast)', () => add(column, row), /^add: shape \[65536,65536\] of float32 needs 17179869184/],
      ['where', () => where(column, column, row), /^where: shape \[65536,65536\] of float32/],
      ['matmul (outer)', () => matmul(column, row), /^matmul: shape \[65536,65536\] of float32/],
      ['broadcastTo', () => broadcastTo(small, [2 ** 20, 2 ** 10]), /^broadcastTo: shape \[1048576,1024\]/],
      [
        'indexSelect',
        () => indexSelect(wide, 0, new Array(2 ** 11).fill(0)),
        /^indexSelect: shape \[2048,1048576\] of float32/,
      ],
      [
        'RandomState.randn',
        () => new RandomState(0).randn(2 ** 15, 2 ** 15),
        /^RandomState\.randn: shape \[32768,32768\] of float64/,
      ],
      [
        'RandomState.permutation',
        () => new RandomState(0).permutation(2 ** 29),
        /^RandomState\.permutation: shape \[536870912\] of float64/,
      ],
      [
        'allocate',
        () => allocate('float64', 2 ** 31),
        /^allocate: 2147483648 float64 values need 17179869184/,
      ],
      [
        'backwardScratch',
        () => backwardScratch('float32', 2 ** 30),
        /^backwardScratch: shape \[1073741824\]/,
      ],
    ];
    for (const [label, run, message] of cases) {
      expect(run, label).toThrow(RangeError);
      expect(run, label).toThrow(message);
      expect(run, label).toThrow(/one tensor buffer may take \(MAX_BUFFER_BYTES\)$/);
    }
    expect(large).toBe(0);
  });

  it('sizes under the limit work as before', () => {
    const z = zeros([1000, 1000], { dtype: 'float64' });
    expect(z.size).toBe(1e6);
    expect(sum(add(z, 1)).item()).toBe(1e6);
    expect(allocate('float32', 2 ** 20).length).toBe(2 ** 20);
    const outer = matmul(ones([512, 1]), ones([1, 512]));
    expect(outer.shape).toEqual([512, 512]);
    expect(new RandomState(1).randn(3, 4).shape).toEqual([3, 4]);
  });
});
