// RNN/LSTM/GRU layers and cell modules: forward over time against numpy (2 layers, initial state),
// batchFirst, zero default state, and backward through time against central differences.
import { add, mul, RandomState, sum, type Tensor, tensor, transpose, zeros } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/gradcheck';
import { describe, expect, it } from 'vitest';
import {
  GRU,
  GRUCell,
  gruCell,
  LSTM,
  LSTMCell,
  lstmCell,
  type Parameter,
  RNN,
  RNNCell,
  rnnCell,
} from '../src/index.js';
import { expectClose, fixture } from './assertClose.js';

type N3 = number[][][];
interface LayerCase {
  params: Record<string, number[] | number[][]>;
  x: N3;
  h0: N3;
  c0?: N3;
  output: N3;
  hN: N3;
  cN?: N3;
  nonlinearity?: 'tanh' | 'relu';
}
const data = fixture<Record<'lstm' | 'gru' | 'rnn_tanh' | 'rnn_relu', LayerCase>>('nn_layers.json');
const f64 = (v: number[] | number[][] | N3) => tensor(v, { dtype: 'float64' });

type Layer = RNN | LSTM | GRU;
function build(kind: keyof typeof data, options: { batchFirst?: boolean } = {}): Layer {
  const c = data[kind];
  const common = { numLayers: 2, dtype: 'float64' as const, rng: new RandomState(0), ...options };
  const layer =
    kind === 'lstm'
      ? new LSTM(3, 3, common)
      : kind === 'gru'
        ? new GRU(3, 3, common)
        : new RNN(3, 3, { ...common, nonlinearity: c.nonlinearity });
  layer.loadStateDict(Object.fromEntries(Object.entries(c.params).map(([k, v]) => [k, f64(v)])));
  return layer;
}

/** [output, hN, cN?] of a layer for input x and initial state (h0 and, for the LSTM, c0). */
function run(layer: Layer, x: Tensor, h0?: Tensor, c0?: Tensor): Tensor[] {
  if (layer instanceof LSTM) {
    const r = layer.forward(x, h0 && c0 ? [h0, c0] : undefined);
    return [r.output, r.hN, r.cN];
  }
  const r = layer.forward(x, h0);
  return [r.output, r.hN];
}

describe('recurrent layers match PyTorch equations in numpy (2 layers, T=4, B=2)', () => {
  for (const kind of ['lstm', 'gru', 'rnn_tanh', 'rnn_relu'] as const) {
    const c = data[kind];
    it(`${kind}: output, hN${c.cN ? ', cN' : ''}`, () => {
      const [output, hN, cN] = run(build(kind), f64(c.x), f64(c.h0), c.c0 && f64(c.c0));
      expect(output!.shape).toEqual([4, 2, 3]);
      expect(hN!.shape).toEqual([2, 2, 3]);
      expectClose(output!, c.output);
      expectClose(hN!, c.hN);
      if (c.cN) expectClose(cN!, c.cN);
    });

    it(`${kind}: batchFirst reads and writes [B, T, ·]`, () => {
      const [output, hN] = run(
        build(kind, { batchFirst: true }),
        transpose(f64(c.x), [1, 0, 2]),
        f64(c.h0),
        c.c0 && f64(c.c0),
      );
      expect(output!.shape).toEqual([2, 4, 3]);
      expectClose(transpose(output!, [1, 0, 2]), c.output);
      expectClose(hN!, c.hN);
    });
  }

  it('no initial state means zeros', () => {
    const layer = build('lstm');
    const x = f64(data.lstm.x);
    const [a, b] = [
      run(layer, x),
      run(layer, x, zeros([2, 2, 3], { dtype: 'float64' }), zeros([2, 2, 3], { dtype: 'float64' })),
    ];
    a.forEach((t, i) => {
      expect(Array.from(t.data)).toEqual(Array.from(b[i]!.data));
    });
  });
});

