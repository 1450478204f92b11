// The training, off the page's thread: the char-LSTM of examples/char-lm (its session, the same step,
// the same checkpoints) on the Pokémon names, stopped and resumed on the page's word, and the gradient
// checks of the recurrent cells.
import { RandomState } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { CheckpointError, decodeSafetensors } from '@tapegrad/nn';
import names from 'pokemon/data/en.json' with { type: 'json' };
import { encodeSet, isOneFileSet, splitSet } from '../../char-lm/src/bundle.js';
import { stepFolder } from '../../char-lm/src/config.js';
import { UsageError } from '../../char-lm/src/errors.js';
import { boundsOf, inRange, RANGES, type Range } from '../../char-lm/src/ranges.js';
import { checkOptimizerState, validateConfig } from '../../char-lm/src/schema.js';
import {
  encodeSplit,
  freshSession,
  modelOf,
  novelLines,
  resumedSession,
  runConfig,
  type Session,
  trainStep,
} from '../../char-lm/src/session.js';
import { builtinChecks } from '../../gradcheck-report/src/checks.js';
import { runCheck } from '../../gradcheck-report/src/report.js';
import type { FromWorker, RunSettings, ToWorker } from './protocol.js';

const CELLS = new Set(['rnnTanhCell', 'rnnReluCell', 'lstmCell', 'gruCell']);
const CASES = { min: 1, max: 1000, integer: true };
/** The plot's new points go out at most this often (ms), not every step. */
const PROGRESS_EVERY_MS = 100;

const post = (message: FromWorker, transfer: Transferable[] = []) => self.postMessage(message, transfer);

// Two threads at most (what has been measured). Core runs them only where it can: on a cross-origin
// isolated page, whose wasm memory may be posted to Web Workers; elsewhere setThreads keeps one, and
// getThreads (shown on the page) says so.
const isolated = self.crossOriginIsolated === true;
kernels.setThreads(Math.min(2, navigator.hardwareConcurrency || 1));
post({ type: 'ready', threads: kernels.getThreads(), isolated });

let run: { session: Session; data: ReturnType<typeof encodeSplit> } | null = null;
let training = false;
let stopAsked = false;

/** Lets messages already sent (a Stop) in between two steps; a zero timeout would be clamped to 4 ms. */
const channel = new MessageChannel();
const yieldToMessages = () =>
  new Promise<void>((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });

function begin(session: Session): void {
  run = { session, data: encodeSplit(session) };
  post({
    type: 'run',
    step: session.step,
    steps: session.settings.steps,
    losses: [...session.losses],
    vocabSize: session.vocab.length,
  });
}

/** Trains to the run's target step, posting losses and sampled names, until done or stopped. */
async function train(): Promise<void> {
  if (!run || training) return;
  const { session, data } = run;
  const { steps, seed } = session.settings;
  const namesEvery = Math.max(10, Math.ceil(steps / 20));
  const known = new Set(names);
  training = true;
  stopAsked = false;
  post({ type: 'state', state: 'training', step: session.step });
  let fresh: number[] = [];
  let lastPost = performance.now();
  while (session.step < steps && !stopAsked) {
    fresh.push(trainStep(session, data.train));
    const step = session.step;
    if (performance.now() - lastPost > PROGRESS_EVERY_MS || step === steps) {
      post({ type: 'progress', step, steps, losses: fresh });
      fresh = [];
      lastPost = performance.now();
    }
    if (step % namesEvery === 0 || step === steps) {
      // Seeded by the step, as the command line samples, so that sampling never moves the batches' stream.
      const sampleRng = new RandomState((seed + step) % 2 ** 32);
      post({ type: 'names', step, names: novelLines(session.model, session.vocab, sampleRng, 6, known) });
    }
    await yieldToMessages();
  }
  if (fresh.length > 0) post({ type: 'progress', step: session.step, steps, losses: fresh });
  training = false;
  post({ type: 'state', state: session.step >= steps ? 'done' : 'stopped', step: session.step });
}

