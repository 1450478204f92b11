// The whole op table under the property check; an op registered in core without a spec fails here
// (and, through Record<OpName, OpSpec>, at compile time).
import { ops } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { checkGradientsProperty } from '../src/property.js';
import { specs } from '../src/specs.js';

describe('specs table', () => {
  it('has a spec for every op in core’s registry, and none for an op it does not have', () => {
    expect(Object.keys(ops).filter((name) => !(name in specs))).toEqual([]);
    expect(Object.keys(specs).filter((name) => !(name in ops))).toEqual([]);
  });

  for (const [name, spec] of Object.entries(specs)) {
    it(`${name}: gradcheck holds at every drawn input`, () => {
      const result = checkGradientsProperty(spec.call, spec.args, spec.options);
      expect(result.numRuns).toBeGreaterThan(0);
    });
  }
});
