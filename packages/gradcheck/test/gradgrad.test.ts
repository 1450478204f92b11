// gradgradcheck (torch's semantics) shown passing and failing, and the second-order property over every
// op of core's registry: the spec table's `gradgrad` field is required, so an op without one does not
// compile, and each op's second derivative is held to central differences of its first.
import { customOp, mul, noGrad, ops, type Tensor, tanh, tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { gradcheck } from '../src/gradcheck.js';
import { gradgradcheck } from '../src/gradgradcheck.js';
import { checkGradgradProperty, defaultNumRuns } from '../src/property.js';
import { specs } from '../src/specs.js';

const f64 = (values: number[]) => tensor(values, { dtype: 'float64' });

/** x² with a backward in core ops, declared differentiable; `cut` detaches x in it (a second-order bug). */
const squareWith = (cut: boolean) =>
  customOp<null>({
    name: cut ? 'squareCut' : 'square',
    forward: ([x]) => ({ outputs: noGrad(() => mul(x!, x!)), residuals: null }),
    backward: ([g], _, [x]) => [mul(mul(g!, cut ? x!.detach() : x!), 2)],
    differentiableBackward: true,
  });

describe('gradgradcheck', () => {
  it('passes tanh, and checks both the inputs and the output grads', () => {
    const report = gradgradcheck((x: Tensor) => tanh(x), [f64([0.5, -1.2, 2])]);
    expect(report.ok).toBe(true);
    // The gradient's Jacobian: 3 grads by 3 inputs and by 3 output grads.
    expect(report.checked).toBe(18);
  });

  it('fails a backward that is right at first order and wrong at second, naming the element', () => {
    const x = f64([0.5, -1.5]);
    const square = squareWith(true);
    expect(gradcheck((v: Tensor) => square(v), [x]).ok).toBe(true);
    const report = gradgradcheck((v: Tensor) => square(v), [x], { names: ['x'] });
    expect(report.ok).toBe(false);
    // d/dx of 2·g·x is 2g; the cut backward gives 0.
    expect(report.failures[0]).toMatchObject({ kind: 'jacobian', input: 'x', element: [0], analytic: 0 });
    expect(gradgradcheck((v: Tensor) => squareWith(false)(v), [x]).ok).toBe(true);
  });

  it('takes the output grads it is given, and refuses ones of the wrong shape naming both', () => {
    const x = f64([0.25, 0.75]);
    expect(gradgradcheck((v: Tensor) => tanh(v), [x], { gradOutputs: [f64([1, -2])] }).ok).toBe(true);
    expect(() => gradgradcheck((v: Tensor) => tanh(v), [x], { gradOutputs: [f64([1])] })).toThrow(
      'gradgradcheck: gradOutputs 0 is float64 [1], output 0 is float64 [2]',
    );
  });
});

describe('second-order property over the op table', () => {
  it('has a second-order spec for every op in core’s registry', () => {
    expect(Object.keys(ops).filter((name) => !specs[name as keyof typeof specs]?.gradgrad)).toEqual([]);
  });

  for (const [name, spec] of Object.entries(specs)) {
    it(`${name}: gradgradcheck holds at every drawn input (${spec.gradgrad.rule})`, () => {
      const options = { ...spec.options, ...spec.gradgrad.options, numRuns: defaultNumRuns(20) };
      const result = checkGradgradProperty(spec.gradgrad.call ?? spec.call, spec.args, options);
      expect(result.numRuns).toBeGreaterThan(0);
    });
  }
});
