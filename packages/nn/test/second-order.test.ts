// nn's fused ops at second order: their hand-written backwards are kernels, so a second derivative goes
// through their references. gradgradcheck holds each to central differences of its first-order
// gradient, and the Hessian of an LSTM step (and an hvp through a whole LSTM sequence) to central
// differences of the fused first-order gradient.
import { add, grad, hessian, hvp, mul, RandomState, sub, sum, type Tensor, tensor } from '@tapegrad/core';
import { assertGradgradcheck } from '@tapegrad/gradcheck';
import { describe, expect, it } from 'vitest';
import {
  crossEntropy,
  gruCell,
  gruSequence,
  linear,
  lstmCell,
  lstmSequence,
  rnnCell,
  rnnSequence,
} from '../src/index.js';

const rng = new RandomState(7);
const draw = (...shape: number[]): Tensor => {
  const t = rng.uniform(-0.8, 0.8, shape, { dtype: 'float64' });
  return tensor(t.data, { dtype: 'float64', shape });
};

/** x, the states and the weights of a cell with `gates` gates: batch 2, input 3, hidden 2. */
const cellInputs = (gates: number, states: number): Tensor[] => [
  draw(2, 3),
  ...Array.from({ length: states }, () => draw(2, 2)),
  draw(gates * 2, 3),
  draw(gates * 2, 2),
  draw(gates * 2),
  draw(gates * 2),
];

/** An LSTM's (cellInputs(4, 2) or sequenceInputs(4, 2)): x, h, c, weightIh, weightHh, biasIh, biasHh. */
type LstmInputs = [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];

/** The same over a sequence of 3 steps: x [3, 2, 3]. */
const sequenceInputs = (gates: number, states: number): Tensor[] => {
  const [, ...rest] = cellInputs(gates, states);
  return [draw(3, 2, 3), ...rest];
};

describe('fused ops at second order, through their references (gradgradcheck)', () => {
  const cases: [string, (...xs: Tensor[]) => Tensor | Tensor[], () => Tensor[]][] = [
    ['rnnCell (tanh)', (x, h, wi, wh, bi, bh) => rnnCell(x!, h!, wi!, wh!, bi!, bh!), () => cellInputs(1, 1)],
    [
      'lstmCell',
      (x, h, c, wi, wh, bi, bh) => lstmCell(x!, h!, c!, wi!, wh!, bi!, bh!),
      () => cellInputs(4, 2),
    ],
    ['gruCell', (x, h, wi, wh, bi, bh) => gruCell(x!, h!, wi!, wh!, bi!, bh!), () => cellInputs(3, 1)],
    [
      'rnnSequence',
      (x, h, wi, wh, bi, bh) => rnnSequence(x!, h!, wi!, wh!, bi!, bh!),
      () => sequenceInputs(1, 1),
    ],
    [
      'lstmSequence',
      (x, h, c, wi, wh, bi, bh) => lstmSequence(x!, h!, c!, wi!, wh!, bi!, bh!),
      () => sequenceInputs(4, 2),
    ],
    [
      'gruSequence',
      (x, h, wi, wh, bi, bh) => gruSequence(x!, h!, wi!, wh!, bi!, bh!),
      () => sequenceInputs(3, 1),
    ],
    ['linear', (x, w, b) => linear(x!, w!, b!), () => [draw(2, 3), draw(4, 3), draw(4)]],
  ];
  for (const [name, f, inputs] of cases) {
    it(name, () => {
      const report = assertGradgradcheck(f, inputs(), { mode: 'fast' });
      expect(report.checked).toBeGreaterThan(0);
    });
  }

  it('crossEntropy (the fused loss, mean over the batch)', () => {
    const targets = tensor([2, 0, 1], { dtype: 'float64' });
    const report = assertGradgradcheck((logits: Tensor) => crossEntropy(logits, targets), [draw(3, 4)]);
    expect(report.checked).toBeGreaterThan(0);
  });
});

