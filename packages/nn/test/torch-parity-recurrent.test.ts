// LSTM, GRU and RNN (tanh, relu) against real PyTorch: tapegrad saves each model, torch loads it with
// load_state_dict(strict=True), both run forward and backward on the same inputs, and every output,
// final state, parameter grad and input grad is compared; then the other way, torch initialises a model
// and tapegrad loads its state_dict. Skipped, with the reason in the title, where torch is not installed.
import { add, type DType, mul, RandomState, sum, type Tensor, tensor } from '@tapegrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, load, type Module, type RecurrentOutput, RNN, type StateDict } from '../src/index.js';
import { ErrorLog, TorchRun, torch, torchTitle } from './torchParity.js';

type Kind = 'lstm' | 'gru' | 'rnn_tanh' | 'rnn_relu';
const LABEL: Record<Kind, string> = { lstm: 'LSTM', gru: 'GRU', rnn_tanh: 'RNN tanh', rnn_relu: 'RNN relu' };

interface Config {
  name: string;
  op: 'recurrent';
  /** torch draws the weights (seeded by `seed`) and tapegrad loads its state_dict. */
  torchInit: boolean;
  kind: 'lstm' | 'gru' | 'rnn';
  nonlinearity: 'tanh' | 'relu';
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  batchFirst: boolean;
  bias: boolean;
  dtype: DType;
  /** h0 (and c0) given, so their grads are compared too; else both sides start from zeros. */
  withState: boolean;
  seed: number;
  label: string;
}

const TIME = 5;
const BATCH = 3;
const LAYOUTS = [
  { numLayers: 1, batchFirst: false, bias: true, withState: true },
  { numLayers: 2, batchFirst: true, bias: true, withState: true },
  { numLayers: 2, batchFirst: false, bias: false, withState: false },
  { numLayers: 1, batchFirst: true, bias: false, withState: true },
];
const KINDS: Kind[] = ['lstm', 'gru', 'rnn_tanh', 'rnn_relu'];
const DTYPES: DType[] = ['float64', 'float32'];

function configOf(
  kind: Kind,
  layout: (typeof LAYOUTS)[number],
  dtype: DType,
  seed: number,
  torchInit: boolean,
): Config {
  const tag = `${layout.numLayers}layer_${layout.batchFirst ? 'batchfirst' : 'timefirst'}${layout.bias ? '' : '_nobias'}${layout.withState ? '' : '_nostate'}`;
  return {
    name: `${torchInit ? 'torchinit_' : ''}${kind}_${tag}_${dtype}`,
    op: 'recurrent',
    torchInit,
    kind: kind === 'lstm' || kind === 'gru' ? kind : 'rnn',
    nonlinearity: kind === 'rnn_relu' ? 'relu' : 'tanh',
    inputSize: 4,
    hiddenSize: 6,
    ...layout,
    dtype,
    seed,
    label: `${LABEL[kind]}${torchInit ? ' (torch init)' : ''}`,
  };
}

const CONFIGS: Config[] = [];
KINDS.forEach((kind) => {
  for (const layout of LAYOUTS)
    for (const dtype of DTYPES) CONFIGS.push(configOf(kind, layout, dtype, CONFIGS.length, false));
  // The other direction: torch draws the weights and tapegrad loads them.
  CONFIGS.push(configOf(kind, LAYOUTS[0]!, 'float64', CONFIGS.length, true));
  CONFIGS.push(configOf(kind, LAYOUTS[1]!, 'float32', CONFIGS.length, true));
});

function moduleOf(c: Config, rng: RandomState): Module {
  const options = { numLayers: c.numLayers, batchFirst: c.batchFirst, bias: c.bias, dtype: c.dtype, rng };
  if (c.kind === 'lstm') return new LSTM(c.inputSize, c.hiddenSize, options);
  if (c.kind === 'gru') return new GRU(c.inputSize, c.hiddenSize, options);
  return new RNN(c.inputSize, c.hiddenSize, { ...options, nonlinearity: c.nonlinearity });
}

