// The checks a saved run passes before anything is built from it: config.json field by field (the
// command line's ranges), the checkpoint's tensors against the model config.json describes, and the
// optimizer's state complete for every parameter and at the same step. Each problem is one UsageError
// naming the file and the field.
import type { RandomStateSnapshot } from '@tapegrad/core';
import type { Safetensors } from '@tapegrad/nn';
import { FORMAT, type RunConfig } from './config.js';
import { BOUNDARY } from './data.js';
import { UsageError } from './errors.js';
import type { ModelConfig } from './model.js';
import { boundsOf, inRange, RANGES, type Range } from './ranges.js';

/** MT19937's state: 624 words (RandomStateSnapshot.key) and a position in [0, 624]. */
const MT_WORDS = 624;
/** Unicode's code points: no vocabulary of single characters is larger. */
const MAX_VOCAB = 0x110000;

const RULES = {
  vocabSize: { min: 2, max: MAX_VOCAB, integer: true },
  embedding: RANGES.hidden,
  progressStep: { min: 0, max: RANGES.steps.max, integer: true },
  rngWord: { min: 0, max: 2 ** 32 - 1, integer: true },
  rngPos: { min: 0, max: MT_WORDS, integer: true },
} satisfies Record<string, Range>;

/** A value as a message shows it: short, and never a whole array or object. */
function show(value: unknown): string {
  if (typeof value === 'string') {
    const text = JSON.stringify(value);
    return text.length > 40 ? `${text.slice(0, 37)}..."` : text;
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Field checks that throw a message without the file; validateConfig adds it. */
class Invalid extends Error {}

function present(value: unknown, field: string): void {
  if (value === undefined) throw new Invalid(`${field} is missing`);
}

function record(value: unknown, field: string): Record<string, unknown> {
  present(value, field);
  if (!isRecord(value)) throw new Invalid(`${field} must be an object, got ${show(value)}`);
  return value;
}

function array(value: unknown, field: string, what: string): unknown[] {
  present(value, field);
  if (!Array.isArray(value)) throw new Invalid(`${field} must be ${what}, got ${show(value)}`);
  return value;
}

const rangeText = (range: Range): string => `${range.integer ? 'an integer' : 'a number'} ${boundsOf(range)}`;

function number(value: unknown, field: string, range: Range): number {
  present(value, field);
  if (typeof value !== 'number' || !inRange(value, range)) {
    throw new Invalid(`${field} must be ${rangeText(range)}, got ${show(value)}`);
  }
  return value;
}

/** A loss or a held-out cross-entropy: a number ≥ 0, or null (JSON's NaN, from a diverged step). */
function nats(value: unknown, field: string): void {
  present(value, field);
  if (value !== null && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
    throw new Invalid(`${field} must be a number ≥ 0 (or null for NaN), got ${show(value)}`);
  }
}

function checkVocab(value: unknown): string[] {
  const vocab = array(value, 'vocab', 'an array of single characters');
  const seen = new Map<string, number>();
  vocab.forEach((ch, i) => {
    // One code point, as buildVocab splits a line (an astral character is one, not two UTF-16 units).
    if (typeof ch !== 'string' || [...ch].length !== 1) {
      throw new Invalid(`vocab[${i}] must be a single character, got ${show(ch)}`);
    }
    const first = seen.get(ch);
    if (first !== undefined) throw new Invalid(`vocab[${i}] repeats vocab[${first}] (${show(ch)})`);
    seen.set(ch, i);
  });
  if (vocab.length < RULES.vocabSize.min) {
    throw new Invalid(`vocab must hold at least ${RULES.vocabSize.min} characters, got ${vocab.length}`);
  }
  if (vocab[0] !== BOUNDARY)
    throw new Invalid(`vocab[0] must be the line boundary "\\n", got ${show(vocab[0])}`);
  return vocab as string[];
}

function checkModel(value: unknown, vocab: readonly string[]): void {
  const model = record(value, 'model');
  const vocabSize = number(model.vocabSize, 'model.vocabSize', RULES.vocabSize);
  if (vocabSize !== vocab.length) {
    throw new Invalid(`model.vocabSize must equal the length of vocab (${vocab.length}), got ${vocabSize}`);
  }
  number(model.embedding, 'model.embedding', RULES.embedding);
  number(model.hidden, 'model.hidden', RANGES.hidden);
  number(model.layers, 'model.layers', RANGES.layers);
}

function checkTraining(value: unknown): number {
  const training = record(value, 'training');
  for (const name of ['lr', 'batch', 'clip', 'seed', 'steps'] as const) {
    number(training[name], `training.${name}`, RANGES[name]);
  }
  present(training.text, 'training.text');
  if (training.text !== null && !(typeof training.text === 'string' && training.text.trim() !== '')) {
    throw new Invalid(
      `training.text must be a file path or null (the Pokémon names), got ${show(training.text)}`,
    );
  }
  return training.steps as number;
}

function checkRng(value: unknown): void {
  const rng = record(value, 'progress.rng') as Partial<Record<keyof RandomStateSnapshot, unknown>>;
  const key = array(rng.key, 'progress.rng.key', `an array of ${MT_WORDS} integers`);
  if (key.length !== MT_WORDS) {
    throw new Invalid(`progress.rng.key must be an array of ${MT_WORDS} integers, got ${show(key)}`);
  }
  key.forEach((word, i) => {
    number(word, `progress.rng.key[${i}]`, RULES.rngWord);
  });
  number(rng.pos, 'progress.rng.pos', RULES.rngPos);
  present(rng.hasGauss, 'progress.rng.hasGauss');
  if (typeof rng.hasGauss !== 'boolean') {
    throw new Invalid(`progress.rng.hasGauss must be true or false, got ${show(rng.hasGauss)}`);
  }
  present(rng.gauss, 'progress.rng.gauss');
  if (typeof rng.gauss !== 'number' || !Number.isFinite(rng.gauss)) {
    throw new Invalid(`progress.rng.gauss must be a finite number, got ${show(rng.gauss)}`);
  }
}

function checkProgress(value: unknown, steps: number): void {
  const progress = record(value, 'progress');
  const step = number(progress.step, 'progress.step', RULES.progressStep);
  if (step > steps) throw new Invalid(`progress.step must be ≤ training.steps (${steps}), got ${step}`);
  const losses = array(progress.losses, 'progress.losses', 'an array of losses');
  if (losses.length !== step) {
    throw new Invalid(`progress.losses must hold one loss per step (${step}), got ${losses.length}`);
  }
  losses.forEach((loss, i) => {
    nats(loss, `progress.losses[${i}]`);
  });
  const heldOut = array(progress.heldOut, 'progress.heldOut', 'an array of [step, nats] pairs');
  const heldStep = { min: 1, max: step, integer: true };
  heldOut.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new Invalid(`progress.heldOut[${i}] must be a [step, nats] pair, got ${show(pair)}`);
    }
    number(pair[0], `progress.heldOut[${i}][0]`, heldStep);
    nats(pair[1], `progress.heldOut[${i}][1]`);
  });
  checkRng(progress.rng);
}

