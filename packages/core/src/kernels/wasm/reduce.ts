// Column sums of a float32 [rows, width] (a bias grad: the leading axes summed away) on recurrent.wat's
// sumRows, 4 columns at a time. Rows are added in order, each sum rounded to float32, as the JS loop
// does, so the sums are the same to the bit.
import { Layout, residentOffset } from './module.js';

export function sumRowsWasm(x: Float32Array, rows: number, width: number, out: Float32Array): void {
  const layout = new Layout();
  const resident = residentOffset(x);
  const xAt = resident >= 0 ? resident : layout.take(rows * width);
  const outAt = layout.take(width);
  const { heap, kernels } = layout.heap();
  if (resident < 0) heap.set(x.subarray(0, rows * width), xAt);
  kernels.sumRows(xAt * 4, outAt * 4, rows, width);
  out.set(heap.subarray(outAt, outAt + width));
}
