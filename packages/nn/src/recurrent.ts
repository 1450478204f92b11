// Recurrent modules: RNNCell/LSTMCell/GRUCell around the fused cells, and RNN/LSTM/GRU layers that
// run each layer over the whole sequence as one customOp (cells/sequence.ts), so backward through time
// is that op's hand-derived backward. Names and layout are PyTorch's.

import {
  DTypeError,
  formatShape as fmt,
  reshape,
  ShapeError,
  split,
  stack,
  Tensor,
  transpose,
  zeros,
} from '@tapegrad/core';
import { markLibraryCode } from '@tapegrad/core/kernels';
import { gruCell } from './cells/gru.js';
import { lstmCell } from './cells/lstm.js';
import { type RnnNonlinearity, rnnCell } from './cells/rnn.js';
import { gruSequence, lstmSequence, rnnSequence } from './cells/sequence.js';
import { type InitOptions, recurrentUniform } from './init.js';
import { Module, Parameter } from './module.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

type Kind = 'rnn' | 'lstm' | 'gru';
const GATES: Record<Kind, number> = { rnn: 1, lstm: 4, gru: 3 };
const LABEL: Record<Kind, string> = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' };

export interface RecurrentCellOptions extends InitOptions {
  /** Learn the biases b_ih and b_hh (default true); without them the cells get zeros. */
  bias?: boolean;
  /** The RNN's activation (default tanh). */
  nonlinearity?: RnnNonlinearity;
}

interface CellWeights {
  weightIh: Tensor;
  weightHh: Tensor;
  biasIh: Tensor;
  biasHh: Tensor;
}

/**
 * Registers one cell's four parameters in PyTorch's order (which is also the draw order of its
 * reset_parameters: every one uniform(±1/√H)) under `weight_ih<suffix>` and so on.
 */
function registerCell(
  register: (name: string, p: Parameter) => Parameter,
  kind: Kind,
  inputSize: number,
  hiddenSize: number,
  suffix: string,
  options: RecurrentCellOptions,
): CellWeights {
  const width = GATES[kind] * hiddenSize;
  const param = (name: string, shape: number[]): Tensor =>
    register(`${name}${suffix}`, new Parameter(recurrentUniform(shape, hiddenSize, options)));
  const weightIh = param('weight_ih', [width, inputSize]);
  const weightHh = param('weight_hh', [width, hiddenSize]);
  if (options.bias ?? true) {
    return { weightIh, weightHh, biasIh: param('bias_ih', [width]), biasHh: param('bias_hh', [width]) };
  }
  const none = zeros([width], { dtype: options.dtype });
  return { weightIh, weightHh, biasIh: none, biasHh: none };
}

/** One step of a cell: the next state ([h] or [h, c]) from x and the state. */
function cellStep(
  kind: Kind,
  nonlinearity: RnnNonlinearity,
  x: Tensor,
  state: Tensor[],
  w: CellWeights,
): Tensor[] {
  const [h, c] = state as [Tensor, Tensor | undefined];
  const { weightIh, weightHh, biasIh, biasHh } = w;
  if (kind === 'lstm') return lstmCell(x, h, c!, weightIh, weightHh, biasIh, biasHh);
  if (kind === 'gru') return [gruCell(x, h, weightIh, weightHh, biasIh, biasHh)];
  return [rnnCell(x, h, weightIh, weightHh, biasIh, biasHh, { nonlinearity })];
}

/** One layer over a sequence x [T, B, I]: [output [T, B, H], ...the final state ([h] or [h, c])]. */
function sequenceStep(
  kind: Kind,
  nonlinearity: RnnNonlinearity,
  x: Tensor,
  state: Tensor[],
  w: CellWeights,
): Tensor[] {
  const [h, c] = state as [Tensor, Tensor | undefined];
  const { weightIh, weightHh, biasIh, biasHh } = w;
  if (kind === 'lstm') return lstmSequence(x, h, c!, weightIh, weightHh, biasIh, biasHh);
  if (kind === 'gru') return gruSequence(x, h, weightIh, weightHh, biasIh, biasHh);
  return rnnSequence(x, h, weightIh, weightHh, biasIh, biasHh, { nonlinearity });
}

function checkSizes(label: string, sizes: Record<string, number>): void {
  for (const [name, n] of Object.entries(sizes)) {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`${label}: ${name} must be a positive integer, got ${n}`);
  }
}

function checkNonlinearity(label: string, nonlinearity: unknown): RnnNonlinearity {
  if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
    throw new RangeError(`${label}: nonlinearity must be 'tanh' or 'relu', got ${String(nonlinearity)}`);
  }
  return nonlinearity;
}

