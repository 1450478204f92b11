// A training run in memory, with no Node in it: the model, Adam, the seeded stream, the split and the
// losses so far, built fresh or from a saved set, and one training step. The command line (train.ts)
// and the web page's worker (examples/char-lm-web) both drive it, so both train the same way.
import { indexSelect, RandomState, tensor, tidy } from '@tapegrad/core';
import {
  Adam,
  CheckpointError,
  clipGradNorm,
  crossEntropy,
  type Safetensors,
  type StateDict,
} from '@tapegrad/nn';
import { FORMAT, type RunConfig } from './config.js';
import { buildVocab, encode, makeBatch, splitLines, unigramCrossEntropy, type Vocab } from './data.js';
import { UsageError } from './errors.js';
import { CharModel, sampleLine } from './model.js';
import { checkCheckpoint } from './schema.js';

export const EMBEDDING = 32;
const SAMPLE_TEMPERATURE = 0.8;

export interface Settings {
  lr: number;
  batch: number;
  clip: number;
  /** The step the run trains to. */
  steps: number;
  seed: number;
}

export interface Session {
  vocab: Vocab;
  /** Batches are drawn from it; its state is saved with each checkpoint. */
  rng: RandomState;
  split: { train: string[]; held: string[] };
  model: CharModel;
  optimizer: Adam;
  settings: Settings;
  /** Steps taken so far; losses[i] is step i + 1's. */
  step: number;
  losses: number[];
  heldOut: [number, number][];
}

/** A new run: the seeded stream shuffles the lines, then initialises the model. */
export function freshSession(
  lines: readonly string[],
  size: { hidden: number; layers: number },
  settings: Settings,
): Session {
  const vocab = buildVocab(lines);
  const rng = new RandomState(settings.seed);
  const split = splitLines(lines, rng);
  const model = new CharModel({ vocabSize: vocab.length, embedding: EMBEDDING, ...size }, rng);
  const optimizer = new Adam(model.parameters(), { lr: settings.lr });
  return { vocab, rng, split, model, optimizer, settings, step: 0, losses: [], heldOut: [] };
}

/**
 * A saved run going on: the same split (the seed's shuffle), Adam's state and the stream where they
 * were, so it continues exactly as one that never stopped. `optimizerState` has been checked against
 * the config (schema.ts); a CheckpointError from loading it is the caller's to word.
 */
export function resumedSession(
  lines: readonly string[],
  config: RunConfig,
  model: CharModel,
  optimizerState: StateDict,
  settings: Settings,
): Session {
  const rng = new RandomState(config.training.seed);
  const split = splitLines(lines, rng);
  const optimizer = new Adam(model.parameters(), { lr: settings.lr });
  optimizer.loadStateDict(optimizerState);
  rng.setState(config.progress.rng);
  return {
    vocab: config.vocab,
    rng,
    split,
    model,
    optimizer,
    settings,
    step: config.progress.step,
    losses: [...config.progress.losses],
    heldOut: [...config.progress.heldOut],
  };
}

/** The model a checkpoint holds, its names, shapes and step checked against config.json first. */
export function modelOf(where: string, checkpoint: Safetensors, config: RunConfig): CharModel {
  checkCheckpoint(where, checkpoint, config);
  const model = new CharModel(config.model, new RandomState(config.training.seed));
  try {
    model.loadStateDict(checkpoint.tensors);
  } catch (error) {
    if (error instanceof CheckpointError) {
      throw new UsageError(`${where}: does not match the model in config.json: ${error.message}`);
    }
    throw error;
  }
  return model;
}

/** The split's lines as indices, and the unigram baseline the model has to beat on the held-out ones. */
export function encodeSplit(session: Session): { train: number[][]; held: number[][]; baseline: number } {
  const { vocab, split } = session;
  const train = split.train.map((line) => encode(line, vocab));
  const held = split.held.map((line) => encode(line, vocab));
  return { train, held, baseline: unigramCrossEntropy(train, held, vocab.length) };
}

/** One step of Adam on a batch of lines drawn from the stream; returns its loss (also kept in losses). */
export function trainStep(session: Session, train: readonly number[][]): number {
  const { rng, model, optimizer, settings } = session;
  // In tidy: the step's tensors are disposed when it returns, their buffers reused by the next step.
  const value = tidy(() => {
    const picks = rng.randint(0, train.length, settings.batch).data;
    const batch = makeBatch(Array.from(picks, (i) => train[i]!));
    const { logits } = model.forward(tensor(batch.inputs, { shape: [batch.steps, batch.batch] }));
    // Only the positions that carry a real character count; padding is left out of the loss.
    const loss = crossEntropy(indexSelect(logits, 0, batch.rows), batch.targets);
    optimizer.zeroGrad();
    loss.backward();
    if (settings.clip > 0) clipGradNorm(model.parameters(), settings.clip);
    optimizer.step();
    return loss.item();
  });
  session.step++;
  session.losses.push(value);
  return value;
}

/** config.json of the session as it stands; `text` is the corpus file (null: the Pokémon names). */
export function runConfig(session: Session, text: string | null, baseline: number): RunConfig {
  const { vocab, model, settings, step, losses, heldOut, rng } = session;
  return {
    format: FORMAT,
    vocab,
    model: model.config,
    training: { ...settings, text },
    baseline,
    progress: { step, losses, heldOut, rng: rng.getState() },
  };
}

/** Up to `count` sampled lines that are in none of `known`, trying at most 50 per line wanted. */
export function novelLines(
  model: CharModel,
  vocab: readonly string[],
  rng: RandomState,
  count: number,
  known: ReadonlySet<string>,
): string[] {
  const found = new Set<string>();
  for (let tries = 0; found.size < count && tries < 50 * count; tries++) {
    const line = sampleLine(model, vocab, rng, SAMPLE_TEMPERATURE);
    if (line.trim() !== '' && !known.has(line)) found.add(line);
  }
  return [...found];
}
