// The fused optimizer updates (one loop per parameter) against the composition of core ops each
// replaced, over several steps with hyperparameters changed between them; and an update that
// throws part-way through a step leaves every parameter and its state unchanged.
import {
  AnomalyError,
  add,
  type DType,
  detectAnomaly,
  div,
  mul,
  RandomState,
  sqrt,
  sub,
  type Tensor,
  tensor,
  zerosLike,
} from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { Adam, Parameter, SGD } from '../src/index.js';
import { expectClose } from './assertClose.js';

// The previous rules, op by op (each op rounds to the dtype, as PyTorch's float32 kernels do).
function composedSgd(
  o: { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number },
  p: Tensor,
  grad: Tensor,
  buffer: Tensor | undefined,
): [Tensor, Tensor | undefined] {
  let g = o.weightDecay !== 0 ? add(grad, mul(p, o.weightDecay)) : grad;
  let next: Tensor | undefined;
  if (o.momentum !== 0) {
    next = buffer ? add(mul(buffer, o.momentum), mul(g, 1 - o.dampening)) : g;
    g = o.nesterov ? add(g, mul(next, o.momentum)) : next;
  }
  return [sub(p, mul(g, o.lr)), next];
}

function composedAdam(
  o: { lr: number; betas: readonly [number, number]; eps: number; weightDecay: number },
  p: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  step: number,
): [Tensor, Tensor, Tensor] {
  const [beta1, beta2] = o.betas;
  const g = o.weightDecay !== 0 ? add(grad, mul(p, o.weightDecay)) : grad;
  const expAvg = add(mul(m, beta1), mul(g, 1 - beta1));
  const expAvgSq = add(mul(v, beta2), mul(mul(g, g), 1 - beta2));
  const denom = add(div(sqrt(expAvgSq), Math.sqrt(1 - beta2 ** step)), o.eps);
  return [sub(p, mul(div(expAvg, denom), o.lr / (1 - beta1 ** step))), expAvg, expAvgSq];
}

const STEPS = 8;
const rng = new RandomState(6);
const initial = [rng.randn(5, 4, { dtype: 'float64' }), rng.randn(7, { dtype: 'float64' })];
const grads = Array.from({ length: STEPS }, () => [
  rng.randn(5, 4, { dtype: 'float64' }),
  mul(rng.randn(7, { dtype: 'float64' }), 0.01),
]);
const as = (t: Tensor, dtype: DType) => tensor(t.data, { dtype, shape: t.shape });

// float64 differs only by reassociation; float32 by one rounding per op of the composition.
const tolerance = (dtype: DType) =>
  dtype === 'float64' ? { atol: 1e-14, rtol: 1e-12 } : { atol: 1e-6, rtol: 1e-5 };

describe('fused optimizer updates follow the composed rules', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    it(`SGD, momentum with dampening then Nesterov, weight decay, lr changed mid-run (${dtype})`, () => {
      const params = initial.map((t) => new Parameter(as(t, dtype)));
      const options = { lr: 0.05, momentum: 0.9, dampening: 0.2, nesterov: false, weightDecay: 0.01 };
      const sgd = new SGD(params, options);
      let expected = params.map((p) => as(p, dtype));
      let buffers: (Tensor | undefined)[] = [undefined, undefined];
      grads.forEach((step, t) => {
        if (t === 4) Object.assign(sgd, { lr: 0.02, dampening: 0, nesterov: true });
        Object.assign(options, { lr: sgd.lr, dampening: sgd.dampening, nesterov: sgd.nesterov });
        const next = expected.map((p, i) => composedSgd(options, p, as(step[i]!, dtype), buffers[i]));
        expected = next.map(([p]) => p);
        buffers = next.map(([, b]) => b);
        params.forEach((p, i) => {
          p.grad = as(step[i]!, dtype);
        });
        sgd.step();
        params.forEach((p, i) => {
          expectClose(p, expected[i]!.toArray(), tolerance(dtype));
          expectClose(sgd.stateDict()[`${i}.momentum_buffer`]!, buffers[i]!.toArray(), tolerance(dtype));
        });
      });
    });

    it(`SGD without momentum keeps no state (${dtype})`, () => {
      const params = initial.map((t) => new Parameter(as(t, dtype)));
      const sgd = new SGD(params, { lr: 0.1, weightDecay: 0.1 });
      params.forEach((p, i) => {
        p.grad = as(grads[0]![i]!, dtype);
      });
      const options = { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.1 };
      const expected = initial.map(
        (t, i) => composedSgd(options, as(t, dtype), as(grads[0]![i]!, dtype), undefined)[0],
      );
      sgd.step();
      params.forEach((p, i) => {
        expectClose(p, expected[i]!.toArray(), tolerance(dtype));
      });
      expect(sgd.stateDict()).toEqual({});
    });

    it(`Adam with weight decay, betas and lr changed mid-run (${dtype})`, () => {
      const params = initial.map((t) => new Parameter(as(t, dtype)));
      const adam = new Adam(params, { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.05 });
      let expected = params.map((p) => as(p, dtype));
      let moments = expected.map((p) => [zerosLike(p), zerosLike(p)] as const);
      grads.forEach((step, t) => {
        if (t === 5) Object.assign(adam, { lr: 0.003, betas: [0.9, 0.999] });
        const next = expected.map((p, i) =>
          composedAdam(adam, p, as(step[i]!, dtype), moments[i]![0], moments[i]![1], t + 1),
        );
        expected = next.map(([p]) => p);
        moments = next.map(([, m, v]) => [m, v] as const);
        params.forEach((p, i) => {
          p.grad = as(step[i]!, dtype);
        });
        adam.step();
        const state = adam.stateDict();
        params.forEach((p, i) => {
          expectClose(p, expected[i]!.toArray(), tolerance(dtype));
          expectClose(state[`${i}.exp_avg`]!, moments[i]![0].toArray(), tolerance(dtype));
          expectClose(state[`${i}.exp_avg_sq`]!, moments[i]![1].toArray(), tolerance(dtype));
          expect(state[`${i}.step`]!.item()).toBe(t + 1);
        });
      });
    });
  }

  it('a step whose second update fails (anomaly mode, NaN grad) changes neither parameter nor any state', () => {
    const params = initial.map((t) => new Parameter(as(t, 'float64')));
    const adam = new Adam(params, { lr: 0.1 });
    params.forEach((p, i) => {
      p.grad = grads[0]![i]!;
    });
    adam.step();
    const before = params.map((p) => p.data);
    const state = adam.stateDict();
    params[0]!.grad = grads[1]![0]!;
    params[1]!.grad = tensor([1, 2, 3, 4, 5, 6, Number.NaN], { dtype: 'float64' });
    expect(() => detectAnomaly(() => adam.step())).toThrow(AnomalyError);
    expect(params.map((p) => p.data)).toEqual(before);
    params.forEach((p, i) => {
      expect(p.data).toBe(before[i]); // not replaced
    });
    expect(adam.stateDict()).toEqual(state);
  });
});
