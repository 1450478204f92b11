// The corpus (one example per line: the bundled Pokémon names, or a user's UTF-8 file), its
// character vocabulary, and batches of whole lines framed by the boundary character '\n'.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import type { RandomState } from '@tapegrad/core';
import { UsageError } from './errors.js';
import { readRegularFile } from './files.js';

/** Marks both the start and the end of a line: the model reads it first and writes it last. */
export const BOUNDARY = '\n';

/** The most text --text reads: far more lines than a demo-sized run sees in its steps. */
export const TEXT_MAX_BYTES = 100 * 2 ** 20;

export interface Corpus {
  /** Where the lines came from, for messages. */
  source: string;
  /** The file read (absolute), or null for the bundled list. */
  path: string | null;
  lines: string[];
}

/** The 1,025 English Pokémon names of the `pokemon` npm package (MIT, sindresorhus). */
export function defaultCorpus(): Corpus {
  const require = createRequire(import.meta.url);
  const names = JSON.parse(readFileSync(require.resolve('pokemon/data/en.json'), 'utf8')) as string[];
  return { source: 'Pokémon names', path: null, lines: names };
}

/** Reads a UTF-8 text file of one example per line; refuses what is missing, empty or not text. */
export function readCorpus(path: string): Corpus {
  // Refuses a FIFO or a device (/dev/zero) before reading, and more text than a demo can train on.
  const bytes = readRegularFile(path, `--text ${path}`, TEXT_MAX_BYTES);
  let text: string;
  try {
    // A NUL byte or invalid UTF-8 means a binary file: training on it would only learn noise.
    if (bytes.includes(0)) throw new Error('NUL byte');
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`--text ${path}: not a UTF-8 text file (it looks binary)`);
  }
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new UsageError(`--text ${path}: the file has no non-empty lines`);
  return { source: basename(path), path: resolve(path), lines };
}

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
