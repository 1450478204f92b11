// Forward mode over the whole op table: at every drawn input, each op's jvp agrees with its vjp (the
// transpose identity ⟨u, J·v⟩ = ⟨Jᵀu, v⟩) and with central differences. An op without a jvp check
// fails here (and, through Record<OpName, JvpCheck>, at compile time).
import { customOp, mul, type OpName, ops, sigmoid, sub, type Tensor, tensor } from '@tapegrad/core';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensors } from '../src/arbitraries.js';
import { checkJvp, JvpCheckError } from '../src/jvpcheck.js';
import { runProperty } from '../src/property.js';
import { jvpChecks, specs } from '../src/specs.js';

describe('jvp checks table', () => {
  it('has a jvp check for every op in core’s registry, and none for an op it does not have', () => {
    expect(Object.keys(ops).filter((name) => !(name in jvpChecks))).toEqual([]);
    expect(Object.keys(jvpChecks).filter((name) => !(name in ops))).toEqual([]);
  });

  for (const [name, spec] of Object.entries(specs)) {
    const check = jvpChecks[name as OpName];
    it(`${name}: jvp agrees with the vjp and with central differences at every drawn input`, () => {
      const result = runProperty(`jvp property of ${name}`, fc.tuple(spec.args, fc.nat()), ([args, seed]) =>
        checkJvp(spec.call, args, { ...spec.options, ...check, seed }),
      );
      expect(result.numRuns).toBeGreaterThan(0);
    });
  }
});

describe('checkJvp', () => {
  it('allows the absolute rounding of subnormal values (a witness the property once drew)', () => {
    // mul at 9e-323 and 7.4e-323: ⟨u, J·v⟩ came out -1e-323 by jvp and -2e-323 by the vjp, one
    // rounding of MIN_VALUE apart, which a relative tolerance alone refused.
    const args = [tensor([9e-323], { dtype: 'float64' }), tensor([7.4e-323], { dtype: 'float64' })];
    expect(() => checkJvp(mul as (...a: unknown[]) => Tensor, args, { seed: 2147483641 })).not.toThrow();
    // Still a check: values in the normal range that disagree are refused (a wrong rule, below).
  });

  // σ by hand, d σ = σ(1 - σ)·t; the broken ones below drop the (1 - σ) on one side or both.
  type Rule = (t: Tensor, y: Tensor) => Tensor;
  const sigmoidOp = (jvp: Rule, vjp: Rule) =>
    customOp<null>({
      name: 'checkedSigmoid',
      forward: ([x]) => ({ outputs: sigmoid(x!), residuals: null }),
      backward: ([g], _, [x]) => [vjp(g!, sigmoid(x!))],
      jvp: (_, [t], [y]) => [jvp(t!, y!)],
    });
  const right: Rule = (t, y) => mul(t, mul(y, sub(1, y)));
  const dropped: Rule = (t, y) => mul(t, y);
  const x = tensors({ shape: [3] });
  const failure = (f: (x: Tensor) => unknown, at: Tensor): unknown => {
    try {
      checkJvp(f as (...args: unknown[]) => Tensor, [at]);
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it('passes a right jvp at every drawn input', () => {
    fc.assert(fc.property(x, (at) => failure(sigmoidOp(right, right), at) === undefined));
  });

  it('names the transpose identity when the jvp and the vjp disagree', () => {
    const at = fc.sample(x, { seed: 1, numRuns: 1 })[0]!;
    const error = failure(sigmoidOp(dropped, right), at);
    expect(error).toBeInstanceOf(JvpCheckError);
    expect((error as JvpCheckError).judgement.verdict).toBe('transpose identity');
    expect((error as Error).message).toContain('the transpose identity fails');
  });

  it('catches a jvp and a vjp wrong the same way by central differences', () => {
    const at = fc.sample(x, { seed: 2, numRuns: 1 })[0]!;
    const error = failure(sigmoidOp(dropped, dropped), at);
    expect(error).toBeInstanceOf(JvpCheckError);
    expect((error as JvpCheckError).judgement.verdict).toBe('jvp vs central differences');
  });
});
