// Every public function of nn, called wrongly, one family of mistakes per test: the error is typed and
// names the function and what was wrong, and a refused call leaves weights and optimizer state as they were.
import { DTypeError, RandomState, ShapeError, sum, type Tensor, tensor, zeros } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  CheckpointError,
  clipGradNorm,
  clipGradValue,
  crossEntropy,
  Embedding,
  GRU,
  gruCell,
  gruSequence,
  Linear,
  LSTM,
  LSTMCell,
  linear,
  lstmCell,
  lstmSequence,
  mse,
  normal,
  Parameter,
  RNN,
  recurrentUniform,
  rnnCell,
  rnnSequence,
  SGD,
  saveSafetensors,
  stepByStep,
  uniform,
  xavierUniform,
} from '../src/index.js';

type ErrorClass = new (...args: never[]) => Error;
type Case = [call: string, fn: () => unknown, type: ErrorClass, message: RegExp];

/** Each case must throw an error of its class whose message matches, and none from deep inside. */
function expectAll(cases: readonly Case[]): void {
  for (const [call, fn, type, message] of cases) {
    let thrown: unknown;
    try {
      fn();
    } catch (error) {
      thrown = error;
    }
    expect(thrown, `${call} did not throw`).toBeInstanceOf(Error);
    expect(thrown, `${call} threw ${String(thrown)}`).toBeInstanceOf(type);
    const text = (thrown as Error).message;
    expect(text, call).toMatch(message);
    expect(text, `${call}: ${text}`).not.toMatch(/Cannot read propert|is not a function|is not iterable/);
  }
}

const rng = () => new RandomState(0);
const [B, I, H] = [2, 3, 4];
const x = zeros([B, I]);
const h = zeros([B, H]);
const lstmWeights = [zeros([4 * H, I]), zeros([4 * H, H]), zeros([4 * H]), zeros([4 * H])] as const;
const gruWeights = [zeros([3 * H, I]), zeros([3 * H, H]), zeros([3 * H]), zeros([3 * H])] as const;
const rnnWeights = [zeros([H, I]), zeros([H, H]), zeros([H]), zeros([H])] as const;
const f64 = (shape: number[]) => zeros(shape, { dtype: 'float64' });
const stepParams = {
  Wax: zeros([5, 3]),
  Waa: zeros([5, 5]),
  Wya: zeros([2, 5]),
  ba: zeros([5, 1]),
  by: zeros([2, 1]),
};

