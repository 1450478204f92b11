// Cross-entropy's softmax rows in wasm against the float64 JS loop: class counts with and without a
// vector tail, logits from ±1e4 to ties, rows holding NaN or ±Inf, and bands of rows over two threads
// giving the one-thread result exactly.
import { describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../../backend/choose.js';
import { residentFloat32 } from '../../memory/allocator.js';
import { RandomState } from '../../rng.js';
import { sharedModule, wasmAvailable } from './module.js';
import { softmaxCrossEntropyWasm } from './softmax.js';
import { setThreads, threadsReady } from './threads.js';

function problem(rows: number, classes: number, seed: number, scale = 3) {
  const rng = new RandomState(seed);
  const x = Float32Array.from(rng.randn(rows * classes).data, (v) => v * scale);
  const targets = Int32Array.from(rng.randint(0, classes, [rows]).data);
  return { x, targets };
}

/** The float64 JS loop on the same (float32) logits. */
function reference(x: Float32Array, rows: number, classes: number, targets: Int32Array) {
  const probabilities = new Float64Array(rows * classes);
  const loss = softmaxCrossEntropy({ x: Float64Array.from(x), rows, classes, targets, probabilities });
  return { loss, probabilities };
}

describe.runIf(wasmAvailable())('softmax cross-entropy rows in wasm', () => {
  // exp and the row's max run four vectors a turn, then one, then single floats: 64 classes are four
  // vectors a turn only, 7 a vector and floats, 23 and 37 all three kinds. Softmax does not change
  // when every logit moves by the same amount, so a wrong max shows only where it overflows exp:
  // logits × 1e4.
  for (const [rows, classes, scale] of [
    [50, 64, 3],
    [33, 7, 3],
    [20, 23, 3],
    [7, 37, 8],
    [9, 37, 1e4],
    [5, 3, 1e4],
    [9, 1, 1],
    [1600, 64, 10],
  ] as const) {
    it(`${rows} rows of ${classes} classes, logits × ${scale}: loss and probabilities`, () => {
      const { x, targets } = problem(rows, classes, rows + classes, scale);
      const probabilities = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWasm(x, rows, classes, targets, probabilities);
      const expected = reference(x, rows, classes, targets);
      expect(Math.abs(loss - expected.loss)).toBeLessThanOrEqual(1e-6 * (rows + Math.abs(expected.loss)));
      for (let i = 0; i < probabilities.length; i++) {
        const e = expected.probabilities[i]!;
        // float32's own rounding of x - max (about |ln p|·6e-8) and of exp (a few 1e-7), relative
        const tolerance = e > 0 ? 3e-7 * (1 + Math.abs(Math.log(e))) : 0;
        if (!(Math.abs(probabilities[i]! - e) <= tolerance * e + 1e-37)) {
          throw new Error(`probability ${i}: wasm ${probabilities[i]}, float64 ${e}`);
        }
      }
      // No probabilities asked for: the same loss.
      expect(softmaxCrossEntropyWasm(x, rows, classes, targets, null)).toBe(loss);
    });
  }

  // Six classes, and 21 with the same six at 9..14 among other logits: the row's max runs over four
  // vectors a turn with an accumulator each, so there the NaN and ±Inf land in the third.
  for (const [classes, at] of [
    [6, 0],
    [21, 9],
  ] as const) {
    it(`${classes} classes: a row with NaN or +Inf gives NaN there and nowhere else; -Inf logits get probability 0`, () => {
      const row = (six: number[]) => Array.from({ length: classes }, (_, k) => six[k - at] ?? 0.25 * k);
      const x = Float32Array.from([
        ...row([1, 2, Number.NaN, 0, 1, 5]),
        ...row([1, Number.POSITIVE_INFINITY, 0, 0, 0, 0]),
        ...row([0, Number.NEGATIVE_INFINITY, 1, 2, 3, 1]),
        ...row([3, 3, 3, 3, 3, 3]),
      ]);
      const targets = Int32Array.from([0, 1, 2, 3]);
      const probabilities = new Float32Array(x.length);
      expect(softmaxCrossEntropyWasm(x, 4, classes, targets, probabilities)).toBeNaN();
      const expected = reference(x, 4, classes, targets);
      for (let i = 0; i < x.length; i++) {
        const e = expected.probabilities[i]!;
        if (Number.isNaN(e)) expect(probabilities[i], `probability ${i}`).toBeNaN();
        else expect(Math.abs(probabilities[i]! - e), `probability ${i}`).toBeLessThan(1e-6);
      }
      expect(probabilities[2 * classes + at + 1]).toBe(0);
      // Without the NaN rows the loss is finite and as the float64 loop's.
      const rest = x.subarray(2 * classes);
      const loss = softmaxCrossEntropyWasm(rest, 2, classes, targets.subarray(2), null);
      expect(loss).toBeCloseTo(reference(Float32Array.from(rest), 2, classes, targets.subarray(2)).loss, 5);
    });
  }

  it.runIf(sharedModule() !== null)(
    'logits and probabilities resident in wasm memory are used in place, with the copied result',
    () => {
      const [rows, classes] = [40, 9];
      const { x, targets } = problem(rows, classes, 5);
      const probabilities = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWasm(x, rows, classes, targets, probabilities);
      const residentX = residentFloat32(x.length)!;
      const residentP = residentFloat32(x.length)!;
      residentX.set(x);
      expect(softmaxCrossEntropyWasm(residentX, rows, classes, targets, residentP)).toBe(loss);
      expect(Array.from(residentP)).toEqual(Array.from(probabilities));
      expect(Array.from(residentX)).toEqual(Array.from(x));
    },
  );

  it.runIf(sharedModule() !== null)(
    'bands of rows on two threads give the one-thread result exactly',
    async () => {
      const [rows, classes] = [1600, 64];
      const { x, targets } = problem(rows, classes, 4);
      const run = () => {
        const probabilities = new Float32Array(rows * classes);
        return { loss: softmaxCrossEntropyWasm(x, rows, classes, targets, probabilities), probabilities };
      };
      setThreads(1);
      const one = run();
      setThreads(2);
      await threadsReady();
      const two = run();
      setThreads(1);
      expect(two.loss).toBe(one.loss);
      expect(Array.from(two.probabilities)).toEqual(Array.from(one.probabilities));
    },
  );
});
