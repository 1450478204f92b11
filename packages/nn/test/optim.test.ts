// SGD and Adam against numpy re-implementations of PyTorch's update rules (fixtures/optim.json):
// the same grads fed for several steps, every step's parameters compared, then the saved state.
import { type DType, tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  CheckpointError,
  loadSafetensors,
  type Optimizer,
  Parameter,
  SGD,
  saveSafetensors,
} from '../src/index.js';
import { expectClose, fixture } from './assertClose.js';

type Values = number[] | number[][];
interface Case {
  optimizer: 'SGD' | 'Adam';
  options: Record<string, unknown>;
  history: Values[][];
  state: Record<string, Values[] | number>;
}
const data = fixture<{ params: Values[]; grads: Values[][]; cases: Case[] }>('optim.json');

function make(c: Case, params: Parameter[]): Optimizer {
  return c.optimizer === 'SGD' ? new SGD(params, c.options as never) : new Adam(params, c.options as never);
}

const fresh = (dtype: DType) => data.params.map((p) => new Parameter(tensor(p, { dtype })));

describe('optimizers follow PyTorch step by step', () => {
  for (const c of data.cases) {
    for (const dtype of ['float64', 'float32'] as const) {
      // float32 parameters round every op, as PyTorch's float32 kernels do.
      const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 2e-6, rtol: 2e-5 };
      it(`${c.optimizer} ${JSON.stringify(c.options)} (${dtype})`, () => {
        const params = fresh(dtype);
        const optimizer = make(c, params);
        data.grads.forEach((step, t) => {
          params.forEach((p, i) => {
            p.grad = tensor(step[i]!, { dtype });
          });
          optimizer.step();
          optimizer.zeroGrad();
          params.forEach((p, i) => {
            expectClose(p, c.history[t]![i]!, tol);
          });
        });
        expect(params.every((p) => p.grad === null)).toBe(true);
        const state = optimizer.stateDict();
        for (const [slot, expected] of Object.entries(c.state)) {
          if (slot === 'step') {
            params.forEach((_, i) => {
              expect(state[`${i}.step`]!.item()).toBe(expected);
            });
          } else {
            params.forEach((_, i) => {
              expectClose(state[`${i}.${slot}`]!, (expected as Values[])[i]!, tol);
            });
          }
        }
      });
    }
  }

  it('Adam has PyTorch defaults', () => {
    const adam = new Adam(fresh('float64'));
    expect([adam.lr, adam.betas, adam.eps, adam.weightDecay]).toEqual([1e-3, [0.9, 0.999], 1e-8, 0]);
  });

  it('skips parameters without grad (no state, no change)', () => {
    const params = fresh('float64');
    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    params[0]!.grad = tensor(data.grads[0]![0]!, { dtype: 'float64' });
    const before = params[1]!.data;
    sgd.step();
    expect(params[1]!.data).toBe(before);
    expect(Object.keys(sgd.stateDict())).toEqual(['0.momentum_buffer']);
  });

  it('refuses bad hyperparameters', () => {
    expect(() => new SGD(fresh('float64'), { lr: 0.1, nesterov: true })).toThrow(
      /nesterov needs momentum > 0/,
    );
    expect(() => new SGD(fresh('float64'), { lr: -1 })).toThrow(/lr/);
    expect(() => new Adam(fresh('float64'), { betas: [1, 0.9] })).toThrow(/betas\[0\]/);
    const p = fresh('float64')[0]!;
    expect(() => new Adam([p, p])).toThrow(/more than once/);
  });
});

describe('optimizer state', () => {
  const adamCase = data.cases.find((c) => c.optimizer === 'Adam' && c.options.weightDecay)!;

  it('resumes exactly: save after 3 steps, load into a new optimizer through safetensors, continue', () => {
    const params = fresh('float64');
    const first = new Adam(params, adamCase.options as never);
    const feed = (opt: Optimizer, t: number) => {
      params.forEach((p, i) => {
        p.grad = tensor(data.grads[t]![i]!, { dtype: 'float64' });
      });
      opt.step();
    };
    for (let t = 0; t < 3; t++) feed(first, t);
    const saved = first.stateDict();
    expect(Object.keys(saved)).toEqual([
      '0.step',
      '0.exp_avg',
      '0.exp_avg_sq',
      '1.step',
      '1.exp_avg',
      '1.exp_avg_sq',
    ]);
    const second = new Adam(params, adamCase.options as never);
    // Through a checkpoint file's bytes, as a resumed run would load it.
    second.loadStateDict(loadSafetensors(saveSafetensors(saved)));
    for (let t = 3; t < data.grads.length; t++) feed(second, t);
    params.forEach((p, i) => {
      expectClose(p, adamCase.history.at(-1)![i]!);
    });
  });

  it('checks the whole state before loading any of it', () => {
    const params = fresh('float64');
    const adam = new Adam(params);
    params.forEach((p) => {
      p.grad = tensor(Array.from(p.data), { dtype: 'float64', shape: p.shape });
    });
    adam.step();
    const good = adam.stateDict();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...good, '2.exp_avg': good['0.exp_avg'] }, /unexpected key '2.exp_avg'/],
      [{ ...good, '0.momentum_buffer': good['0.exp_avg'] }, /unexpected key '0.momentum_buffer'/],
      [
        { ...good, '1.exp_avg': good['0.exp_avg'] },
        /'1.exp_avg': expected float64 \[4\], got float64 \[3,2\]/,
      ],
      [{ ...good, '0.step': tensor(1.5, { dtype: 'float64' }) }, /'0.step' must be a scalar count/],
      [{ '0.exp_avg': good['0.exp_avg'] }, /parameter 0 lacks exp_avg_sq, step/],
    ];
    const fresh1 = new Adam(params);
    for (const [state, message] of cases) {
      expect(() => fresh1.loadStateDict(state as never)).toThrow(CheckpointError);
      expect(() => fresh1.loadStateDict(state as never)).toThrow(message);
      expect(Object.keys(fresh1.stateDict())).toEqual([]);
    }
  });
});
