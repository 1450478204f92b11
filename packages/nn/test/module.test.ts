// Parameter and Module: dotted names in PyTorch's order, state dicts that are snapshots, strict
// all-or-nothing loading, train/eval, and Linear/Embedding against numpy.
import { DTypeError, RandomState, ShapeError, sum, type Tensor, tensor, vjp, zeros } from '@tapegrad/core';
import { checkOverride } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointError, Embedding, Linear, LSTM, Module, Parameter } from '../src/index.js';
import { linearOp } from '../src/linear.js';
import { expectClose, fixture } from './assertClose.js';

type Nested = number[] | number[][] | number[][][];
const data = fixture<{
  linear: Record<'x' | 'weight' | 'bias' | 'g' | 'y' | 'dx' | 'dweight' | 'dbias', Nested>;
}>('nn_layers.json');

class Block extends Module {
  readonly scale = this.registerParameter('scale', new Parameter(tensor([1, 2])));
  readonly inner = this.registerModule('inner', new Linear(2, 3, { rng: new RandomState(1) }));
  readonly head = this.registerModule('head', new Linear(3, 1, { rng: new RandomState(2), bias: false }));
}

describe('Module', () => {
  it('names parameters with dots, own first then children in registration order', () => {
    const block = new Block();
    expect(block.namedParameters().map(([n, p]) => `${n} [${p.shape}]`)).toEqual([
      'scale [2]',
      'inner.weight [3,2]',
      'inner.bias [3]',
      'head.weight [1,3]',
    ]);
    expect(block.parameters()).toHaveLength(4);
    expect(block.children()).toEqual([block.inner, block.head]);
    expect(block.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
  });

  it('uses PyTorch names for stacked recurrent layers', () => {
    const lstm = new LSTM(3, 4, { numLayers: 2 });
    expect(Object.keys(lstm.stateDict())).toEqual([
      'weight_ih_l0',
      'weight_hh_l0',
      'bias_ih_l0',
      'bias_hh_l0',
      'weight_ih_l1',
      'weight_hh_l1',
      'bias_ih_l1',
      'bias_hh_l1',
    ]);
    expect(lstm.stateDict().weight_ih_l1!.shape).toEqual([16, 4]);
  });

  it('refuses bad and duplicate names', () => {
    class Bad extends Module {
      add(name: string) {
        return this.registerParameter(name, new Parameter(zeros([1])));
      }
    }
    const bad = new Bad();
    bad.add('w');
    expect(() => bad.add('w')).toThrow(/already registered/);
    for (const name of ['a.b', '', '__proto__', 'constructor', '1x'])
      expect(() => bad.add(name)).toThrow(/invalid name/);
  });

  it('train/eval reach every descendant', () => {
    const block = new Block();
    block.eval();
    expect([block.training, block.inner.training, block.head.training]).toEqual([false, false, false]);
    block.train();
    expect(block.head.training).toBe(true);
  });

  it('stateDict is a snapshot: a later assign does not change it', () => {
    const block = new Block();
    const before = block.stateDict();
    block.scale.assign(tensor([5, 6]));
    expect(before.scale!.toArray()).toEqual([1, 2]);
    expect(block.scale.toArray()).toEqual([5, 6]);
    expect(block.stateDict().scale!.requiresGrad).toBe(false);
  });

  it('loadStateDict round-trips and reports keys with strict off', () => {
    const a = new Block();
    const b = new Block();
    b.scale.assign(tensor([7, 8]));
    a.loadStateDict(b.stateDict());
    expect(a.scale.toArray()).toEqual([7, 8]);
    const partial = b.stateDict();
    delete partial['head.weight'];
    partial.extra = zeros([1]);
    const result = a.loadStateDict(partial, { strict: false });
    expect(result).toEqual({ missingKeys: ['head.weight'], unexpectedKeys: ['extra'] });
  });

  it('loadStateDict checks everything first and changes nothing when anything is wrong', () => {
    const block = new Block();
    const original = block.stateDict();
    const cases: [string, (s: Record<string, unknown>) => void, RegExp][] = [
      ['missing', (s) => delete s['inner.bias'], /missing keys: inner\.bias/],
      ['unexpected', (s) => (s.bogus = zeros([1])), /unexpected keys: bogus/],
      [
        'shape',
        (s) => (s['head.weight'] = zeros([3, 1])),
        /'head\.weight': expected float32 \[1,3\], got float32 \[3,1\]/,
      ],
      [
        'dtype',
        (s) => (s['inner.bias'] = zeros([3], { dtype: 'float64' })),
        /expected float32 \[3\], got float64/,
      ],
      ['not a tensor', (s) => (s.scale = [1, 2]), /'scale' is not a Tensor/],
    ];
    for (const [, spoil, message] of cases) {
      const state: Record<string, unknown> = { ...block.stateDict() };
      // The first entry is a valid change: it must not be applied when another entry is bad.
      state['inner.weight'] = zeros([3, 2]);
      spoil(state);
      expect(() => block.loadStateDict(state as never)).toThrow(CheckpointError);
      expect(() => block.loadStateDict(state as never)).toThrow(message);
      for (const [name, p] of block.namedParameters()) expect(p.data).toBe(original[name]!.data);
    }
  });

  it('Parameter.assign keeps shape and dtype', () => {
    const p = new Parameter(zeros([2, 2]));
    expect(() => p.assign(zeros([4]))).toThrow(/expected float32 \[2,2\], got float32 \[4\]/);
    expect(() => p.assign(zeros([2, 2], { dtype: 'float64' }))).toThrow(DTypeError);
    expect(() => p.assign(zeros([4]))).toThrow(ShapeError);
  });
});

describe('Linear', () => {
  const t = (v: Nested) => tensor(v, { dtype: 'float64' });
  const { linear } = data;

  it('forward and grads match numpy, with leading batch axes', () => {
    const layer = new Linear(4, 5, { dtype: 'float64' });
    layer.loadStateDict({ weight: t(linear.weight), bias: t(linear.bias) });
    expectClose(layer.forward(t(linear.x)), linear.y);
    const [y, pullback] = vjp(
      (x, w, b) => linearOp(x, w, b) as Tensor,
      t(linear.x),
      t(linear.weight),
      t(linear.bias),
    );
    expectClose(y, linear.y);
    const [dx, dweight, dbias] = pullback(t(linear.g));
    expectClose(dx!, linear.dx);
    expectClose(dweight!, linear.dweight);
    expectClose(dbias!, linear.dbias);
  });

  it('the fused backward agrees with its reference (matmul against a transpose)', () => {
    const args = [t(linear.x), t(linear.weight), t(linear.bias)] as const;
    const fused = vjp((x, w, b) => linearOp(x, w, b) as Tensor, ...args)[1](t(linear.g));
    const reference = vjp((x, w, b) => linearOp.reference!(x, w, b) as Tensor, ...args)[1](t(linear.g));
    fused.forEach((g, i) => {
      expectClose(g, reference[i]!.toArray() as number[], { atol: 1e-12 });
    });
  });

  it('passes checkOverride (hand backward vs reference tape vs finite differences) over sizes 1..5', () => {
    const value = fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000);
    const of = (shape: number[]) =>
      fc
        .array(value, {
          minLength: shape.reduce((n, d) => n * d, 1),
          maxLength: shape.reduce((n, d) => n * d, 1),
        })
        .map((values) => tensor(values, { dtype: 'float64', shape }));
    const size = fc.integer({ min: 1, max: 5 });
    const inputs = fc
      .tuple(size, size, size, size)
      .chain(([lead, rows, inF, outF]) => fc.tuple(of([lead, rows, inF]), of([outF, inF]), of([outF])));
    checkOverride(linearOp, inputs, { names: ['x', 'weight', 'bias'], numRuns: 25 });
  });

  it('with no input features: y is the bias on every row, and the grads are those of a sum', () => {
    const [y, pullback] = vjp(
      (x, w, b) => linearOp(x, w, b) as Tensor,
      tensor([], { dtype: 'float64', shape: [2, 3, 0] }),
      tensor([], { dtype: 'float64', shape: [2, 0] }),
      t([0.5, -1]),
    );
    expect(y.shape).toEqual([2, 3, 2]);
    expectClose(
      y,
      Array.from({ length: 6 }, () => [0.5, -1]),
    );
    const [dx, dweight, dbias] = pullback(
      tensor(
        Array.from({ length: 12 }, (_, i) => i),
        { dtype: 'float64', shape: [2, 3, 2] },
      ),
    );
    expect([dx!.shape, dweight!.shape]).toEqual([
      [2, 3, 0],
      [2, 0],
    ]);
    expectClose(dbias!, [30, 36]);
  });

  it('without bias, and naming shapes that do not fit', () => {
    const layer = new Linear(4, 2, { bias: false });
    expect(layer.bias).toBeNull();
    expect(layer.namedParameters().map(([n]) => n)).toEqual(['weight']);
    expect(() => layer.forward(zeros([3, 5]))).toThrow(
      'linear: x [3,5] does not fit weight [2,4] = [out, in]',
    );
    expect(() => layer.forward(zeros([3, 4], { dtype: 'float64' }))).toThrow(/dtypes differ/);
  });

  it('is initialised as torch.nn.Linear: weight, then bias, uniform(±1/√in) (numpy RandomState(7))', () => {
    const { linear_seed7_3x4: expected } = fixture<{
      init: { linear_seed7_3x4: { weight: number[][]; bias: number[] } };
    }>('nn_layers.json').init;
    const a = new Linear(4, 3, { rng: new RandomState(7), dtype: 'float64' });
    expectClose(a.weight, expected.weight, { atol: 0, rtol: 0 });
    expectClose(a.bias!, expected.bias, { atol: 0, rtol: 0 });
    const b = new Linear(4, 3, { rng: new RandomState(7) });
    expect(b.weight.dtype).toBe('float32');
    expect(Array.from(b.weight.data)).toEqual(Array.from(Float32Array.from(a.weight.data)));
    expect(Array.from(b.bias!.data)).toEqual(Array.from(Float32Array.from(a.bias!.data)));
    // without a bias only the weight is drawn
    const c = new Linear(4, 3, { rng: new RandomState(7), dtype: 'float64', bias: false });
    expect(Array.from(c.weight.data)).toEqual(Array.from(a.weight.data));
  });

  it("init: 'glorot' keeps Glorot's recipe: weight uniform(±√(6 / (in + out))), bias zeros", () => {
    const a = new Linear(4, 3, { rng: new RandomState(7), dtype: 'float64', init: 'glorot' });
    expectClose(
      a.weight,
      fixture<{ init: { xavier_seed7_3x4: number[][] } }>('nn_layers.json').init.xavier_seed7_3x4,
    );
    expect(a.bias!.toArray()).toEqual([0, 0, 0]);
    expect(() => new Linear(4, 3, { init: 'kaiming' as never })).toThrow(
      "Linear: init must be 'pytorch' or 'glorot', got kaiming",
    );
  });

  it('in 0 features: an empty weight and a zero bias, as torch (bound 0)', () => {
    const layer = new Linear(0, 2, { rng: new RandomState(1) });
    expect(layer.weight.shape).toEqual([2, 0]);
    expect(Array.from(layer.bias!.data)).toEqual([0, 0]);
  });
});

