// Linear, Embedding, crossEntropy, mse, SGD, Adam and clipGradNorm against real PyTorch: the same
// weights (tapegrad's save, torch's load_state_dict(strict=True)) and inputs on both sides, and every
// output, loss, grad, optimizer step and buffer compared. Skipped, with the reason in the title, where
// torch is not installed.
import { add, type DType, mul, RandomState, stack, sum, Tensor, tensor } from '@tapegrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Adam,
  clipGradNorm,
  crossEntropy,
  Embedding,
  Linear,
  load,
  mse,
  type Optimizer,
  type Reduction,
  SGD,
  type StateDict,
} from '../src/index.js';
import { ErrorLog, type ParityCase, TorchRun, torch, torchTitle } from './torchParity.js';

type Results = Record<string, Tensor | null>;

interface Case {
  settings: ParityCase;
  /** Names the comparison a result key belongs to, for the error table. */
  label: (key: string) => string;
  /** Draws the model and inputs; `ours` is tapegrad's run of the case, under torch_parity.py's names. */
  build: (rng: RandomState) => { model?: Linear | Embedding; inputs: StateDict; ours: () => Results };
}

const DTYPES: DType[] = ['float64', 'float32'];
const leaf = (t: Tensor) => tensor(t.data, { shape: t.shape, requiresGrad: true });
const draw = (rng: RandomState, shape: number[], dtype: DType, scale = 1) =>
  rng.uniform(-scale, scale, shape, { dtype });

/** A Linear with every weight drawn (its own init leaves the bias at zeros, which would test nothing). */
function linearModel(rng: RandomState, inFeatures: number, outFeatures: number, dtype: DType, bias = true) {
  const model = new Linear(inFeatures, outFeatures, { rng, dtype, bias });
  const drawn: StateDict = { weight: draw(rng, [outFeatures, inFeatures], dtype) };
  if (bias) drawn.bias = draw(rng, [outFeatures], dtype);
  model.loadStateDict(drawn);
  return model;
}

const gradsOf = (model: Linear | Embedding, prefix = 'grad.'): Results =>
  Object.fromEntries(model.namedParameters().map(([name, p]) => [`${prefix}${name}`, p.grad]));

const CASES: Case[] = [];