/** A checkpoint the page downloaded before (one file: weights, Adam's state and config.json), checked whole. */
function open(name: string, bytes: Uint8Array): Session {
  let file: ReturnType<typeof decodeSafetensors>;
  try {
    file = decodeSafetensors(bytes);
  } catch (error) {
    if (error instanceof CheckpointError)
      throw new UsageError(`${name}: not a valid checkpoint: ${error.message}`);
    throw error;
  }
  if (!isOneFileSet(file.metadata)) {
    throw new UsageError(
      `${name}: holds no config.json in its metadata; pick a checkpoint this page downloaded (a step folder's checkpoint.safetensors needs its config.json and optimizer.safetensors)`,
    );
  }
  const set = splitSet(file);
  const where = `${name} (config.json in its metadata)`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(set.config);
  } catch {
    throw new UsageError(`${where}: not valid JSON`);
  }
  const config = validateConfig(parsed, where);
  if (config.training.text !== null) {
    throw new UsageError(
      `${name}: was trained on ${config.training.text}; this page trains on the Pokémon names only`,
    );
  }
  const model = modelOf(name, set.checkpoint, config);
  checkOptimizerState(name, set.optimizer, config);
  const { lr, batch, clip, steps, seed } = config.training;
  return resumedSession(names, config, model, set.optimizer.tensors, { lr, batch, clip, steps, seed });
}

function download(): void {
  if (!run) throw new UsageError('download: nothing trained yet');
  const { session, data } = run;
  const bytes = encodeSet(session.model, session.optimizer, runConfig(session, null, data.baseline));
  post({ type: 'checkpoint', name: `char-lm-${stepFolder(session.step)}.safetensors`, bytes }, [
    bytes.buffer,
  ]);
}

function gradcheckCells(cases: number): void {
  const started = performance.now();
  const verdicts = builtinChecks()
    .filter((check) => CELLS.has(check.name))
    .map((check) => {
      const { name, ok, cases: ran, worstRelError, witness } = runCheck(check, cases);
      return { name, ok, cases: ran, worstRelError, ...(witness === undefined ? {} : { witness }) };
    });
  post({ type: 'gradcheck', verdicts, seconds: (performance.now() - started) / 1000 });
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case 'start':
        if (training) throw new UsageError('start: stop the run in progress first');
        {
          for (const [name, value] of Object.entries(message.settings)) {
            const range: Range = RANGES[name as keyof RunSettings];
            if (!inRange(value, range))
              throw new UsageError(
                `${name} must be ${range.integer ? 'an integer' : 'a number'} ${boundsOf(range)}, got ${value}`,
              );
          }
          const { hidden, layers, ...settings } = message.settings;
          begin(freshSession(names, { hidden, layers }, { ...settings, clip: 1 }));
        }
        await train();
        break;
      case 'stop':
        stopAsked = true;
        break;
      case 'resume':
        if (training) return;
        if (!run) throw new UsageError('resume: start a run or open a checkpoint first');
        if (message.steps <= run.session.step) {
          throw new UsageError(
            `resume: the run is at step ${run.session.step} already; raise "train to step" above it`,
          );
        }
        run.session.settings.steps = message.steps;
        await train();
        break;
      case 'open':
        if (training) throw new UsageError('open: stop the run in progress first');
        begin(open(message.name, message.bytes));
        post({ type: 'state', state: 'stopped', step: run!.session.step });
        break;
      case 'download':
        download();
        break;
      case 'gradcheck':
        if (!inRange(message.cases, CASES)) {
          throw new UsageError(
            `gradcheck: cases must be an integer ${boundsOf(CASES)}, got ${message.cases}`,
          );
        }
        gradcheckCells(message.cases);
        break;
    }
  } catch (error) {
    training = false;
    post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  }
};
