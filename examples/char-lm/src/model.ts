// The character model: an embedding of each character, a stacked LSTM over time, and a linear
// read-out to one logit per character. Parameter names are PyTorch's, so the checkpoint loads there.
import { noGrad, type RandomState, reshape, type Tensor, tensor } from '@tapegrad/core';
import { Embedding, Linear, LSTM, Module } from '@tapegrad/nn';

export interface ModelConfig {
  vocabSize: number;
  embedding: number;
  hidden: number;
  layers: number;
}

export class CharModel extends Module {
  readonly embedding: Embedding;
  readonly lstm: LSTM;
  readonly head: Linear;

  constructor(
    readonly config: ModelConfig,
    rng: RandomState,
  ) {
    super();
    const { vocabSize, embedding, hidden, layers } = config;
    this.embedding = this.registerModule('embedding', new Embedding(vocabSize, embedding, { rng }));
    this.lstm = this.registerModule('lstm', new LSTM(embedding, hidden, { numLayers: layers, rng }));
    this.head = this.registerModule('head', new Linear(hidden, vocabSize, { rng }));
  }

  /** Logits [T·B, V] for character indices [T, B], and the LSTM's state after the last step. */
  forward(indices: Tensor, state?: readonly [Tensor, Tensor]): { logits: Tensor; state: [Tensor, Tensor] } {
    const [steps, batch] = indices.shape as [number, number];
    const { output, hN, cN } = this.lstm.forward(this.embedding.forward(indices), state);
    const logits = this.head.forward(reshape(output, [steps * batch, this.config.hidden]));
    return { logits, state: [hN, cN] };
  }
}

/**
 * Draws one line a character at a time from softmax(logits / temperature), starting and ending at
 * the boundary (index 0); stops at maxLength characters.
 */
export function sampleLine(
  model: CharModel,
  vocab: readonly string[],
  rng: RandomState,
  temperature: number,
  maxLength = 40,
): string {
  return noGrad(() => {
    let state: [Tensor, Tensor] | undefined;
    let current = 0;
    let line = '';
    for (let i = 0; i < maxLength; i++) {
      const step = model.forward(tensor([[current]], { dtype: 'float64' }), state);
      state = step.state;
      current = drawIndex(step.logits.data, temperature, rng.rand(1).data[0]!);
      if (current === 0) break;
      line += vocab[current];
    }
    return line;
  });
}

/** The index whose cumulative softmax(logits / T) first passes u ∈ [0, 1). */
export function drawIndex(logits: ArrayLike<number>, temperature: number, u: number): number {
  let top = -Infinity;
  for (let i = 0; i < logits.length; i++) top = Math.max(top, logits[i]!);
  const weights = Array.from({ length: logits.length }, (_, i) => Math.exp((logits[i]! - top) / temperature));
  const total = weights.reduce((s, w) => s + w, 0);
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i]! / total;
    if (u < cumulative) return i;
  }
  return weights.length - 1;
}

/** Nats per predicted character over `lines` (encoded, boundary-framed), batched, without a graph. */
export function crossEntropyOf(model: CharModel, encoded: readonly number[][], batchSize = 256): number {
  return noGrad(() => {
    let nats = 0;
    let count = 0;
    for (let start = 0; start < encoded.length; start += batchSize) {
      const group = encoded.slice(start, start + batchSize);
      const steps = Math.max(...group.map((e) => e.length - 1));
      const inputs = new Float64Array(steps * group.length);
      group.forEach((line, b) => {
        for (let t = 0; t + 1 < line.length; t++) inputs[t * group.length + b] = line[t]!;
      });
      const { logits } = model.forward(tensor(inputs, { shape: [steps, group.length] }));
      const classes = model.config.vocabSize;
      group.forEach((line, b) => {
        for (let t = 0; t + 1 < line.length; t++) {
          const row = logits.data.subarray(
            (t * group.length + b) * classes,
            (t * group.length + b + 1) * classes,
          );
          nats += logSumExp(row) - row[line[t + 1]!]!;
          count++;
        }
      });
    }
    return nats / count;
  });
}

function logSumExp(row: ArrayLike<number>): number {
  let top = -Infinity;
  for (let i = 0; i < row.length; i++) top = Math.max(top, row[i]!);
  let total = 0;
  for (let i = 0; i < row.length; i++) total += Math.exp(row[i]! - top);
  return top + Math.log(total);
}
