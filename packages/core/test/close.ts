// Elementwise closeness for tests: |got - want| ≤ atol + rtol·|want|, failing on the worst element.
import { expect } from 'vitest';
import type { Tensor } from '../src/index.js';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const F64: Tolerance = { atol: 1e-12, rtol: 1e-12 };
export const F32: Tolerance = { atol: 1e-5, rtol: 1e-5 };

/** Checks shape and every value, reporting the worst element so a failure says where and by how much. */
export function expectClose(
  got: Tensor,
  want: { shape: readonly number[]; values: ArrayLike<number> },
  { atol, rtol }: Tolerance,
  label = '',
): void {
  expect(got.shape, `${label} shape`).toEqual([...want.shape]);
  expect(got.size, `${label} size`).toBe(want.values.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < got.size; i++) {
    const g = got.data[i]!;
    const w = want.values[i]!;
    const excess = Number.isNaN(g) ? Infinity : Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${label} element ${worst}: got ${got.data[worst]}, want ${want.values[worst]} ` +
        `(atol ${atol}, rtol ${rtol})`,
    );
  }
}
