// `pnpm --filter @tapegrad/bench soak`: trains an LSTM on the echo task for many steps and samples
// the live heap (after a forced gc, compiled code left out) and RSS, to show that a long run does not leak.
// Run with node --expose-gc; prints one JSON line per sample and a summary line last.
// SOAK_LEAK=1 keeps every step's loss (and through it the step's graph): the leak the check must see.
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { RandomState, reshape, slice, type Tensor } from '@tapegrad/core';
import { Adam, clipGradNorm, crossEntropy, Embedding, Linear, LSTM, Module } from '@tapegrad/nn';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '10000' },
    every: { type: 'string', default: '250' },
    baseline: { type: 'string', default: '1000' },
    hidden: { type: 'string', default: '32' },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);
const baseline = Number(values.baseline);
const hidden = Number(values.hidden);

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('soak: run with node --expose-gc');

const VOCAB = 4;
const DELAY = 2;
const LENGTH = 12;
const BATCH = 16;

class Echo extends Module {
  readonly embed: Embedding;
  readonly lstm: LSTM;
  readonly head: Linear;

  constructor(rng: RandomState) {
    super();
    this.embed = this.registerModule('embed', new Embedding(VOCAB, 8, { rng }));
    this.lstm = this.registerModule('lstm', new LSTM(8, hidden, { rng }));
    this.head = this.registerModule('head', new Linear(hidden, VOCAB, { rng }));
  }

  /** The loss of predicting token[t - DELAY] at every step t ≥ DELAY; tokens [LENGTH, BATCH]. */
  loss(tokens: Tensor): Tensor {
    const { output } = this.lstm.forward(this.embed.forward(tokens));
    const logits = this.head.forward(slice(output, [DELAY], [LENGTH]));
    const targets = Array.from(tokens.data.subarray(0, (LENGTH - DELAY) * BATCH));
    return crossEntropy(reshape(logits, [-1, VOCAB]), targets);
  }
}

/**
 * Live JS heap plus typed-array backing stores (where tensor data lives), after a full gc, less V8's
 * code space: compiled code grows and shrinks by up to 170 KB (2% here) between samples as functions
 * are optimized and deoptimized, which is not a leak and made the short soak's 5% check flaky.
 */
function sample(step: number, loss: number) {
  collect!();
  collect!();
  const m = process.memoryUsage();
  const code =
    getHeapSpaceStatistics().find((space) => space.space_name === 'code_space')?.space_used_size ?? 0;
  return {
    step,
    heap: m.heapUsed - code + m.arrayBuffers,
    heapUsed: m.heapUsed,
    codeSpace: code,
    arrayBuffers: m.arrayBuffers,
    rss: m.rss,
    loss,
  };
}

const rng = new RandomState(0);
const model = new Echo(rng);
const optimizer = new Adam(model.parameters(), { lr: 0.01 });
const kept: Tensor[] = [];
const leak = process.env.SOAK_LEAK === '1';
const samples: ReturnType<typeof sample>[] = [];
const started = performance.now();
let loss = Number.NaN;
for (let step = 1; step <= steps; step++) {
  const value = model.loss(rng.randint(0, VOCAB, [LENGTH, BATCH]));
  optimizer.zeroGrad();
  value.backward();
  clipGradNorm(model.parameters(), 5);
  optimizer.step();
  loss = value.item();
  if (leak) kept.push(value);
  if (step % every === 0 || step === baseline) {
    const s = sample(step, loss);
    samples.push(s);
    console.log(JSON.stringify(s));
  }
}

// Least-squares slope of the heap over the samples from the baseline on, in bytes per step.
const after = samples.filter((s) => s.step >= baseline);
const mx = after.reduce((a, s) => a + s.step, 0) / after.length;
const my = after.reduce((a, s) => a + s.heap, 0) / after.length;
const slope =
  after.reduce((a, s) => a + (s.step - mx) * (s.heap - my), 0) /
  after.reduce((a, s) => a + (s.step - mx) ** 2, 0);
const first = after[0]!;
const last = after[after.length - 1]!;
console.log(
  JSON.stringify({
    summary: true,
    steps,
    hidden,
    seconds: (performance.now() - started) / 1000,
    baselineStep: first.step,
    heapAtBaseline: first.heap,
    heapAtEnd: last.heap,
    relativeChange: (last.heap - first.heap) / first.heap,
    slopeBytesPerStep: slope,
    rssAtBaseline: first.rss,
    rssAtEnd: last.rss,
    rssMax: Math.max(...samples.map((s) => s.rss)),
    finalLoss: loss,
    kept: kept.length,
  }),
);
