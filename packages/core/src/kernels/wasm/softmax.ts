// Softmax cross-entropy's rows on recurrent.wat's softmaxRows, float32, split over the threads by bands
// of rows when there are enough; the loss is summed here in float64 from each row's max and Σ e^(x - max).
import { Layout, residentOffset } from './module.js';
import { bands, runParallel, threadsAvailable } from './threads.js';

/** Values below which the rows stay on one thread. */
const PARALLEL_MIN_VALUES = 1 << 15;

/** As kernels/training.ts's softmaxCrossEntropy, for float32 logits. */
export function softmaxCrossEntropyWasm(
  x: Float32Array,
  rows: number,
  classes: number,
  targets: Int32Array,
  probabilities: Float32Array | null,
): number {
  const size = rows * classes;
  const parts = bands(rows, size >= PARALLEL_MIN_VALUES ? threadsAvailable() : 1, 1);
  const layout = new Layout(parts.length);
  const xResident = residentOffset(x);
  const xAt = xResident >= 0 ? xResident : layout.take(size);
  // Probabilities resident in wasm memory are written where they are, else here and copied out.
  const probsResident = probabilities ? residentOffset(probabilities) : -1;
  const probsAt = probsResident >= 0 ? probsResident : layout.take(size);
  const statsAt = layout.take(2 * rows);
  const { heap, kernels } = layout.heap();
  if (xResident < 0) heap.set(x.subarray(0, size), xAt);
  const jobs = parts.map(([lo, hi]) => ({
    kernel: 'softmaxRows' as const,
    args: [(xAt + lo * classes) * 4, (probsAt + lo * classes) * 4, (statsAt + 2 * lo) * 4, hi - lo, classes],
  }));
  runParallel(kernels, jobs);
  if (probabilities && probsResident < 0) probabilities.set(heap.subarray(probsAt, probsAt + size));
  let total = 0;
  for (let i = 0; i < rows; i++) {
    total += heap[statsAt + 2 * i]! + Math.log(heap[statsAt + 2 * i + 1]!) - x[i * classes + targets[i]!]!;
  }
  return total;
}
