// Shared by nn's tests: compare a tensor with nested reference values (numpy fixtures) elementwise.
import { readFileSync } from 'node:fs';
import type { NestedArray, Tensor } from '@tapegrad/core';
import { expect } from 'vitest';

/** Every element within atol + rtol·|expected|, with the first offending index named. */
export function expectClose(
  actual: Tensor,
  expected: NestedArray,
  tol: { atol?: number; rtol?: number } = {},
): void {
  const atol = tol.atol ?? 1e-12;
  const rtol = tol.rtol ?? 1e-10;
  const flat = [expected].flat(Infinity as 1) as number[];
  expect(actual.size).toBe(flat.length);
  let worst = -1;
  let worstExcess = 0;
  flat.forEach((e, i) => {
    const excess = Math.abs(actual.data[i]! - e) - (atol + rtol * Math.abs(e));
    if (excess > worstExcess || Number.isNaN(actual.data[i])) {
      worst = i;
      worstExcess = excess;
    }
  });
  if (worst >= 0) {
    throw new Error(
      `element ${worst}: got ${actual.data[worst]}, expected ${flat[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** A JSON fixture from packages/nn/test/fixtures. */
export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
}