describe('Embedding', () => {
  it('looks up rows for indices of any shape and scatter-adds its grad', () => {
    const emb = new Embedding(4, 2, { rng: new RandomState(0), dtype: 'float64' });
    emb.weight.assign(
      tensor(
        [
          [0, 1],
          [2, 3],
          [4, 5],
          [6, 7],
        ],
        { dtype: 'float64' },
      ),
    );
    const out = emb.forward(
      tensor(
        [
          [1, 3],
          [1, 0],
        ],
        { dtype: 'float64' },
      ),
    );
    expect(out.shape).toEqual([2, 2, 2]);
    expect(out.toArray()).toEqual([
      [
        [2, 3],
        [6, 7],
      ],
      [
        [2, 3],
        [0, 1],
      ],
    ]);
    sum(out).backward();
    expect(emb.weight.grad!.toArray()).toEqual([
      [1, 1],
      [2, 2],
      [0, 0],
      [1, 1],
    ]);
    expect(() => emb.forward([4])).toThrow(/index 4 .* out of range/);
  });

  it('draws N(0, 1) as numpy RandomState.normal does', () => {
    const emb = new Embedding(3, 2, { rng: new RandomState(3), dtype: 'float64' });
    expect(emb.weight.toArray()).toEqual(
      new RandomState(3).normal(0, 1, [3, 2], { dtype: 'float64' }).toArray(),
    );
  });
});
