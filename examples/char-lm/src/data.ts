// A corpus's character vocabulary, the split into training and held-out lines, and batches of whole
// lines framed by the boundary character '\n'. No Node here: the web page trains on the same batches
// (reading the corpus from disk is corpus.ts).
import type { RandomState } from '@tapegrad/core';
import { UsageError } from './errors.js';

/** Marks both the start and the end of a line: the model reads it first and writes it last. */
export const BOUNDARY = '\n';

/** Characters by index; index 0 is the boundary. */
export type Vocab = string[];

export function buildVocab(lines: readonly string[]): Vocab {
  const chars = new Set<string>();
  for (const line of lines) for (const ch of line) chars.add(ch);
  chars.delete(BOUNDARY);
  return [BOUNDARY, ...[...chars].sort()];
}

/** A line as indices framed by the boundary: '\n' + line + '\n'. */
export function encode(line: string, vocab: Vocab): number[] {
  const index = new Map(vocab.map((ch, i) => [ch, i]));
  return [BOUNDARY, ...line, BOUNDARY].map((ch) => {
    const i = index.get(ch);
    if (i === undefined) throw new UsageError(`the character ${JSON.stringify(ch)} is not in the vocabulary`);
    return i;
  });
}

/** Lines shuffled by the seeded stream, a tenth held out to measure on (all of them if fewer than 10). */
export function splitLines(lines: readonly string[], rng: RandomState): { train: string[]; held: string[] } {
  const order = rng.permutation(lines.length).data;
  const shuffled = Array.from(order, (i) => lines[i]!);
  const heldCount = Math.floor(lines.length / 10);
  if (heldCount === 0) return { train: shuffled, held: shuffled };
  return { train: shuffled.slice(heldCount), held: shuffled.slice(0, heldCount) };
}

/**
 * A batch of encoded lines, time-major: inputs[t][b] is read at step t and targets[t][b] predicted
 * there. Short lines are padded; `rows` lists the (t·B + b) positions that carry a real target.
 */
export interface Batch {
  steps: number;
  batch: number;
  inputs: Float64Array;
  targets: number[];
  rows: number[];
}

export function makeBatch(encoded: readonly (readonly number[])[]): Batch {
  const batch = encoded.length;
  const steps = Math.max(...encoded.map((e) => e.length - 1));
  const inputs = new Float64Array(steps * batch);
  const targets: number[] = [];
  const rows: number[] = [];
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const line = encoded[b]!;
      if (t + 1 < line.length) {
        inputs[t * batch + b] = line[t]!;
        targets.push(line[t + 1]!);
        rows.push(t * batch + b);
      }
    }
  }
  return { steps, batch, inputs, targets, rows };
}

/** Nats per character of `held` under the training lines' character frequencies (the baseline to beat). */
export function unigramCrossEntropy(
  train: readonly number[][],
  held: readonly number[][],
  size: number,
): number {
  // Add-one smoothing keeps a character unseen in training from costing infinity.
  const counts = new Float64Array(size).fill(1);
  for (const line of train) for (const i of line.slice(1)) counts[i]! += 1;
  const total = counts.reduce((s, c) => s + c, 0);
  let nats = 0;
  let n = 0;
  for (const line of held) {
    for (const i of line.slice(1)) {
      nats -= Math.log(counts[i]! / total);
      n++;
    }
  }
  return nats / n;
}