/** config.json's parsed value as a RunConfig, or a UsageError naming `path` and the first bad field. */
export function validateConfig(value: unknown, path: string): RunConfig {
  try {
    const config = record(value, 'the file');
    present(config.format, 'format');
    if (config.format !== FORMAT) {
      throw new Invalid(`format must be ${JSON.stringify(FORMAT)}, got ${show(config.format)}`);
    }
    const vocab = checkVocab(config.vocab);
    checkModel(config.model, vocab);
    const steps = checkTraining(config.training);
    number(config.baseline, 'baseline', { min: 0, max: 100 });
    checkProgress(config.progress, steps);
    return config as unknown as RunConfig;
  } catch (error) {
    if (error instanceof Invalid) throw new UsageError(`${path}: ${error.message}`);
    throw error;
  }
}

/** A tensor as a message shows it: 'float32 [39,32]'. */
const describe = (t: { dtype: string; shape: readonly number[] }): string =>
  `${t.dtype} [${t.shape.join(',')}]`;

/** CharModel's parameters in parameters() order (the optimizer's indices), with PyTorch's names. */
export function expectedParameters(model: ModelConfig): { name: string; shape: number[] }[] {
  const { vocabSize, embedding, hidden, layers } = model;
  const lstm = Array.from({ length: layers }, (_, k) => [
    { name: `lstm.weight_ih_l${k}`, shape: [4 * hidden, k === 0 ? embedding : hidden] },
    { name: `lstm.weight_hh_l${k}`, shape: [4 * hidden, hidden] },
    { name: `lstm.bias_ih_l${k}`, shape: [4 * hidden] },
    { name: `lstm.bias_hh_l${k}`, shape: [4 * hidden] },
  ]).flat();
  return [
    { name: 'embedding.weight', shape: [vocabSize, embedding] },
    ...lstm,
    { name: 'head.weight', shape: [vocabSize, hidden] },
    { name: 'head.bias', shape: [vocabSize] },
  ];
}

