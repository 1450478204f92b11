// A saved set of a training run: the checkpoint (safetensors, PyTorch's names), the optimizer's state,
// and config.json (vocabulary, hyper-parameters, progress and the RNG's state) that make it resumable.
// How sets are written and found in a run folder is store.ts.
import { dirname, join } from 'node:path';
import { RandomState, type RandomStateSnapshot } from '@tapegrad/core';
import { CheckpointError, decodeSafetensors } from '@tapegrad/nn';
import { UsageError } from './errors.js';
import { readRegularFile } from './files.js';
import { CharModel, type ModelConfig } from './model.js';
import { checkCheckpoint, parameterBytes, validateConfig } from './schema.js';

export const FORMAT = 'tapegrad-char-lm/1';
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

/** config.json holds a loss per step: about 20 bytes each, 200 MB at the most steps (RANGES.steps). */
const CONFIG_MAX_BYTES = 256 * 2 ** 20;
/** Room for a safetensors header beyond its tensors' bytes (a few KB for 16 layers). */
export const HEADER_MAX_BYTES = 2 ** 20;

/** config.json beside a checkpoint, checked field by field (schema.ts) before anything is built from it. */
export function readConfig(checkpoint: string): RunConfig {
  const path = join(dirname(checkpoint), FILES.config);
  const bytes = readRegularFile(
    path,
    path,
    CONFIG_MAX_BYTES,
    'missing (it is written beside the checkpoint)',
  );
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UsageError(`${path}: not valid JSON`);
  }
  return validateConfig(config, path);
}

/** The tensors and metadata of a safetensors file of at most `maxBytes`; a missing or corrupt file is a UsageError. */
export function readSafetensors(path: string, maxBytes: number): ReturnType<typeof decodeSafetensors> {
  const bytes = readRegularFile(path, path, maxBytes);
  try {
    return decodeSafetensors(bytes);
  } catch (error) {
    if (error instanceof CheckpointError)
      throw new UsageError(`${path}: not a valid checkpoint: ${error.message}`);
    throw new UsageError(`${path}: not a valid checkpoint`);
  }
}

/**
 * The model of a checkpoint and its config (read here unless the caller read it already), with every
 * parameter's name, shape and dtype checked.
 */
export function loadModel(
  checkpoint: string,
  config: RunConfig = readConfig(checkpoint),
): { model: CharModel; config: RunConfig; step: number } {
  const file = readSafetensors(checkpoint, parameterBytes(config.model) + HEADER_MAX_BYTES);
  // Names, shapes and the step checked against config.json before the model is built.
  checkCheckpoint(checkpoint, file, config);
  const step = config.progress.step;
  const model = new CharModel(config.model, new RandomState(config.training.seed));
  try {
    model.loadStateDict(file.tensors);
  } catch (error) {
    if (error instanceof CheckpointError) {
      throw new UsageError(`${checkpoint}: does not match the model in config.json: ${error.message}`);
    }
    throw error;
  }
  return { model, config, step };
}
