// What a saved set of a training run is: its format tag, its files' names, and config.json's shape.
// No Node here: the web page (examples/char-lm-web) writes and reads the same sets.
import type { RandomStateSnapshot } from '@tapegrad/core';
import type { ModelConfig } from './model.js';

export const FORMAT = 'tapegrad-char-lm/1';
/** A step's folder in a run folder; it sorts as it counts (steps go up to 10^7, eight digits). */
export const stepFolder = (step: number): string => `step-${String(step).padStart(8, '0')}`;

export const FILES = {
  checkpoint: 'checkpoint.safetensors',
  optimizer: 'optimizer.safetensors',
  config: 'config.json',
  curve: 'loss.svg',
};

export interface RunConfig {
  format: typeof FORMAT;
  vocab: string[];
  model: ModelConfig;
  training: { lr: number; batch: number; clip: number; seed: number; steps: number; text: string | null };
  /** Nats per character of the held-out lines under the unigram model: the baseline to beat. */
  baseline: number;
  /** losses[i] is the training loss of step i + 1; heldOut holds [step, nats per character] pairs. */
  progress: { step: number; losses: number[]; heldOut: [number, number][]; rng: RandomStateSnapshot };
}