function checkState(label: string, name: string, t: Tensor, want: number[], dtype: string): void {
  if (!(t instanceof Tensor)) throw new TypeError(`${label}: ${name} must be a Tensor, got ${String(t)}`);
  if (t.rank !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new ShapeError(`${label}: ${name} has shape ${fmt(t.shape)}, expected ${fmt(want)}`);
  }
  if (t.dtype !== dtype) throw new DTypeError(`${label}: ${name} is ${t.dtype}, the weights are ${dtype}`);
}

/** An LSTM state is a pair; a lone tensor would otherwise be read as no state at all. */
function checkPair(label: string, state: unknown, names: string): void {
  if (state !== undefined && (!Array.isArray(state) || state.length !== 2)) {
    throw new TypeError(`${label}: the state must be a pair [${names}], got ${String(state)}`);
  }
}

/** The cell modules' shared part: parameters weight_ih, weight_hh, bias_ih, bias_hh. */
abstract class CellModule extends Module {
  protected readonly weights: CellWeights;
  protected readonly nonlinearity: RnnNonlinearity;

  constructor(
    protected readonly kind: Kind,
    readonly inputSize: number,
    readonly hiddenSize: number,
    options: RecurrentCellOptions,
  ) {
    super();
    const label = `${LABEL[kind]}Cell`;
    checkSizes(label, { inputSize, hiddenSize });
    this.nonlinearity = checkNonlinearity(label, options.nonlinearity ?? 'tanh');
    this.weights = registerCell(
      (n, p) => this.registerParameter(n, p),
      kind,
      inputSize,
      hiddenSize,
      '',
      options,
    );
  }

  /** The state after x [B, I], from `state` (zeros when absent). */
  protected run(x: Tensor, state: readonly (Tensor | undefined)[]): Tensor[] {
    const label = `${LABEL[this.kind]}Cell`;
    if (!(x instanceof Tensor)) throw new TypeError(`${label}: x must be a Tensor, got ${String(x)}`);
    if (x.rank !== 2)
      throw new ShapeError(`${label}: x must be [batch, ${this.inputSize}], got ${fmt(x.shape)}`);
    const want = [x.shape[0]!, this.hiddenSize];
    const full = state.map((s, i) => {
      if (!s) return zeros(want, { dtype: this.weights.weightIh.dtype });
      checkState(label, i === 0 ? 'h' : 'c', s, want, this.weights.weightIh.dtype);
      return s;
    });
    return cellStep(this.kind, this.nonlinearity, x, full, this.weights);
  }
}

/** h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh), as torch.nn.RNNCell. */
export class RNNCell extends CellModule {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentCellOptions = {}) {
    super('rnn', inputSize, hiddenSize, options);
  }

  forward(x: Tensor, h?: Tensor): Tensor {
    return this.run(x, [h])[0]!;
  }
}

/** [h', c'] of x and [h, c], gates i, f, g, o, as torch.nn.LSTMCell. */
export class LSTMCell extends CellModule {
  constructor(
    inputSize: number,
    hiddenSize: number,
    options: Omit<RecurrentCellOptions, 'nonlinearity'> = {},
  ) {
    super('lstm', inputSize, hiddenSize, options);
  }

  forward(x: Tensor, state?: readonly [Tensor, Tensor]): [Tensor, Tensor] {
    checkPair('LSTMCell', state, 'h, c');
    return this.run(x, state ? [state[0], state[1]] : [undefined, undefined]) as [Tensor, Tensor];
  }
}

/** h' with gates r, z, n, as torch.nn.GRUCell. */
export class GRUCell extends CellModule {
  constructor(
    inputSize: number,
    hiddenSize: number,
    options: Omit<RecurrentCellOptions, 'nonlinearity'> = {},
  ) {
    super('gru', inputSize, hiddenSize, options);
  }

  forward(x: Tensor, h?: Tensor): Tensor {
    return this.run(x, [h])[0]!;
  }
}

export interface RecurrentOptions extends RecurrentCellOptions {
  /** Stacked layers, each reading the hidden sequence of the one below (default 1). */
  numLayers?: number;
  /** Input and output are [B, T, ·] instead of [T, B, ·]. */
  batchFirst?: boolean;
}

export interface RecurrentOutput {
  /** The top layer's hidden state at every step: [T, B, H] ([B, T, H] with batchFirst). */
  output: Tensor;
  /** Every layer's last hidden state: [numLayers, B, H]. */
  hN: Tensor;
}

export interface LSTMOutput extends RecurrentOutput {
  /** Every layer's last cell state: [numLayers, B, H]. */
  cN: Tensor;
}

/** The layers' shared part: a cell per layer (weight_ih_l0, ...), unrolled over the time axis. */
abstract class RecurrentLayer extends Module {
  readonly numLayers: number;
  readonly batchFirst: boolean;
  protected readonly layers: CellWeights[] = [];
  protected readonly nonlinearity: RnnNonlinearity;