describe('error families of nn', () => {
  it('wrong shapes: the function, the tensor and the shape it needed', () => {
    const lstm = new LSTM(I, H, { rng: rng() });
    expectAll([
      [
        'lstmCell x',
        () => lstmCell(zeros([B, 5]), h, h, ...lstmWeights),
        ShapeError,
        /^lstmCell: weightIh has shape \[16,3\], expected \[16,5\] = \[4·hidden, input\]/,
      ],
      [
        'lstmCell h',
        () => lstmCell(x, zeros([3, H]), h, ...lstmWeights),
        ShapeError,
        /^lstmCell: h has shape \[3,4\], expected \[2,4\] = \[batch, hidden\]/,
      ],
      [
        'lstmCell 1-D x',
        () => lstmCell(zeros([I]), h, h, ...lstmWeights),
        ShapeError,
        /^lstmCell: x must be \[batch, input\], got \[3\]/,
      ],
      [
        'gruCell weightHh',
        () => gruCell(x, h, gruWeights[0], zeros([3 * H, 5]), gruWeights[2], gruWeights[3]),
        ShapeError,
        /^gruCell: weightHh has shape \[12,5\], expected \[12,4\]/,
      ],
      [
        'rnnCell weightIh',
        () => rnnCell(x, h, zeros([H, 5]), ...(rnnWeights.slice(1) as [Tensor, Tensor, Tensor])),
        ShapeError,
        /^rnnTanhCell: weightIh has shape \[4,5\], expected \[4,3\]/,
      ],
      [
        'lstmSequence 2-D x',
        () => lstmSequence(x, h, h, ...lstmWeights),
        ShapeError,
        /^lstmSequence: x must be \[time, batch, input\]/,
      ],
      [
        'rnnSequence h0',
        () => rnnSequence(zeros([2, B, I]), zeros([B, 5]), ...rnnWeights),
        ShapeError,
        /^rnnTanhSequence: .*h0 \[2,5\]/,
      ],
      [
        'linear',
        () => linear(x, zeros([5, 4])),
        ShapeError,
        /^linear: x \[2,3\] does not fit weight \[5,4\] = \[out, in\]/,
      ],
      [
        'linear bias',
        () => linear(x, zeros([5, I]), zeros([4])),
        ShapeError,
        /^linear: bias \[4\] does not fit weight \[5,3\]/,
      ],
      [
        'Linear.forward',
        () => new Linear(3, 2, { rng: rng() }).forward(zeros([2, 4])),
        ShapeError,
        /^linear: x \[2,4\] does not fit weight \[2,3\]/,
      ],
      [
        'LSTM.forward input',
        () => lstm.forward(zeros([2, B, 5])),
        ShapeError,
        /^LSTM: input has shape \[2,2,5\], expected \[time, batch, input\] with input 3/,
      ],
      [
        'LSTM.forward h0',
        () => lstm.forward(zeros([2, B, I]), [zeros([1, B, 5]), zeros([1, B, H])]),
        ShapeError,
        /^LSTM: h0 has shape \[1,2,5\], expected \[1,2,4\]/,
      ],
      [
        'GRU.forward h0 rank',
        () => new GRU(I, H, { rng: rng() }).forward(zeros([2, B, I]), h),
        ShapeError,
        /^GRU: h0 has shape \[2,4\], expected \[1,2,4\]/,
      ],
      [
        'RNN.forward 4-D',
        () => new RNN(I, H, { rng: rng() }).forward(zeros([2, B, I, 1])),
        ShapeError,
        /^RNN: input has shape \[2,2,3,1\]/,
      ],
      [
        'LSTMCell.forward 3-D',
        () => new LSTMCell(I, H, { rng: rng() }).forward(zeros([2, B, I])),
        ShapeError,
        /^LSTMCell: x must be \[batch, 3\], got \[2,2,3\]/,
      ],
      [
        'crossEntropy 1-D logits',
        () => crossEntropy(zeros([3]), [0]),
        ShapeError,
        /^crossEntropy: logits must be \[N, C\], got \[3\]/,
      ],
      [
        'crossEntropy targets',
        () => crossEntropy(zeros([2, 3]), [0]),
        ShapeError,
        /^crossEntropy: targets \[1\] do not match logits \[2,3\] \(want \[2\]\)/,
      ],
      [
        'mse',
        () => mse(zeros([2]), zeros([3])),
        ShapeError,
        /^mse: prediction \[2\] and target \[3\] differ/,
      ],
      [
        'Parameter.assign',
        () => new Parameter(zeros([2])).assign(zeros([3])),
        ShapeError,
        /^Parameter\.assign: expected float32 \[2\], got float32 \[3\]/,
      ],
      [
        'stepByStep.rnnCellForward',
        () => stepByStep.rnnCellForward(zeros([4, 10]), zeros([5, 10]), stepParams),
        ShapeError,
        /^rnnCellForward: Wax has shape \[5,3\], expected \[5,4\]/,
      ],
      [
        'stepByStep.rnnForward 2-D x',
        () => stepByStep.rnnForward(zeros([3, 10]), zeros([5, 10]), stepParams),
        ShapeError,
        /^rnnForward: x must have rank 3, got shape \[3,10\]/,
      ],
    ]);
  });

  it('wrong dtypes: the function and both dtypes, never a silent cast', () => {
    const p = new Parameter(zeros([2]));
    expectAll([
      [
        'lstmCell',
        () => lstmCell(f64([B, I]), h, h, ...lstmWeights),
        DTypeError,
        /^lstmCell: h is float32 but x is float64 \(all inputs need one dtype/,
      ],
      [
        'gruSequence',
        () => gruSequence(zeros([2, B, I]), f64([B, H]), ...gruWeights),
        DTypeError,
        /^gruSequence: h0 is float64 but x is float32/,
      ],
      ['linear', () => linear(x, f64([5, I])), DTypeError, /^linear: dtypes differ: x float32, float64/],
      [
        'LSTM.forward',
        () => new LSTM(I, H, { rng: rng() }).forward(f64([2, B, I])),
        DTypeError,
        /^LSTM: input is float64, the weights are float32/,
      ],
      // mse used to report the sub inside it; it now names itself.
      ['mse', () => mse(zeros([2]), f64([2])), DTypeError, /^mse: prediction is float32, target is float64/],
      [
        'Parameter.assign',
        () => p.assign(f64([2])),
        DTypeError,
        /^Parameter\.assign: expected float32 \[2\], got float64 \[2\]/,
      ],
    ]);
  });

  it('NaN, negative and fractional sizes and hyperparameters: refused with the name of the argument', () => {
    expectAll([
      // These three used to fail inside RandomState.uniform, naming neither Linear nor the argument.
      [
        'Linear(NaN, 2)',
        () => new Linear(Number.NaN, 2),
        RangeError,
        /^Linear: inFeatures must be an integer ≥ 0, got NaN/,
      ],
      [
        'Linear(2, -1)',
        () => new Linear(2, -1),
        RangeError,
        /^Linear: outFeatures must be an integer ≥ 0, got -1/,
      ],
      [
        'Linear(1.5, 2)',
        () => new Linear(1.5, 2),
        RangeError,
        /^Linear: inFeatures must be an integer ≥ 0, got 1.5/,
      ],
      [
        'Embedding(NaN, 3)',
        () => new Embedding(Number.NaN, 3),
        RangeError,
        /^Embedding: numEmbeddings must be an integer ≥ 0, got NaN/,
      ],
      [
        'Embedding(2, -1)',
        () => new Embedding(2, -1),
        RangeError,
        /^Embedding: embeddingDim must be an integer ≥ 0, got -1/,
      ],
      [
        'LSTM(NaN, 2)',
        () => new LSTM(Number.NaN, 2),
        RangeError,
        /^LSTM: inputSize must be a positive integer, got NaN/,
      ],
      [
        'LSTM(2, 2.5)',
        () => new LSTM(2, 2.5),
        RangeError,
        /^LSTM: hiddenSize must be a positive integer, got 2.5/,
      ],
      [
        'LSTM numLayers 0',
        () => new LSTM(2, 2, { numLayers: 0 }),
        RangeError,
        /^LSTM: numLayers must be a positive integer, got 0/,
      ],
      [
        'xavierUniform 1-D',
        () => xavierUniform([3] as never),
        RangeError,
        /^xavierUniform: needs a weight shape \[fanOut, fanIn\]/,
      ],
      [
        'xavierUniform NaN',
        () => xavierUniform([Number.NaN, 2]),
        RangeError,
        /^xavierUniform: needs a weight shape/,
      ],
      [
        'recurrentUniform 0',
        () => recurrentUniform([2], 0),
        RangeError,
        /^recurrentUniform: hiddenSize must be a positive integer, got 0/,
      ],
      [
        'uniform NaN shape',
        () => uniform([Number.NaN], 1),
        Error,
        /^RandomState\.uniform: size\[0\] \(NaN\)/,
      ],
      [
        'normal std -1',
        () => normal([2], -1),
        Error,
        /^RandomState\.normal: scale \(-1\) must be finite and >= 0/,
      ],
      [
        'Embedding index NaN',
        () => new Embedding(4, 3, { rng: rng() }).forward([Number.NaN]),
        RangeError,
        /^indexSelect: index NaN at position \[0\] is not an integer/,
      ],
      [
        'Embedding index 4',
        () => new Embedding(4, 3, { rng: rng() }).forward([4]),
        RangeError,
        /^indexSelect: index 4 at position \[0\] is out of range for axis 0 of size 4/,
      ],
      [
        'crossEntropy target NaN',
        () => crossEntropy(zeros([2, 3]), [0, Number.NaN]),
        RangeError,
        /^crossEntropy: target NaN at row 1 is not a class index in \[0, 3\)/,
      ],
      [
        'crossEntropy target 0.5',
        () => crossEntropy(zeros([2, 3]), [0, 0.5]),
        RangeError,
        /^crossEntropy: target 0.5 at row 1/,
      ],
      [
        'crossEntropy reduction',
        () => crossEntropy(zeros([1, 3]), [0], { reduction: 'max' as never }),
        RangeError,
        /^crossEntropy: reduction must be 'mean', 'sum' or 'none', got max/,
      ],
      [
        'clipGradNorm NaN',
        () => clipGradNorm([], Number.NaN),
        RangeError,
        /^clipGradNorm: maxNorm must be ≥ 0, got NaN/,
      ],
      [
        'clipGradNorm normType',
        () => clipGradNorm([], 1, { normType: -3 }),
        RangeError,
        /^clipGradNorm: normType must be > 0, got -3/,
      ],
      [
        'clipGradValue -1',
        () => clipGradValue([], -1),
        RangeError,
        /^clipGradValue: clipValue must be ≥ 0, got -1/,
      ],
      ['SGD lr NaN', () => new SGD([], { lr: Number.NaN }), RangeError, /^SGD: lr must be ≥ 0, got NaN/],
      [
        'Adam betas',
        () => new Adam([], { betas: [1, 0.9] }),
        RangeError,
        /^Adam: betas\[0\] must be in \[0, 1\), got 1/,
      ],
      [
        'rnnCell nonlinearity',
        () => rnnCell(x, h, ...rnnWeights, { nonlinearity: 'sigmoid' as never }),
        RangeError,
        /^rnnCell: nonlinearity must be 'tanh' or 'relu', got sigmoid/,
      ],
    ]);
  });

  it('not a tensor: each function names itself and the argument', () => {
    const lstm = new LSTM(I, H, { rng: rng() });
    expectAll([
      [
        'lstmCell(x, null, ...)',
        () => lstmCell(x, null as never, h, ...lstmWeights),
        TypeError,
        /^lstmCell: input 1 is not a Tensor/,
      ],
      [
        'lstmCell missing bias',
        () => (lstmCell as (...a: unknown[]) => unknown)(x, h, h, lstmWeights[0], lstmWeights[1]),
        TypeError,
        /^lstmCell: input 5 is not a Tensor/,
      ],
      [
        'gruCell(.., null, ..)',
        () => gruCell(x, h, null as never, ...(gruWeights.slice(1) as [Tensor, Tensor, Tensor])),
        TypeError,
        /^gruCell: input 2 is not a Tensor/,
      ],
      [
        'linear(null, w)',
        () => linear(null as never, zeros([5, I])),
        TypeError,
        /^linear: input 0 is not a Tensor/,
      ],
      ['Parameter(null)', () => new Parameter(null as never), TypeError, /^Parameter: expected a Tensor/],
      // The rest used to throw "Cannot read properties of null" (or, for a lone LSTM state, ignore it).
      [
        'LSTM.forward(null)',
        () => lstm.forward(null as never),
        TypeError,
        /^LSTM: input must be a Tensor, got null/,
      ],
      [
        'LSTM.forward(x, h0 alone)',
        () => lstm.forward(zeros([2, B, I]), zeros([1, B, H]) as never),
        TypeError,
        /^LSTM: the state must be a pair \[h0, c0\]/,
      ],
      [
        'LSTMCell.forward(x, h alone)',
        () => new LSTMCell(I, H, { rng: rng() }).forward(x, h as never),
        TypeError,
        /^LSTMCell: the state must be a pair \[h, c\]/,
      ],
      [
        'LSTMCell.forward(x, [h, null])',
        () => new LSTMCell(I, H, { rng: rng() }).forward(x, [h, 'c' as never]),
        TypeError,
        /^LSTMCell: c must be a Tensor, got c/,
      ],
      [
        'Embedding.forward(null)',
        () => new Embedding(4, 3, { rng: rng() }).forward(null as never),
        TypeError,
        /^Embedding: indices must be a Tensor or an array of integers, got null/,
      ],
      [
        'crossEntropy(null, ..)',
        () => crossEntropy(null as never, [0]),
        TypeError,
        /^crossEntropy: logits must be a Tensor/,
      ],
      [
        'crossEntropy(.., null)',
        () => crossEntropy(zeros([2, 3]), null as never),
        TypeError,
        /^crossEntropy: targets must be a Tensor or an array of class indices/,
      ],
      [
        'mse(.., null)',
        () => mse(zeros([2]), null as never),
        TypeError,
        /^mse: prediction and target must be Tensors/,
      ],
      [
        'clipGradNorm(null)',
        () => clipGradNorm(null as never, 1),
        TypeError,
        /^clipGradNorm: expected an iterable of parameters, got null/,
      ],
      [
        'clipGradValue(null)',
        () => clipGradValue(null as never, 1),
        TypeError,
        /^clipGradValue: expected an iterable of parameters/,
      ],
      [
        'SGD(null)',
        () => new SGD(null as never, { lr: 0.1 }),
        TypeError,
        /^SGD: expected an iterable of Parameters, got null/,
      ],
      [
        'Adam([tensor])',
        () => new Adam([zeros([2]) as never]),
        TypeError,
        /^optimizer: parameter 0 is not a Parameter/,
      ],
      [
        'Adam.loadStateDict(null)',
        () => new Adam([]).loadStateDict(null as never),
        CheckpointError,
        /^optimizer\.loadStateDict: expected a record of key → Tensor/,
      ],
      [
        'saveSafetensors(null)',
        () => saveSafetensors(null as never),
        CheckpointError,
        /^saveSafetensors: expected a Module or a record of name → Tensor/,
      ],
      [
        'Module.loadStateDict(null)',
        () => new Linear(2, 2).loadStateDict(null as never),
        CheckpointError,
        /^loadStateDict: expected a record of name → Tensor/,
      ],
      [
        'stepByStep.rnnForward({})',
        () => stepByStep.rnnForward(zeros([3, 10, 4]), zeros([5, 10]), {} as never),
        TypeError,
        /^rnnForward: Wya is not a Tensor/,
      ],
    ]);
  });

  it('empty tensors: a batch of none runs (as PyTorch), a sequence of none is refused', () => {
    expect(new Linear(3, 2, { rng: rng() }).forward(zeros([0, 3])).shape).toEqual([0, 2]);
    expect(lstmCell(zeros([0, I]), zeros([0, H]), zeros([0, H]), ...lstmWeights).map((t) => t.shape)).toEqual(
      [
        [0, H],
        [0, H],
      ],
    );
    expect(new LSTM(I, H, { rng: rng() }).forward(zeros([2, 0, I])).output.shape).toEqual([2, 0, H]);
    expect(new Embedding(4, 3, { rng: rng() }).forward([]).shape).toEqual([0, 3]);
    expect(Number.isNaN(crossEntropy(zeros([0, 3]), []).item())).toBe(true); // torch: nan for a mean over nothing
    expect(crossEntropy(zeros([0, 3]), [], { reduction: 'sum' }).item()).toBe(0);
    expectAll([
      [
        'LSTM over no time steps',
        () => new LSTM(I, H, { rng: rng() }).forward(zeros([0, B, I])),
        ShapeError,
        /^LSTM: input has shape \[0,2,3\], expected \[time, batch, input\] with input 3 and time ≥ 1/,
      ],
      [
        'lstmSequence over no time steps',
        () => lstmSequence(zeros([0, B, I]), h, h, ...lstmWeights),
        ShapeError,
        /^lstmSequence: x must be \[time, batch, input\] with time ≥ 1, got \[0,2,3\]/,
      ],
      [
        'crossEntropy with no classes',
        () => crossEntropy(zeros([1, 0]), [0]),
        RangeError,
        /^crossEntropy: target 0 at row 0 is not a class index in \[0, 0\)/,
      ],
    ]);
  });

  it('freed graphs: a second backward through an LSTM names the op whose graph was freed', () => {
    const lstm = new LSTM(I, H, { rng: rng() });
    const loss = sum(lstm.forward(zeros([2, B, I])).output);
    loss.backward();
    expectAll([
      [
        'backward twice',
        () => loss.backward(),
        Error,
        /^backward: the graph through '\w+' was freed by an earlier backward; pass \{ retainGraph: true \}/,
      ],
      [
        'backward of a detached loss',
        () => loss.detach().backward(),
        Error,
        /^backward: the output does not require grad/,
      ],
    ]);
  });

  it('a refused optimizer step changes nothing: no weight, no moment, no step count (it used to half-step)', () => {
    const first = new Parameter(tensor([1, 2]));
    const second = new Parameter(tensor([3, 4]));
    const optimizer = new Adam([first, second], { lr: 0.1 });
    first.grad = tensor([1, 1]);
    second.grad = tensor([[1, 1]]); // wrong shape, after a good one
    const before = optimizer.stateDict();
    expectAll([
      [
        'Adam.step',
        () => optimizer.step(),
        ShapeError,
        /^Adam\.step: parameter 1 is float32 \[2\] but its grad is float32 \[1,2\]/,
      ],
    ]);
    second.grad = tensor([1, 1], { dtype: 'float64' });
    expectAll([
      [
        'Adam.step',
        () => optimizer.step(),
        DTypeError,
        /^Adam\.step: parameter 1 is float32 \[2\] but its grad is float64 \[2\]/,
      ],
    ]);
    expect(first.toArray()).toEqual([1, 2]);
    expect(second.toArray()).toEqual([3, 4]);
    expect(optimizer.stateDict()).toEqual(before);
    second.grad = tensor([1, 1]);
    optimizer.step();
    expect(first.toArray()).not.toEqual([1, 2]); // and a good step does step
  });

  it('a refused state dict changes nothing: every problem is listed, no weight is replaced', () => {
    const model = new Linear(2, 2, { rng: rng() });
    const weights = model.parameters().map((p) => p.data);
    expectAll([
      [
        'loadStateDict',
        () => model.loadStateDict({ weight: zeros([2, 2]), bias: zeros([3]), extra: zeros([1]) }),
        CheckpointError,
        /^loadStateDict: nothing was loaded: unexpected keys: extra; 'bias': expected float32 \[2\], got float32 \[3\]/,
      ],
    ]);
    model.parameters().forEach((p, i) => {
      expect(p.data).toBe(weights[i]);
    });
  });
});
