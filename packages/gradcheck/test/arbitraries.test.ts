// The arbitraries keep their promises: shape bounds, shapes that broadcast, values in range and a
// margin away from kinks and from each other.
import { broadcastShapes, type Tensor } from '@tapegrad/core';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  broadcastableShapes,
  defaultMargin,
  fromPool,
  masks,
  seededTensors,
  shapes,
  tensors,
} from '../src/arbitraries.js';

const holds = <T>(arb: fc.Arbitrary<T>, check: (value: T) => void): void =>
  fc.assert(
    fc.property(arb, (v) => {
      check(v);
    }),
    { numRuns: 200 },
  );

describe('arbitraries', () => {
  it('shapes stay within rank and size bounds', () => {
    holds(shapes({ minRank: 1, maxRank: 2, maxDim: 4 }), (s) => {
      expect(s.length).toBeGreaterThanOrEqual(1);
      expect(s.length).toBeLessThanOrEqual(2);
      for (const d of s) expect(d >= 1 && d <= 4).toBe(true);
    });
  });

  it('broadcastableShapes broadcast together, and sometimes differ', () => {
    const seen = new Set<string>();
    holds(broadcastableShapes(3), (list) => {
      expect(list).toHaveLength(3);
      expect(() => broadcastShapes('test', ...list)).not.toThrow();
      seen.add(list.map((s) => s.join('x')).join('|'));
    });
    expect(seen.size).toBeGreaterThan(20);
  });

  it('tensors keep min, max, shape and dtype, and stay a margin from avoided points', () => {
    holds(tensors({ shape: [2, 3], min: -1, max: 1, avoid: [0, 0.5], dtype: 'float32' }), (t) => {
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe('float32');
      for (const v of t.data) {
        expect(v >= -1 && v <= 1).toBe(true);
        expect(Math.abs(v) > defaultMargin * 0.99 && Math.abs(v - 0.5) > defaultMargin * 0.99).toBe(true);
      }
    });
  });

  it('distinct tensors have no two values within the margin (no ties for max and min)', () => {
    holds(tensors({ distinct: true }), (t) => {
      const sorted = Array.from(t.data).sort((a, b) => a - b);
      sorted.forEach((v, i) => {
        if (i > 0) expect(v - sorted[i - 1]!).toBeGreaterThan(defaultMargin);
      });
    });
  });

  it('masks hold only 0 and 1', () => {
    holds(masks(), (m) => {
      for (const v of m.data) expect(v === 0 || v === 1).toBe(true);
    });
  });

  it('fromPool crops: a smaller shape keeps each value where it was', () => {
    const pool = [1, 2, 3, 4, 5, 6];
    expect(fromPool(pool, [2, 3], 'float64', [2, 3]).toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(fromPool(pool, [2, 2], 'float64', [2, 3]).toArray()).toEqual([
      [1, 2],
      [4, 5],
    ]);
    expect(fromPool(pool, [2], 'float64', [2, 3]).toArray()).toEqual([1, 2]);
  });

  it('seededTensors draws the listed shapes, the same values for the same seed', () => {
    holds(seededTensors(fc.constant([[2], [1, 3]]), { min: -1, max: 1 }), (ts: Tensor[]) => {
      expect(ts.map((t) => t.shape)).toEqual([[2], [1, 3]]);
      for (const t of ts) for (const v of t.data) expect(v >= -1 && v < 1).toBe(true);
    });
    const [a] = fc.sample(seededTensors(fc.constant([[3]])), { seed: 5, numRuns: 1 });
    const [b] = fc.sample(seededTensors(fc.constant([[3]])), { seed: 5, numRuns: 1 });
    expect(a![0]!.toArray()).toEqual(b![0]!.toArray());
  });
});
