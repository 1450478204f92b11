// checkOverrideAt's verdict for each way the three oracles can split.
import { customOp, exp, mul, type Tensor, tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { checkOverrideAt } from '../src/override.js';

const x = tensor([0.3, -0.8], { dtype: 'float64' });

/** exp as a customOp with the given backward and reference. */
const expOp = (backward: (g: Tensor, y: Tensor) => Tensor, reference: (x: Tensor) => Tensor) =>
  customOp<Tensor>({
    name: 'myExp',
    forward: ([a]) => ({ outputs: exp(a!), residuals: exp(a!) }),
    backward: ([g], y) => [backward(g!, y)],
    reference: (a) => reference(a!),
  });

// A core-op stand-in whose vjp is wrong: exp with d = g (instead of g·eˣ).
const expWrongVjp = customOp<null>({
  name: 'expWrongVjp',
  forward: ([a]) => ({ outputs: exp(a!), residuals: null }),
  backward: ([g]) => [g!],
});

describe('checkOverrideAt', () => {
  it('all three agree for a correct op', () => {
    const report = checkOverrideAt(
      expOp((g, y) => mul(g, y), exp),
      [x],
    );
    expect(report).toMatchObject({
      ok: true,
      verdict: 'all three oracles agree',
      forward: [],
      handVsTape: [],
    });
  });

  it('blames the hand-written backward when the tape and finite differences agree against it', () => {
    const report = checkOverrideAt(
      expOp((g) => g, exp),
      [x],
    );
    expect(report.verdict).toMatch(/^the hand-written backward is wrong/);
    expect(report.handVsTape[0]).toMatch(
      /^d output 0\[0\] \/ d input 0\[0\]: hand-written 1, tape 1\.349858/,
    );
  });

  it('blames the tape of reference when the hand-written backward agrees with finite differences', () => {
    const report = checkOverrideAt(
      expOp(
        (g, y) => mul(g, y),
        (a) => expWrongVjp(a) as Tensor,
      ),
      [x],
    );
    expect(report.verdict).toMatch(/^the tape gradient of reference is wrong/);
    expect(report.handVsNumeric.ok).toBe(true);
  });

  it('refuses to compare gradients when op and reference compute different things', () => {
    const report = checkOverrideAt(
      expOp(
        (g, y) => mul(g, y),
        (a) => mul(exp(a), 2),
      ),
      [x],
    );
    expect(report.ok).toBe(false);
    expect(report.verdict).toMatch(/^the forward of the op and of its reference disagree/);
    expect(report.forward[0]).toMatch(/^output 0 \[0\]: op 1\.349858\S*, reference 2\.699717/);
  });
});