/** x, the initial state if any, and the weights g_* of the loss sum(output·g_out) + sum(h_n·g_h) (+ c_n). */
function inputsOf(c: Config, rng: RandomState): StateDict {
  const draw = (shape: number[]) => rng.uniform(-1, 1, shape, { dtype: c.dtype });
  const sequence = (n: number) => (c.batchFirst ? [BATCH, TIME, n] : [TIME, BATCH, n]);
  const state = [c.numLayers, BATCH, c.hiddenSize];
  const inputs: StateDict = {
    x: draw(sequence(c.inputSize)),
    g_out: draw(sequence(c.hiddenSize)),
    g_h: draw(state),
  };
  if (c.kind === 'lstm') inputs.g_c = draw(state);
  if (c.withState) {
    inputs.h0 = draw(state);
    if (c.kind === 'lstm') inputs.c0 = draw(state);
  }
  return inputs;
}

/** tapegrad's side of torch_parity.py's run_recurrent, under the same names. */
function runTapegrad(module: Module, inputs: StateDict): Record<string, Tensor | null> {
  const leaf = (t: Tensor) => tensor(t.data, { shape: t.shape, requiresGrad: true });
  const x = leaf(inputs.x!);
  const h0 = inputs.h0 ? leaf(inputs.h0) : undefined;
  const c0 = inputs.c0 ? leaf(inputs.c0) : undefined;
  const out: RecurrentOutput & { cN?: Tensor } =
    module instanceof LSTM
      ? module.forward(x, h0 ? [h0, c0!] : undefined)
      : (module as GRU | RNN).forward(x, h0);
  let loss = add(sum(mul(out.output, inputs.g_out!)), sum(mul(out.hN, inputs.g_h!)));
  const cN = out.cN;
  if (cN) loss = add(loss, sum(mul(cN, inputs.g_c!)));
  loss.backward();
  const result: Record<string, Tensor | null> = { output: out.output, h_n: out.hN, loss, 'grad.x': x.grad };
  if (cN) result.c_n = cN;
  if (h0) result['grad.h0'] = h0.grad;
  if (c0) result['grad.c0'] = c0.grad;
  for (const [name, p] of module.namedParameters()) result[`grad.${name}`] = p.grad;
  return result;
}

const quantity = (key: string): string =>
  !key.startsWith('grad.')
    ? 'outputs and states'
    : ['grad.x', 'grad.h0', 'grad.c0'].includes(key)
      ? 'input grads'
      : 'parameter grads';

describe.skipIf(!torch.available)(torchTitle('LSTM, GRU, RNN against PyTorch'), () => {
  const run = new TorchRun();
  const log = new ErrorLog();
  const prepared = new Map<string, { module: Module; inputs: StateDict }>();

  beforeAll(async () => {
    for (const c of CONFIGS) {
      const rng = new RandomState(c.seed);
      const module = moduleOf(c, rng);
      const inputs = inputsOf(c, rng);
      prepared.set(c.name, { module, inputs });
      const { label: _label, ...settings } = c;
      await run.add(settings, { params: c.torchInit ? undefined : module, inputs });
    }
    run.run();
  }, 300_000);

  afterAll(() => {
    console.log(log.report('LSTM, GRU, RNN against PyTorch', run.versions));
    run.remove();
  });

  for (const c of CONFIGS) {
    it(`${c.label} ${c.name}`, async () => {
      const { module, inputs } = prepared.get(c.name)!;
      if (c.torchInit) {
        // A fresh model of other weights, then torch's, through the strict loader.
        expect(module.loadStateDict(await load(run.file(c.name, 'torch_params')))).toEqual({
          missingKeys: [],
          unexpectedKeys: [],
        });
      }
      const ours = runTapegrad(module, inputs);
      const theirs = await run.result(c.name);
      expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
      for (const key of Object.keys(theirs)) {
        log.expectMatch(`${c.label} ${quantity(key)}`, `${c.name} ${key}`, ours[key], theirs[key]);
      }
    });
  }
});