describe('backward through time', () => {
  // A scalar that weighs every output of the layer differently, so no grad can hide in a sum.
  function loss(outs: Tensor[]): Tensor {
    const rng = new RandomState(3);
    return outs.map((t) => sum(mul(t, rng.randn(...t.shape)))).reduce((a, b) => add(a, b));
  }

  for (const kind of ['lstm', 'gru', 'rnn_tanh'] as const) {
    const c = data[kind];
    it(`${kind}: input and initial-state grads pass gradcheck`, () => {
      const layer = build(kind);
      const inputs = c.c0 ? [f64(c.x), f64(c.h0), f64(c.c0)] : [f64(c.x), f64(c.h0)];
      const report = gradcheck((...xs: Tensor[]) => loss(run(layer, xs[0]!, xs[1], xs[2])), inputs);
      expect(report.failures).toEqual([]);
      expect(report.checked).toBeGreaterThan(0);
    });

    it(`${kind}: every parameter grad equals central differences`, () => {
      const layer = build(kind);
      const args = [f64(c.x), f64(c.h0), c.c0 && f64(c.c0)] as const;
      loss(run(layer, ...args)).backward();
      const value = () => loss(run(layer, ...args)).item();
      for (const [name, p] of layer.namedParameters()) {
        const original = p.data;
        const numeric = Array.from(original, (_, i) => {
          const at = (delta: number) => {
            const nudged = Float64Array.from(original);
            nudged[i]! += delta;
            p.assign(tensor(nudged, { shape: p.shape }));
            return value();
          };
          const d = (at(1e-6) - at(-1e-6)) / 2e-6;
          p.assign(tensor(original, { shape: p.shape }));
          return d;
        });
        const analytic = p.grad!;
        numeric.forEach((n, i) => {
          if (Math.abs(analytic.data[i]! - n) > 1e-6 + 1e-5 * Math.abs(n)) {
            throw new Error(`${name}[${i}]: analytic ${analytic.data[i]}, numeric ${n}`);
          }
        });
      }
    });
  }
});

describe('cell modules', () => {
  const rng = () => new RandomState(8);
  const x = new RandomState(1).randn(2, 3, { dtype: 'float32' });
  const h = new RandomState(2).randn(2, 4, { dtype: 'float32' });

  it('RNNCell/LSTMCell/GRUCell call the fused cells with their PyTorch-named parameters', () => {
    const rnn = new RNNCell(3, 4, { rng: rng(), nonlinearity: 'relu' });
    expect(rnn.namedParameters().map(([n, p]) => `${n} [${p.shape}]`)).toEqual([
      'weight_ih [4,3]',
      'weight_hh [4,4]',
      'bias_ih [4]',
      'bias_hh [4]',
    ]);
    const [wi, wh, bi, bh] = rnn.parameters() as [Parameter, Parameter, Parameter, Parameter];
    expect(rnn.forward(x, h).data).toEqual(rnnCell(x, h, wi, wh, bi, bh, { nonlinearity: 'relu' }).data);

    const lstm = new LSTMCell(3, 4, { rng: rng() });
    const [li, lh, lbi, lbh] = lstm.parameters() as [Parameter, Parameter, Parameter, Parameter];
    expect(li.shape).toEqual([16, 3]);
    const [h1, c1] = lstm.forward(x, [h, h]);
    const [h2, c2] = lstmCell(x, h, h, li, lh, lbi, lbh);
    expect([h1.data, c1.data]).toEqual([h2.data, c2.data]);

    const gru = new GRUCell(3, 4, { rng: rng() });
    const [gi, gh, gbi, gbh] = gru.parameters() as [Parameter, Parameter, Parameter, Parameter];
    expect(gi.shape).toEqual([12, 3]);
    expect(gru.forward(x).data).toEqual(gruCell(x, zeros([2, 4]), gi, gh, gbi, gbh).data);
  });

  it('bias: false registers no biases and adds none', () => {
    const cell = new GRUCell(3, 4, { rng: rng(), bias: false });
    expect(cell.namedParameters().map(([n]) => n)).toEqual(['weight_ih', 'weight_hh']);
    const [gi, gh] = cell.parameters() as [Parameter, Parameter];
    expect(cell.forward(x, h).data).toEqual(gruCell(x, h, gi, gh, zeros([12]), zeros([12])).data);
    const layer = new LSTM(3, 4, { bias: false, numLayers: 2 });
    expect(Object.keys(layer.stateDict())).toEqual([
      'weight_ih_l0',
      'weight_hh_l0',
      'weight_ih_l1',
      'weight_hh_l1',
    ]);
  });

  it('names what does not fit', () => {
    const layer = new LSTM(3, 4, { numLayers: 2 });
    expect(() => layer.forward(zeros([5, 2, 2]))).toThrow(
      'LSTM: input has shape [5,2,2], expected [time, batch, input] with input 3 and time ≥ 1',
    );
    expect(() => layer.forward(zeros([0, 2, 3]))).toThrow(/time ≥ 1/);
    expect(() => layer.forward(zeros([5, 2, 3]), [zeros([1, 2, 4]), zeros([2, 2, 4])])).toThrow(
      'LSTM: h0 has shape [1,2,4], expected [2,2,4]',
    );
    expect(() => layer.forward(zeros([5, 2, 3], { dtype: 'float64' }))).toThrow(
      /input is float64, the weights are float32/,
    );
    expect(() => new GRU(3, 0)).toThrow(/hiddenSize must be a positive integer/);
    expect(() => new RNN(3, 2, { nonlinearity: 'sigmoid' as never })).toThrow(/nonlinearity/);
    expect(() => new LSTMCell(3, 4).forward(zeros([2, 3]), [zeros([2, 5]), zeros([2, 4])])).toThrow(
      'LSTMCell: h has shape [2,5], expected [2,4]',
    );
  });
});
