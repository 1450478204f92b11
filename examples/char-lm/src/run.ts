// A saved set of a training run: the checkpoint (safetensors, PyTorch's names), the optimizer's state,
// and config.json (vocabulary, hyper-parameters, progress and the RNG's state) that make it resumable.
// How sets are written and found in a run folder is store.ts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RandomState, type RandomStateSnapshot } from '@tapegrad/core';
import { CheckpointError, decodeSafetensors } from '@tapegrad/nn';
import { UsageError } from './errors.js';
import { CharModel, type ModelConfig } from './model.js';

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

const isPositiveInt = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0;

/** config.json beside a checkpoint, checked field by field. */
export function readConfig(checkpoint: string): RunConfig {
  const path = join(dirname(checkpoint), FILES.config);
  let config: RunConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as RunConfig;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UsageError(
      `${path}: ${missing ? 'missing (it is written beside the checkpoint)' : 'not valid JSON'}`,
    );
  }
  const { vocab, model, training, progress } = config ?? {};
  const problems = [
    config?.format !== FORMAT && `format is not ${FORMAT}`,
    !(Array.isArray(vocab) && vocab.length > 1 && vocab.every((c) => typeof c === 'string')) && 'bad vocab',
    !(
      model &&
      isPositiveInt(model.vocabSize) &&
      model.vocabSize === vocab?.length &&
      isPositiveInt(model.embedding) &&
      isPositiveInt(model.hidden) &&
      isPositiveInt(model.layers)
    ) && 'bad model sizes',
    !(training && Number.isInteger(training.seed) && training.seed >= 0) && 'bad training settings',
    !(
      progress &&
      Number.isInteger(progress.step) &&
      Array.isArray(progress.losses) &&
      Array.isArray(progress.heldOut)
    ) && 'bad progress',
  ].filter(Boolean);
  if (problems.length > 0)
    throw new UsageError(`${path}: not a config this program wrote (${problems.join(', ')})`);
  return config;
}

/** The tensors and metadata of a safetensors file; a missing or corrupt file is a UsageError. */
export function readSafetensors(path: string): ReturnType<typeof decodeSafetensors> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${path}: cannot read it (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  try {
    return decodeSafetensors(bytes);
  } catch (error) {
    if (error instanceof CheckpointError)
      throw new UsageError(`${path}: not a valid checkpoint: ${error.message}`);
    throw new UsageError(`${path}: not a valid checkpoint`);
  }
}

/** The model of a checkpoint and its config, with every parameter's name, shape and dtype checked. */
export function loadModel(checkpoint: string): { model: CharModel; config: RunConfig; step: number } {
  const config = readConfig(checkpoint);
  const { tensors, metadata } = readSafetensors(checkpoint);
  if (metadata.format !== FORMAT) throw new UsageError(`${checkpoint}: not a checkpoint of this program`);
  const step = Number(metadata.step);
  if (step !== config.progress.step) {
    throw new UsageError(
      `${checkpoint}: it holds step ${metadata.step} but config.json beside it is at step ${config.progress.step}`,
    );
  }
  const model = new CharModel(config.model, new RandomState(config.training.seed));
  try {
    model.loadStateDict(tensors);
  } catch (error) {
    if (error instanceof CheckpointError) {
      throw new UsageError(`${checkpoint}: does not match the model in config.json: ${error.message}`);
    }
    throw error;
  }
  return { model, config, step };
}
