// Correctness, not speed: one iteration of every contestant on small problems must give tapegrad's loss
// and gradient sums. numpy (an independent hand-written backward) anchors tapegrad itself.
import { describe, expect, it } from 'vitest';
import { hasNumpy, startChild } from '../src/child.js';
import { type Check, compareChecks } from '../src/contestant.js';
import { jsContestants } from '../src/contestants/index.js';
import { pairedRatio, referenceCheck } from '../src/harness.js';
import { median } from '../src/sampling.js';
import {
  type CellKind,
  flopsPerIteration,
  makeProblem,
  paramNames,
  workloadNamed,
} from '../src/workloads.js';

const lstmSmall = workloadNamed('lstm-small');
// The same small sizes for the other two cells, so that every peer's RNN and GRU are checked too.
const small = (cell: CellKind) => ({ ...lstmSmall, name: `${cell}-small`, cell });
const cases = [lstmSmall, small('rnn'), small('gru')];
const numpyPresent = hasNumpy();

describe.each(cases)('$name: one iteration agrees with tapegrad', (workload) => {
  let reference: Check;

  it('tapegrad gives a finite loss near T·B·log(O) at init and non-zero grads', async () => {
    reference = await referenceCheck(workload, 0);
    const { steps, batch, output } = workload;
    // Small random weights give logits near zero: the loss is close to chance.
    expect(Math.abs(reference.loss / (steps * batch * Math.log(output)) - 1)).toBeLessThan(0.2);
    for (const name of paramNames) expect(reference.gradAbsSums[name]).toBeGreaterThan(0);
  });

  it.each(Object.keys(jsContestants))('%s', async (name) => {
    const runner = await (await jsContestants[name]!()).create(makeProblem(workload, 0));
    try {
      expect(compareChecks(await runner.check(), reference)).toEqual([]);
    } finally {
      runner.dispose?.();
    }
  });

  it.skipIf(!numpyPresent)(
    'numpy (its own process and its own draws from numpy.random.RandomState)',
    async () => {
      const child = await startChild('numpy', workload, 0);
      try {
        expect(compareChecks(await child.request<Check>({ cmd: 'check' }), reference)).toEqual([]);
      } finally {
        child.close();
      }
    },
  );
});

describe('the check itself', () => {
  it('flags a loss or one gradient sum that is off by more than float32 noise', async () => {
    const reference = await referenceCheck(lstmSmall, 0);
    const nudged = (f: (c: Check) => void) => {
      const copy: Check = structuredClone(reference);
      f(copy);
      return compareChecks(copy, reference);
    };
    expect(nudged(() => {})).toEqual([]);
    expect(nudged((c) => (c.loss *= 1.01))).toHaveLength(1);
    expect(nudged((c) => (c.gradSums.weightHh += 0.01 * c.gradAbsSums.weightHh))).toHaveLength(1);
    expect(nudged((c) => (c.gradAbsSums.biasOut *= 0.99))).toHaveLength(1);
    expect(nudged((c) => (c.loss = Number.NaN))).toHaveLength(1);
  });

  it('pairs each round with the same round of tapegrad: the median of the ratios, not of the times', () => {
    // The machine ran at half speed in rounds 2 and 3, and in round 5 for the peer's sample only: the
    // peer takes 0.9 of tapegrad's time in four rounds of five, while its median time is 1.8 times tapegrad's.
    const tapegrad = [10, 20, 20, 10, 10];
    const peer = [9, 18, 18, 9, 18];
    expect(median(peer) / median(tapegrad)).toBeCloseTo(1.8, 12);
    expect(pairedRatio(peer, tapegrad)).toBeCloseTo(0.9, 12);
    // Rounds that only one of them has (a contestant that failed part-way) are left out.
    expect(pairedRatio([1, 4, 9], [1, 2, 3, 4])).toBe(2);
    expect(pairedRatio([], tapegrad)).toBe(null);
  });

  it('counts lstm-big at 1.02 GFLOP per iteration, as the issue does', () => {
    expect(flopsPerIteration(workloadNamed('lstm-big'))).toBe(
      6 * 50 * 32 * (4 * 128 * (128 + 64) + 64 * 128),
    );
    expect(flopsPerIteration(workloadNamed('lstm-big')) / 1e9).toBeCloseTo(1.02, 2);
  });
});