/** Bytes of the model's float32 parameters. */
export const parameterBytes = (model: ModelConfig): number =>
  expectedParameters(model).reduce((sum, p) => sum + 4 * p.shape.reduce((n, d) => n * d, 1), 0);

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Every tensor of `want` present with its dtype and shape, and no other; `what` says what a name is,
 * `context` what a mismatch means.
 */
function checkTensors(
  path: string,
  tensors: Safetensors['tensors'],
  want: { name: string; dtype: string; shape: number[]; what: string }[],
  context: string,
): void {
  for (const { name, dtype, shape, what } of want) {
    const t = tensors[name];
    if (!t) throw new UsageError(`${path}: ${context}: ${name} (${what}) is missing`);
    if (t.dtype !== dtype || !sameShape(t.shape, shape)) {
      throw new UsageError(
        `${path}: ${context}: ${name} (${what}) must be ${describe({ dtype, shape })}, got ${describe(t)}`,
      );
    }
  }
  const known = new Set(want.map((w) => w.name));
  const extra = Object.keys(tensors).find((name) => !known.has(name));
  if (extra !== undefined) throw new UsageError(`${path}: ${context}: unexpected tensor '${extra}'`);
}

/** The checkpoint holds this program's format at config.json's step, and the model's tensors. */
export function checkCheckpoint(path: string, checkpoint: Safetensors, config: RunConfig): void {
  const { metadata, tensors } = checkpoint;
  if (metadata.format !== FORMAT) throw new UsageError(`${path}: not a checkpoint of this program`);
  if (metadata.step !== String(config.progress.step)) {
    throw new UsageError(
      `${path}: it holds step ${metadata.step} but config.json beside it is at step ${config.progress.step}`,
    );
  }
  const { vocabSize } = config.model;
  checkTensors(
    path,
    tensors,
    expectedParameters(config.model).map(({ name, shape }) => ({
      name,
      shape,
      dtype: 'float32',
      what: name.startsWith('lstm') ? 'an LSTM weight' : `for ${vocabSize} characters`,
    })),
    'does not match the model in config.json',
  );
}

/**
 * Adam's state for every parameter at the checkpoint's step (none at step 0): each parameter's
 * `<i>.exp_avg` and `<i>.exp_avg_sq` with its shape and dtype, and `<i>.step` equal to the step, so a
 * resumed run goes on where it stopped rather than restarting Adam from nothing.
 */
export function checkOptimizerState(path: string, state: Safetensors, config: RunConfig): void {
  const step = config.progress.step;
  if (state.metadata.format !== FORMAT)
    throw new UsageError(`${path}: not an optimizer state of this program`);
  if (state.metadata.step !== String(step)) {
    throw new UsageError(
      `${path}: its metadata step must be ${step} (config.json's and the checkpoint's), got ${show(state.metadata.step)}`,
    );
  }
  const params = step === 0 ? [] : expectedParameters(config.model);
  checkTensors(
    path,
    state.tensors,
    params.flatMap(({ name, shape }, i) => [
      { name: `${i}.step`, dtype: 'float64', shape: [], what: `Adam's step count of ${name}` },
      { name: `${i}.exp_avg`, dtype: 'float32', shape, what: `Adam's first moment of ${name}` },
      { name: `${i}.exp_avg_sq`, dtype: 'float32', shape, what: `Adam's second moment of ${name}` },
    ]),
    `does not fit the checkpoint at step ${step}`,
  );
  params.forEach(({ name }, i) => {
    const count = state.tensors[`${i}.step`]!.data[0];
    if (count !== step) {
      throw new UsageError(
        `${path}: does not fit the checkpoint at step ${step}: ${i}.step (Adam's step count of ${name}) is ${count}`,
      );
    }
  });
}