for (const dtype of DTYPES) {
  for (const [bias, torchInit] of [
    [true, false],
    [false, false],
    [true, true],
  ]) {
    CASES.push({
      settings: {
        name: `${torchInit ? 'torchinit_' : ''}linear${bias ? '' : '_nobias'}_${dtype}`,
        op: 'linear',
        torchInit,
        inFeatures: 4,
        outFeatures: 5,
        bias,
        dtype,
      },
      label: (key) =>
        `Linear${torchInit ? ' (torch init)' : ''} ${key.startsWith('grad.') ? 'grads' : 'outputs'}`,
      build(rng) {
        const model = linearModel(rng, 4, 5, dtype, bias);
        const inputs = { x: draw(rng, [2, 3, 4], dtype), g: draw(rng, [2, 3, 5], dtype) };
        const ours = () => {
          const x = leaf(inputs.x);
          const y = model.forward(x);
          const loss = sum(mul(y, inputs.g));
          loss.backward();
          return { y, loss, 'grad.x': x.grad, ...gradsOf(model) };
        };
        return { model, inputs, ours };
      },
    });
  }

  for (const torchInit of [false, true]) {
    CASES.push({
      settings: {
        name: `${torchInit ? 'torchinit_' : ''}embedding_${dtype}`,
        op: 'embedding',
        torchInit,
        numEmbeddings: 7,
        embeddingDim: 3,
        dtype,
      },
      label: (key) =>
        `Embedding${torchInit ? ' (torch init)' : ''} ${key.startsWith('grad.') ? 'grads' : 'outputs'}`,
      build(rng) {
        const model = new Embedding(7, 3, { rng, dtype });
        // Rows used twice and three times (their grads add up), and rows never used (zero grads).
        const indices = tensor(
          [
            [0, 3, 3, 6],
            [1, 0, 3, 2],
          ],
          { dtype: 'float64' },
        );
        const inputs = { indices, g: draw(rng, [2, 4, 3], dtype) };
        const ours = () => {
          const y = model.forward(indices);
          const loss = sum(mul(y, inputs.g));
          loss.backward();
          return { y, loss, ...gradsOf(model) };
        };
        return { model, inputs, ours };
      },
    });
  }

  for (const reduction of ['mean', 'sum'] as Reduction[]) {
    CASES.push({
      settings: { name: `cross_entropy_${reduction}_${dtype}`, op: 'cross_entropy', reduction },
      label: (key) => `crossEntropy ${key === 'loss' ? 'loss' : 'grad'}`,
      build(rng) {
        // Rows shifted far up and down: only a max-shifted log-sum-exp keeps them finite.
        const shift = tensor([[0], [60], [-40], [0], [5], [0]], { dtype });
        const logits = add(mul(draw(rng, [6, 5], dtype), 3), shift);
        const inputs = { logits, targets: tensor([2, 0, 4, 1, 1, 3], { dtype: 'float64' }) };
        const ours = () => {
          const x = leaf(logits);
          const loss = crossEntropy(x, inputs.targets, { reduction });
          loss.backward();
          return { loss, 'grad.logits': x.grad };
        };
        return { inputs, ours };
      },
    });

    CASES.push({
      settings: { name: `mse_${reduction}_${dtype}`, op: 'mse', reduction },
      label: (key) => `mse ${key === 'loss' ? 'loss' : 'grads'}`,
      build(rng) {
        const inputs = { prediction: draw(rng, [4, 3], dtype), target: draw(rng, [4, 3], dtype) };
        const ours = () => {
          const [prediction, target] = [leaf(inputs.prediction), leaf(inputs.target)];
          const loss = mse(prediction, target, { reduction });
          loss.backward();
          return { loss, 'grad.prediction': prediction.grad, 'grad.target': target.grad };
        };
        return { inputs, ours };
      },
    });
  }
}

/** Steps of zeroGrad, mse(linear(x), target), backward, step: each loss, the final weights, the buffers. */
function optimizerCase(
  name: string,
  settings: Record<string, unknown>,
  dtype: DType,
  make: (m: Linear) => Optimizer,
): Case {
  const op = String(settings.op);
  const title = op === 'sgd' ? 'SGD' : 'Adam';
  const steps = 6;
  return {
    settings: { name: `${name}_${dtype}`, inFeatures: 3, outFeatures: 2, dtype, steps, ...settings, op },
    label: (key) =>
      `${title} ${key === 'losses' ? 'losses' : key.startsWith('param.') ? 'weights' : 'state'}`,
    build(rng) {
      const model = linearModel(rng, 3, 2, dtype);
      const inputs = { x: draw(rng, [8, 3], dtype), target: draw(rng, [8, 2], dtype) };
      const ours = () => {
        const optimizer = make(model);
        const losses: Tensor[] = [];
        for (let step = 0; step < steps; step++) {
          optimizer.zeroGrad();
          const loss = mse(model.forward(inputs.x), inputs.target);
          loss.backward();
          optimizer.step();
          losses.push(loss);
        }
        const results: Results = { losses: stack(losses) };
        for (const [name, p] of model.namedParameters()) results[`param.${name}`] = p.detach();
        for (const [key, t] of Object.entries(optimizer.stateDict())) {
          if (!key.endsWith('.step')) results[`state.${key}`] = t;
        }
        return results;
      };
      return { model, inputs, ours };
    },
  };
}

