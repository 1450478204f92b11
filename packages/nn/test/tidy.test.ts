// Training steps inside core's tidy: the parameters, grads and optimizer state that must outlive a step
// do, the sequence ops' outputs and grads are recycled, and every value is what it is without tidy.
import { memory, RandomState, reshape, type Tensor, tensor, tidy, valueAndGrad } from '@tapegrad/core';
import { poisonRecycled } from '@tapegrad/core/kernels';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  clipGradNorm,
  crossEntropy,
  gruSequence,
  Linear,
  LSTM,
  linearCrossEntropy,
  lstmSequence,
  Module,
  rnnSequence,
  SGD,
} from '../src/index.js';

class Tagger extends Module {
  readonly lstm: LSTM;
  readonly head: Linear;

  constructor(seed: number) {
    super();
    const rng = new RandomState(seed);
    this.lstm = this.registerModule('lstm', new LSTM(6, 32, { rng }));
    this.head = this.registerModule('head', new Linear(32, 5, { rng }));
  }

  loss(x: Tensor, targets: number[]): Tensor {
    const { output } = this.lstm.forward(x);
    return crossEntropy(reshape(this.head.forward(output), [-1, 5]), targets);
  }
}

/** Steps of training on fixed random batches, each step inside tidy or not; the final parameters. */
function train(withTidy: boolean, makeOptimizer: (m: Module) => Adam | SGD): Float32Array[] {
  const model = new Tagger(1);
  const optimizer = makeOptimizer(model);
  const data = new RandomState(2);
  for (let i = 0; i < 6; i++) {
    const x = data.normal(0, 0.3, [20, 8, 6], { dtype: 'float32' });
    const targets = Array.from(data.randint(0, 5, [20 * 8]).data);
    const step = () => {
      optimizer.zeroGrad();
      const loss = model.loss(x, targets);
      loss.backward();
      clipGradNorm(model.parameters(), 1);
      optimizer.step();
      return loss.item();
    };
    withTidy ? tidy(step) : step();
  }
  return [...model.parameters()].map((p) => Float32Array.from(p.data));
}

describe('tidy around training steps', () => {
  for (const [name, make] of [
    ['Adam', (m: Module) => new Adam(m.parameters(), { lr: 0.01 })],
    ['SGD with momentum', (m: Module) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 })],
  ] as const) {
    it(`leaves ${name}'s parameters exactly as without it, and recycles buffers`, () => {
      const before = memory().recycled;
      const tidied = train(true, make);
      expect(memory().recycled).toBeGreaterThan(before);
      const plain = train(false, make);
      expect(tidied).toEqual(plain);
    });
  }

  it("keeps what is assigned as a .grad, and leaves a non-tensor there for the optimizer's check", () => {
    const model = new Tagger(4);
    const [first] = model.parameters();
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    const g = tidy(() => {
      first!.grad = tensor(new Float32Array(first!.size), { shape: first!.shape });
      return null;
    });
    expect(g).toBe(null);
    expect(first!.grad!.isDisposed).toBe(false);
    first!.grad = 'not a grad' as never;
    expect(() => optimizer.step()).toThrow(
      /^SGD\.step: parameter 0 is float32 \[128,6\] but its grad is not a Tensor/,
    );
  });

  // Each sequence op's output and grads come from buffers that are not cleared when recycled (every value
  // is written): poisoned with NaN here, a value not written would show.
  for (const [name, gates, sequence] of [
    ['an LSTM', 4, (x, h0, p) => lstmSequence(x, h0, h0, p[0]!, p[1]!, p[2]!, p[3]!)[0]],
    ['a tanh RNN', 1, (x, h0, p) => rnnSequence(x, h0, p[0]!, p[1]!, p[2]!, p[3]!)[0]],
    ['a GRU', 3, (x, h0, p) => gruSequence(x, h0, p[0]!, p[1]!, p[2]!, p[3]!)[0]],
  ] as const satisfies readonly (readonly [
    string,
    number,
    (x: Tensor, h0: Tensor, p: Tensor[]) => Tensor,
  ])[]) {
    it(`recycles ${name} sequence op and its loss, step after step, with the same values`, () => {
      const rng = new RandomState(3);
      const [T, B, I, H, O] = [20, 8, 6, 32, 5];
      const params = [
        rng.normal(0, 0.3, [gates * H, I], { dtype: 'float32' }),
        rng.normal(0, 0.3, [gates * H, H], { dtype: 'float32' }),
        rng.normal(0, 0.3, [gates * H], { dtype: 'float32' }),
        rng.normal(0, 0.3, [gates * H], { dtype: 'float32' }),
        rng.normal(0, 0.3, [O, H], { dtype: 'float32' }),
        rng.normal(0, 0.3, [O], { dtype: 'float32' }),
      ];
      const x = rng.normal(0, 0.3, [T, B, I], { dtype: 'float32' });
      const targets = tensor(Float64Array.from(rng.randint(0, O, [T * B]).data), { dtype: 'float64' });
      const h0 = tensor(new Float32Array(B * H), { shape: [B, H] });
      const f = valueAndGrad(
        (...p: Tensor[]) => {
          const out = sequence(x, h0, p);
          return linearCrossEntropy(reshape(out, [T * B, H]), p[4]!, p[5]!, targets, { reduction: 'sum' });
        },
        { argnums: [0, 1, 2, 3, 4, 5] },
      );
      // Two sets of parameters in turn, so that a buffer still read after it was recycled would show.
      const other = params.map((p) =>
        tensor(
          p.data.map((v) => -0.5 * v),
          { shape: p.shape },
        ),
      );
      const run = (p: Tensor[]) => {
        const [v, gs] = f(...p);
        return [v.item(), gs.map((g) => Array.from(g.data))] as const;
      };
      const expected = [run(params), run(other)];
      const before = memory().recycled;
      poisonRecycled(true);
      try {
        for (let i = 0; i < 4; i++) expect(tidy(() => run(i % 2 ? other : params))).toEqual(expected[i % 2]);
      } finally {
        poisonRecycled(false);
      }
      // At least the output's buffer, in the second step and after (the grads' carving too where it is
      // past the pool's 16 KB floor).
      expect(memory().recycled - before).toBeGreaterThanOrEqual(3);
    });
  }
});
