// broadcastInto's row fast path (a bias over rows), which fills out by copying the rows written so far
// after themselves: every row count (none too), powers of two and not, against the value-by-value
// definition.
import { describe, expect, it } from 'vitest';
import { broadcastInto } from './elementwise.js';

describe('broadcastInto', () => {
  it('repeats a trailing row over any number of rows', () => {
    const row = Float32Array.from([1.5, -2, 3, 0.25, 7]);
    for (let rows = 1; rows <= 19; rows++) {
      const out = new Float32Array(rows * row.length).fill(Number.NaN);
      broadcastInto(row, [5], out, [rows, 5]);
      const want = Array.from({ length: rows * 5 }, (_, i) => row[i % 5]!);
      expect(Array.from(out), `${rows} rows`).toEqual(want);
    }
  });

  it('repeats a trailing block over leading axes, and leaves a same-size input as a copy', () => {
    const block = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const out = new Float64Array(3 * 2 * 2 * 3);
    broadcastInto(block, [2, 3], out, [3, 2, 2, 3]);
    expect(Array.from(out)).toEqual(Array.from({ length: 36 }, (_, i) => block[i % 6]!));
    const same = new Float64Array(6);
    broadcastInto(block, [2, 3], same, [2, 3]);
    expect(Array.from(same)).toEqual(Array.from(block));
  });

  it('fills nothing over zero rows', () => {
    expect(broadcastInto(Float32Array.from([1, 2]), [2], new Float32Array(0), [0, 2]).length).toBe(0);
  });
});