for (const dtype of DTYPES) {
  const sgd = [
    { name: 'sgd_plain', lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },
    { name: 'sgd_momentum', lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 },
    {
      name: 'sgd_momentum_dampening_decay',
      lr: 0.05,
      momentum: 0.8,
      dampening: 0.3,
      nesterov: false,
      weightDecay: 0.01,
    },
    { name: 'sgd_nesterov_decay', lr: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.05 },
  ];
  for (const { name, ...o } of sgd) {
    CASES.push(optimizerCase(name, { op: 'sgd', ...o }, dtype, (m) => new SGD(m.parameters(), o)));
  }
  const adam = [
    { name: 'adam_defaults', lr: 0.01, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0 },
    { name: 'adam_betas_eps_decay', lr: 0.02, betas: [0.8, 0.99] as const, eps: 1e-6, weightDecay: 0.1 },
  ];
  for (const { name, ...o } of adam) {
    CASES.push(optimizerCase(name, { op: 'adam', ...o }, dtype, (m) => new Adam(m.parameters(), o)));
  }

  const clips = [
    { name: 'clip_l2', maxNorm: 0.5, normType: 2 },
    { name: 'clip_l2_not_reached', maxNorm: 100, normType: 2 },
    { name: 'clip_l1', maxNorm: 0.3, normType: 1 },
    { name: 'clip_inf', maxNorm: 0.1, normType: Infinity },
  ];
  for (const { name, maxNorm, normType } of clips) {
    CASES.push({
      // JSON has no Infinity; python's float('inf') reads the string.
      settings: {
        name: `${name}_${dtype}`,
        op: 'clip_grad_norm',
        inFeatures: 3,
        outFeatures: 2,
        dtype,
        maxNorm,
        normType: normType === Infinity ? 'inf' : normType,
      },
      label: (key) => `clipGradNorm ${key === 'total' ? 'total norm' : 'grads'}`,
      build(rng) {
        const model = linearModel(rng, 3, 2, dtype);
        const inputs = { x: draw(rng, [8, 3], dtype, 2), target: draw(rng, [8, 2], dtype) };
        const ours = () => {
          mse(model.forward(inputs.x), inputs.target).backward();
          const before = gradsOf(model, 'before.');
          const total = clipGradNorm(model.parameters(), maxNorm, { normType });
          const totalTensor = new Tensor(
            dtype === 'float64' ? Float64Array.of(total) : Float32Array.of(total),
            [],
          );
          return { total: totalTensor, ...before, ...gradsOf(model) };
        };
        return { model, inputs, ours };
      },
    });
  }
}

describe.skipIf(!torch.available)(
  torchTitle('Linear, Embedding, losses, optimizers, clipping against PyTorch'),
  () => {
    const run = new TorchRun();
    const log = new ErrorLog();
    const built = new Map<string, { model?: Linear | Embedding; ours: () => Results }>();

    beforeAll(async () => {
      for (const [i, c] of CASES.entries()) {
        const { model, inputs, ours } = c.build(new RandomState(100 + i));
        built.set(c.settings.name, { model, ours });
        const params = c.settings.torchInit ? undefined : model;
        await run.add({ ...c.settings, seed: i }, { params, inputs });
      }
      run.run();
    }, 300_000);

    afterAll(() => {
      console.log(
        log.report('Linear, Embedding, losses, optimizers, clipping against PyTorch', run.versions),
      );
      run.remove();
    });

    for (const c of CASES) {
      it(c.settings.name, async () => {
        const { model, ours: runOurs } = built.get(c.settings.name)!;
        if (c.settings.torchInit) {
          // torch's own init replaces tapegrad's, through the strict loader.
          const loaded = model!.loadStateDict(await load(run.file(c.settings.name, 'torch_params')));
          expect(loaded).toEqual({ missingKeys: [], unexpectedKeys: [] });
        }
        const ours = runOurs();
        const theirs = await run.result(c.settings.name);
        expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
        for (const key of Object.keys(theirs)) {
          log.expectMatch(c.label(key), `${c.settings.name} ${key}`, ours[key], theirs[key]);
        }
      });
    }
  },
);