/** Central differences of a gradient: column j of the Hessian is (∇L(x + εe_j) - ∇L(x - εe_j)) / 2ε. */
function hessianByDifferences(gradient: (x: Tensor) => Tensor, x: Tensor, eps = 1e-5): Float64Array {
  const n = x.size;
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const nudged = (step: number) => {
      const data = Float64Array.from(x.data);
      data[j]! += step;
      return gradient(tensor(data, { dtype: 'float64', shape: [...x.shape] })).data;
    };
    const up = nudged(eps);
    const down = nudged(-eps);
    for (let i = 0; i < n; i++) out[i * n + j] = (up[i]! - down[i]!) / (2 * eps);
  }
  return out;
}

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, label: string): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const error = Math.abs(got[i]! - want[i]!);
    if (!(error <= worst)) [worst, at] = [error, i];
  }
  expect(worst, `${label}: worst at ${at}, got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(atol);
}

describe('the Hessian of an LSTM step, by differences of its fused gradient', () => {
  const [x, h, c, weightIh, weightHh, biasIh, biasHh] = cellInputs(4, 2) as LstmInputs;
  const u = draw(2, 2);
  const w = draw(2, 2);
  // A scalar of both outputs, so that the Hessian mixes h' and c'.
  const loss = (hh: Tensor, cc: Tensor) => {
    const [h1, c1] = lstmCell(x, hh, cc, weightIh, weightHh, biasIh, biasHh);
    return add(sum(mul(h1, u)), sum(mul(mul(c1, c1), w)));
  };

  it('in weightHh (16 × 16) and in h, against central differences of the first-order gradient', () => {
    const ofWeight = (wh: Tensor) => {
      const [h1, c1] = lstmCell(x, h, c, weightIh, wh, biasIh, biasHh);
      return add(sum(mul(h1, u)), sum(mul(mul(c1, c1), w)));
    };
    const analytic = hessian(ofWeight)(weightHh);
    expect(analytic.shape).toEqual([8, 2, 8, 2]);
    expectNear(analytic.data, hessianByDifferences(grad(ofWeight), weightHh), 1e-8, 'weightHh');
    const inH = hessian((hh: Tensor) => loss(hh, c))(h);
    expectNear(
      inH.data,
      hessianByDifferences(
        grad((hh: Tensor) => loss(hh, c)),
        h,
      ),
      1e-8,
      'h',
    );
  });

  it('is symmetric', () => {
    const H = hessian((cc: Tensor) => loss(h, cc))(c);
    const n = c.size;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++)
        expect(Math.abs(H.data[i * n + j]! - H.data[j * n + i]!)).toBeLessThan(1e-12);
    }
  });
});

it('hvp through a whole LSTM sequence matches differences of the fused gradient along v', () => {
  const [x, h0, c0, weightIh, weightHh, biasIh, biasHh] = sequenceInputs(4, 2) as LstmInputs;
  const target = draw(3, 2, 2);
  const loss = (wi: Tensor, wh: Tensor) => {
    const [output] = lstmSequence(x, h0, c0, wi, wh, biasIh, biasHh);
    const diff = sub(output!, target);
    return sum(mul(diff, diff));
  };
  const v = [draw(8, 3), draw(8, 2)];
  const [hvIh, hvHh] = hvp(loss, [weightIh, weightHh], v);
  const eps = 1e-5;
  const at = (step: number) =>
    grad(loss, { argnums: [0, 1] })(
      tensor(
        weightIh.data.map((p, i) => p + step * v[0]!.data[i]!),
        { dtype: 'float64', shape: [8, 3] },
      ),
      tensor(
        weightHh.data.map((p, i) => p + step * v[1]!.data[i]!),
        { dtype: 'float64', shape: [8, 2] },
      ),
    );
  const [upIh, upHh] = at(eps);
  const [downIh, downHh] = at(-eps);
  const central = (up: Tensor, down: Tensor) => up.data.map((p, i) => (p - down.data[i]!) / (2 * eps));
  expectNear(hvIh!.data, central(upIh!, downIh!), 1e-8, 'weightIh');
  expectNear(hvHh!.data, central(upHh!, downHh!), 1e-8, 'weightHh');
});