  constructor(
    protected readonly kind: Kind,
    readonly inputSize: number,
    readonly hiddenSize: number,
    options: RecurrentOptions,
  ) {
    super();
    this.numLayers = options.numLayers ?? 1;
    this.batchFirst = options.batchFirst ?? false;
    checkSizes(LABEL[kind], { inputSize, hiddenSize, numLayers: this.numLayers });
    this.nonlinearity = checkNonlinearity(LABEL[kind], options.nonlinearity ?? 'tanh');
    for (let l = 0; l < this.numLayers; l++) {
      const layerInput = l === 0 ? inputSize : hiddenSize;
      const register = (n: string, p: Parameter) => this.registerParameter(n, p);
      this.layers.push(registerCell(register, kind, layerInput, hiddenSize, `_l${l}`, options));
    }
  }

  /** Runs each layer over time; `initial` holds [h0] or [h0, c0], each [numLayers, B, H] (zeros when absent). */
  protected run(input: Tensor, initial: readonly (Tensor | undefined)[]): Tensor[] {
    const label = LABEL[this.kind];
    const dtype = this.layers[0]!.weightIh.dtype;
    const timeAxis = this.batchFirst ? 1 : 0;
    const layout = this.batchFirst ? '[batch, time, input]' : '[time, batch, input]';
    if (!(input instanceof Tensor))
      throw new TypeError(`${label}: input must be a Tensor, got ${String(input)}`);
    if (input.rank !== 3 || input.shape[2] !== this.inputSize || input.shape[timeAxis] === 0) {
      throw new ShapeError(
        `${label}: input has shape ${fmt(input.shape)}, expected ${layout} with input ${this.inputSize} and time ≥ 1`,
      );
    }
    if (input.dtype !== dtype)
      throw new DTypeError(`${label}: input is ${input.dtype}, the weights are ${dtype}`);
    const batch = input.shape[1 - timeAxis]!;
    const stateShape = [batch, this.hiddenSize];
    // Per layer, the state it starts from: the slices of h0 (and c0), or zeros.
    const starts = initial.map((s, k) => {
      if (!s) return this.layers.map(() => zeros(stateShape, { dtype }));
      checkState(label, k === 0 ? 'h0' : 'c0', s, [this.numLayers, ...stateShape], dtype);
      if (this.numLayers === 1) return [reshape(s, stateShape)];
      return split(s, this.numLayers, 0).map((t) => reshape(t, stateShape));
    });
    // The sequence ops read and write [T, B, ·].
    let sequence = this.batchFirst ? transpose(input, [1, 0, 2]) : input;
    const finals: Tensor[][] = initial.map(() => []);
    this.layers.forEach((weights, l) => {
      const state = starts.map((perLayer) => perLayer[l]!);
      const [output, ...last] = sequenceStep(this.kind, this.nonlinearity, sequence, state, weights);
      sequence = output!;
      last.forEach((s, k) => {
        finals[k]!.push(s);
      });
    });
    const stateShapeAll = [this.numLayers, ...stateShape];
    return [
      this.batchFirst ? transpose(sequence, [1, 0, 2]) : sequence,
      ...finals.map((f) => (f.length === 1 ? reshape(f[0]!, stateShapeAll) : stack(f, 0))),
    ];
  }
}

/** An Elman RNN over a sequence, as torch.nn.RNN (tanh or relu). */
export class RNN extends RecurrentLayer {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('rnn', inputSize, hiddenSize, options);
  }

  forward(input: Tensor, h0?: Tensor): RecurrentOutput {
    const [output, hN] = this.run(input, [h0]) as [Tensor, Tensor];
    return { output, hN };
  }
}

/** An LSTM over a sequence, as torch.nn.LSTM; the state is [h0, c0]. */
export class LSTM extends RecurrentLayer {
  constructor(inputSize: number, hiddenSize: number, options: Omit<RecurrentOptions, 'nonlinearity'> = {}) {
    super('lstm', inputSize, hiddenSize, options);
  }

  forward(input: Tensor, state?: readonly [Tensor, Tensor]): LSTMOutput {
    checkPair('LSTM', state, 'h0, c0');
    const [output, hN, cN] = this.run(input, state ? [state[0], state[1]] : [undefined, undefined]) as [
      Tensor,
      Tensor,
      Tensor,
    ];
    return { output, hN, cN };
  }
}

/** A GRU over a sequence, as torch.nn.GRU. */
export class GRU extends RecurrentLayer {
  constructor(inputSize: number, hiddenSize: number, options: Omit<RecurrentOptions, 'nonlinearity'> = {}) {
    super('gru', inputSize, hiddenSize, options);
  }

  forward(input: Tensor, h0?: Tensor): RecurrentOutput {
    const [output, hN] = this.run(input, [h0]) as [Tensor, Tensor];
    return { output, hN };
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
