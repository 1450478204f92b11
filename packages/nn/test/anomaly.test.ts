// Anomaly mode through nn: an LSTM layer whose weight went to Inf is reported at its sequence op,
// with the bad weight named and the user's line (not nn's) as the call site; a NaN grad is caught
// at the first op of the optimizer's update.
import { AnomalyError, detectAnomaly, RandomState, sum, tensor, zeros } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { Adam, LSTM, Parameter } from '../src/index.js';

const THIS_FILE = 'anomaly.test.ts';

function anomalyOf(fn: () => unknown): AnomalyError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AnomalyError) return error;
    throw error;
  }
  throw new Error('expected an AnomalyError, nothing was thrown');
}

describe('anomaly mode through nn', () => {
  it('an LSTM layer whose weight_hh went to Inf: the sequence op is named, with the bad input and this line', () => {
    const lstm = new LSTM(3, 4, { rng: new RandomState(0) });
    const state = lstm.stateDict();
    const poisoned = Float32Array.from(state.weight_hh_l0!.data);
    poisoned[7] = Infinity;
    lstm.loadStateDict({ ...state, weight_hh_l0: tensor(poisoned, { shape: [16, 4] }) });
    const input = tensor(new Float32Array(2 * 2 * 3).fill(0.5), { shape: [2, 2, 3] });
    const error = anomalyOf(() => detectAnomaly(() => lstm.forward(input)));
    expect(error.op).toBe('lstmSequence');
    expect(error.phase).toBe('forward');
    expect(error.message).toMatch(/input \d \(float32 \[16,4\]\) already held Infinity at \[1,3\]/);
    expect(error.inputShapes).toContainEqual([2, 2, 3]);
    expect(error.callSite).toContain(THIS_FILE);
    // Off, the same forward runs and quietly returns non-finite values.
    expect(lstm.forward(input).output.data.some((v) => !Number.isFinite(v))).toBe(true);
  });

  it('a NaN grad reaching Adam is caught at the first op of the update, reported at the step() call', () => {
    const weight = new Parameter(zeros([2]));
    const optimizer = new Adam([weight], { lr: 0.1 });
    sum(weight).backward();
    weight.grad = tensor([1, Number.NaN]);
    const error = anomalyOf(() => detectAnomaly(() => optimizer.step()));
    expect(error.phase).toBe('forward');
    expect(error.message).toMatch(/already held NaN at \[1\]/);
    expect(error.callSite).toContain(THIS_FILE);
    expect(weight.toArray()).toEqual([0, 0]); // stopped before the weight was replaced
  });
});
