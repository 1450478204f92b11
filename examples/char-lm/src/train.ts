// The two commands: train (fresh or resumed; progress, samples, checkpoints, the loss curve, a clean
// stop on abort) and sample (new lines from a checkpoint).
import { mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { RandomState } from '@tapegrad/core';
import { CheckpointError, writeFileAtomic } from '@tapegrad/nn';
import type { SampleOptions, TrainOptions } from './args.js';
import { FILES, stepFolder } from './config.js';
import { type Corpus, defaultCorpus, readCorpus } from './corpus.js';
import { buildVocab } from './data.js';
import { UsageError } from './errors.js';
import { checkOutputDir } from './files.js';
import { checkSamplingMemory, checkTrainingMemory } from './memory.js';
import { crossEntropyOf, sampleLine } from './model.js';
import { HEADER_MAX_BYTES, isOneFile, loadModel, readConfig, readSafetensors } from './run.js';
import { checkOptimizerState, parameterBytes } from './schema.js';
import {
  EMBEDDING,
  encodeSplit,
  freshSession,
  novelLines,
  resumedSession,
  runConfig,
  type Session,
  trainStep,
} from './session.js';
import { removeStale, resolveCheckpoint, runFolderOf, saveSet, stepsIn } from './store.js';
import { lossCurveSvg } from './svg.js';

export interface Io {
  write(text: string): void;
  /** Messages about bad input (stderr). */
  error(text: string): void;
  /** Redraws the live progress line in place (a terminal); absent, progress goes out as plain lines. */
  status?: (text: string) => void;
  /** Aborting stops training after the current step and saves a checkpoint first (Ctrl-C); the
   * signal's owner acknowledges it on screen. */
  signal?: AbortSignal;
}

const fmtDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

/** The run to start from: fresh (seeded init) or resumed (weights, optimizer state, RNG, losses). */
function prepare(options: TrainOptions, resume: string | undefined): { corpus: Corpus; session: Session } {
  if (!resume) {
    const corpus = options.text === undefined ? defaultCorpus() : readCorpus(options.text);
    const sizes = {
      vocabSize: buildVocab(corpus.lines).length,
      embedding: EMBEDDING,
      hidden: options.hidden,
      layers: options.layers,
    };
    // Before anything is allocated: sizes that fit in memory.
    checkTrainingMemory({ batch: options.batch, lines: corpus.lines, model: sizes });
    const { lr, batch, clip, steps, seed } = options;
    const size = { hidden: options.hidden, layers: options.layers };
    const session = freshSession(corpus.lines, size, { lr, batch, clip, steps, seed });
    return { corpus, session };
  }
  const config = readConfig(resume);
  const { training } = config;
  for (const name of ['hidden', 'layers', 'seed'] as const) {
    const saved = name === 'seed' ? training.seed : config.model[name];
    if (options.given.has(name) && options[name] !== saved) {
      throw new UsageError(
        `--${name} ${options[name]} differs from the checkpoint's ${saved}; leave it out to resume`,
      );
    }
  }
  // Options given now override the checkpoint's; the rest carry over.
  const pick = <K extends 'lr' | 'batch' | 'clip' | 'steps'>(name: K): number =>
    options.given.has(name) ? options[name] : training[name];
  const settings = {
    lr: pick('lr'),
    batch: pick('batch'),
    clip: pick('clip'),
    steps: pick('steps'),
    seed: training.seed,
  };
  const textPath = options.text ?? training.text;
  const corpus: Corpus = textPath === null ? defaultCorpus() : readCorpus(textPath);
  // Before the model is built: sizes that fit in memory.
  checkTrainingMemory({ batch: settings.batch, lines: corpus.lines, model: config.model });
  const { model, optimizerState } = loadModel(resume, config);
  // A one-file set carries Adam's state; a step folder has it in its own file.
  const statePath = optimizerState ? resume : join(dirname(resume), FILES.optimizer);
  // Adam's two moments and a step count per parameter: about twice the checkpoint.
  const state =
    optimizerState ?? readSafetensors(statePath, 2 * parameterBytes(config.model) + HEADER_MAX_BYTES);
  checkOptimizerState(statePath, state, config);
  try {
    return { corpus, session: resumedSession(corpus.lines, config, model, state.tensors, settings) };
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    throw new UsageError(`${FILES.optimizer} beside ${resume} does not fit the checkpoint: ${error.message}`);
  }
}

/** Trains, writing to the output folder; returns the exit code (0, or 130 when aborted). */
export async function train(options: TrainOptions, io: Io): Promise<number> {
  const resume = options.resume === undefined ? undefined : resolveCheckpoint(options.resume, '--resume');
  // A resumed run writes beside its checkpoint, unless that is a one-file set (a download from the web
  // page), which belongs to no run folder.
  const newRun = join('runs', new Date().toISOString().replace(/[:.]/g, '-'));
  const out = options.out ?? (resume && !isOneFile(resume) ? runFolderOf(resume) : newRun);
  // Before anything is read or allocated: a place to write to.
  checkOutputDir(out);
  const { corpus, session } = prepare(options, resume);
  const { vocab, split, model, optimizer, settings, losses, heldOut } = session;
  if (session.step >= settings.steps) {
    throw new UsageError(
      `the checkpoint is already at step ${session.step}; ask for more with --steps (above ${session.step})`,
    );
  }
  prepareOut(out, resume, session.step);
  const { train: trainEncoded, held: heldEncoded, baseline } = encodeSplit(session);
  const known = new Set(corpus.lines);

  // The step last saved: a stop right after a periodic save has nothing new to save.
  let savedAt = session.step;
  const checkpoint = async () => {
    if (savedAt === session.step) return;
    savedAt = session.step;
    await saveSet(out, model, optimizer, runConfig(session, corpus.path, baseline));
    await writeFileAtomic(
      join(out, FILES.curve),
      lossCurveSvg(losses, { title: `char-lm on ${corpus.source}`, baseline, heldOut }),
    );
  };

  io.write(
    `training an LSTM (hidden ${model.config.hidden}, layers ${model.config.layers}) on ${split.train.length} lines of ` +
      `${corpus.source} (${vocab.length} characters), ` +
      `${split.held === split.train ? 'too few to hold any out' : `${split.held.length} held out`}; ` +
      `${options.resume ? `resuming at step ${session.step}, ` : ''}${settings.steps} steps, batch ${settings.batch}, lr ${settings.lr}\n`,
  );
  const now = () => performance.now();
  const started = now();
  const firstStep = session.step;
  const sampleEvery = Math.max(1, Math.ceil(settings.steps / 5));
  const saveEvery = options.saveEvery ?? sampleEvery;
  const logEvery = Math.max(1, Math.ceil(settings.steps / 20));
  // The smoothed loss: an exponential moving average with bias correction, over this session's steps.
  let average = 0;
  let lastStatus = -Infinity;
  let interrupted = false;

  while (session.step < settings.steps && !interrupted) {
    const value = trainStep(session, trainEncoded);
    const step = session.step;
    average = 0.98 * average + 0.02 * value;
    const smoothed = average / (1 - 0.98 ** (step - firstStep));

    const elapsed = (now() - started) / 1000;
    const rate = (step - firstStep) / Math.max(elapsed, 1e-9);
    const line =
      `step ${step}/${settings.steps}  loss ${value.toFixed(3)}  smoothed ${smoothed.toFixed(3)}  ` +
      `${rate.toFixed(1)} steps/s  ETA ${fmtDuration((settings.steps - step) / rate)}`;
    if (io.status) {
      if (now() - lastStatus > 100 || step === settings.steps) {
        io.status(line);
        lastStatus = now();
      }
    } else if (step % logEvery === 0 || step === settings.steps) {
      io.write(`${line}\n`);
    }
    if (step % sampleEvery === 0 && step < settings.steps) {
      const sampleRng = new RandomState((settings.seed + step) % 2 ** 32);
      const names = novelLines(model, vocab, sampleRng, 5, new Set());
      heldOut.push([step, crossEntropyOf(model, heldEncoded)]);
      io.status?.('');
      io.write(`  step ${step}: held-out ${heldOut.at(-1)![1].toFixed(3)}; samples: ${names.join(', ')}\n`);
    }
    if ((step % sampleEvery === 0 || step % saveEvery === 0) && step < settings.steps) await checkpoint();
    // Let a pending Ctrl-C through between steps.
    await new Promise((resolve) => setImmediate(resolve));
    interrupted = io.signal?.aborted ?? false;
  }
  io.status?.('');
  const near = relative(process.cwd(), out);
  const where = near === '' ? '.' : near.startsWith('..') ? resolve(out) : near;
  if (interrupted) {
    await checkpoint();
    io.write(
      `stopped at step ${session.step}/${settings.steps}; checkpoint saved in ${where}: resume with\n` +
        `  pnpm demo --resume ${where}\n`,
    );
    return 130;
  }
  const seconds = (now() - started) / 1000;
  const heldLoss = crossEntropyOf(model, heldEncoded);
  const trainLoss = crossEntropyOf(model, trainEncoded);
  heldOut.push([session.step, heldLoss]);
  await checkpoint();
  io.write(
    `done: ${session.step - firstStep} steps in ${fmtDuration(seconds)}\n` +
      `cross-entropy, nats per character: held-out ${heldLoss.toFixed(3)}, training ${trainLoss.toFixed(3)}; ` +
      `unigram baseline ${baseline.toFixed(3)}\n`,
  );
  const fresh = novelLines(model, vocab, new RandomState(settings.seed), 10, known);
  io.write(`new names (in neither the training nor the held-out lines):\n  ${fresh.join('\n  ')}\n`);
  io.write(
    `wrote ${where}/: ${stepFolder(session.step)}/ (${FILES.checkpoint}, ${FILES.optimizer}, ${FILES.config}) and ${FILES.curve}\n` +
      `sample more with: pnpm demo sample --checkpoint ${where}\n`,
  );
  return 0;
}

/**
 * The run folder (checkOutputDir has seen that it can be one), made before any step is taken so that
 * no step is lost to it; it must not hold another run's checkpoints (new saves would prune them).
 */
function prepareOut(out: string, resume: string | undefined, step: number): void {
  try {
    mkdirSync(out, { recursive: true });
  } catch (error) {
    throw new UsageError(`--out ${out}: cannot write there (${(error as NodeJS.ErrnoException).code})`);
  }
  const newest = stepsIn(out).at(-1);
  if (newest && !resume) {
    throw new UsageError(
      `--out ${out}: holds a run already (at step ${newest.step}); continue it with --resume ${out}, or choose another --out`,
    );
  }
  if (newest && resume && newest.step > step) {
    throw new UsageError(
      `--out ${out}: holds a later checkpoint (step ${newest.step}) than the one resumed (step ${step}); ` +
        'resume the later one, or write this run elsewhere with --out',
    );
  }
  // Temporary sets left by a save that was killed: never a checkpoint, only clutter.
  removeStale(out);
}

/** Prints `count` lines drawn from a checkpoint. */
export function sample(options: SampleOptions, io: Io): number {
  const checkpoint = resolveCheckpoint(options.checkpoint, '--checkpoint');
  const config = readConfig(checkpoint);
  checkSamplingMemory(config, checkpoint);
  const { model } = loadModel(checkpoint, config);
  const rng = new RandomState(options.seed);
  for (let i = 0; i < options.count; i++) {
    io.write(`${sampleLine(model, config.vocab, rng, options.temperature)}\n`);
  }
  return 0;
}
