// End to end: Embedding → LSTM → Linear, trained with crossEntropy and Adam, learns to echo the
// token it saw DELAY steps earlier; its loss must fall far below chance, log(VOCAB).
import { RandomState, reshape, slice, type Tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { Adam, clipGradNorm, crossEntropy, Embedding, Linear, LSTM, Module } from '../src/index.js';

const VOCAB = 4;
const DELAY = 2;
const STEPS = 12;
const BATCH = 16;

class Echo extends Module {
  readonly embed: Embedding;
  readonly lstm: LSTM;
  readonly head: Linear;

  constructor(rng: RandomState) {
    super();
    this.embed = this.registerModule('embed', new Embedding(VOCAB, 8, { rng }));
    this.lstm = this.registerModule('lstm', new LSTM(8, 24, { rng }));
    this.head = this.registerModule('head', new Linear(24, VOCAB, { rng }));
  }

  /** The loss of predicting token[t - DELAY] at every step t ≥ DELAY; tokens [STEPS, BATCH]. */
  loss(tokens: Tensor): Tensor {
    const { output } = this.lstm.forward(this.embed.forward(tokens));
    const logits = this.head.forward(slice(output, [DELAY], [STEPS]));
    const targets = Array.from(tokens.data.subarray(0, (STEPS - DELAY) * BATCH));
    return crossEntropy(reshape(logits, [-1, VOCAB]), targets);
  }
}

describe('training', () => {
  it('an LSTM learns to echo the token seen 2 steps earlier', () => {
    const rng = new RandomState(0);
    const model = new Echo(rng);
    const optimizer = new Adam(model.parameters(), { lr: 0.03 });
    const losses: number[] = [];
    for (let step = 0; step < 150; step++) {
      const loss = model.loss(rng.randint(0, VOCAB, [STEPS, BATCH]));
      optimizer.zeroGrad();
      loss.backward();
      clipGradNorm(model.parameters(), 5);
      optimizer.step();
      losses.push(loss.item());
    }
    const chance = Math.log(VOCAB);
    expect(losses[0]).toBeGreaterThan(0.8 * chance);
    // Fresh sequences, never trained on, scored in eval mode.
    model.eval();
    const held = model.loss(new RandomState(99).randint(0, VOCAB, [STEPS, BATCH])).item();
    expect(held).toBeLessThan(0.1 * chance);
  });
});
