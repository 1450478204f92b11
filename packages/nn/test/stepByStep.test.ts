// stepByStep: the notebook's printed values, numpy's correct backward, the tape, finite differences,
// and the notebook's own LSTM backward bugs caught by the same comparisons.
import { readFileSync } from 'node:fs';
import {
  add,
  astype,
  customOp,
  matmul,
  mul,
  type NestedArray,
  noGrad,
  RandomState,
  ShapeError,
  slice,
  squeeze,
  stack,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
  valueAndGrad,
  vjp,
  zeros,
  zerosLike,
} from '@tapegrad/core';
import { checkOverrideAt, formatOverrideReport } from '@tapegrad/gradcheck';
import { stepByStep } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

type LstmCache = stepByStep.LstmCache;
type LstmCaches = stepByStep.LstmCaches;
type LstmParameters = stepByStep.LstmParameters;
type RnnParameters = stepByStep.RnnParameters;

const {
  lstmBackward,
  lstmCellBackward,
  lstmCellForward,
  lstmForward,
  rnnBackward,
  rnnCellBackward,
  rnnCellForward,
  rnnForward,
} = stepByStep;

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as {
    outputs: Record<string, Record<string, NestedArray>>;
    cases: Record<string, { grads: Record<string, { shape: number[]; values: number[] }> }>;
  };
const notebook = fixture('seed_notebook_outputs.json').outputs;
const numpyBackward = fixture('step_by_step.json').cases;

/** x[:, :, t] of an (n, m, T) tensor. */
const at = (x: Tensor, t: number): Tensor =>
  squeeze(slice(x, [0, 0, t], [x.shape[0]!, x.shape[1]!, t + 1]), 2);

const flat = (v: NestedArray): number[] => (typeof v === 'number' ? [v] : v.flatMap(flat));

/** Largest |a - b| / max(1, |b|) over the elements: absolute near zero, relative for large values. */
function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    worst = Math.max(worst, Math.abs(actual[i]! - e) / Math.max(1, Math.abs(e)));
  }
  return worst;
}

function expectClose(actual: Tensor, expected: Tensor | { shape: number[]; values: number[] }, tol: number) {
  expect(actual.shape).toEqual(expected.shape);
  const values = 'data' in expected ? expected.data : expected.values;
  expect(maxError(actual.data, values)).toBeLessThan(tol);
}

/** Draws tensors in order from rng, as the notebook's `np.random.randn` calls do after seed(1). */
function draw<K extends string>(rng: RandomState, order: [K, number[]][]): Record<K, Tensor> {
  const out = {} as Record<K, Tensor>;
  for (const [name, shape] of order) out[name] = rng.randn(...shape);
  return out;
}

const lstmParameterOrder = (nA: number, nX: number, nY: number): [keyof LstmParameters, number[]][] => [
  ['Wf', [nA, nA + nX]],
  ['bf', [nA, 1]],
  ['Wi', [nA, nA + nX]],
  ['bi', [nA, 1]],
  ['Wo', [nA, nA + nX]],
  ['bo', [nA, 1]],
  ['Wc', [nA, nA + nX]],
  ['bc', [nA, 1]],
  ['Wy', [nY, nA]],
  ['by', [nY, 1]],
];

/** Checks every `name[i][j]` key printed by one notebook block against the named results. */
function expectNotebookBlock(block: string, results: Record<string, Tensor>) {
  const printed = notebook[block]!;
  expect(Object.keys(printed).length).toBeGreaterThan(0);
  for (const [key, expected] of Object.entries(printed)) {
    const match = /^(\w+)((?:\[\d+\])+)$/.exec(key);
    const result = match && results[match[1]!];
    if (!match || !result) throw new Error(`${block}: no result for ${key}`);
    const path = [...match[2]!.matchAll(/\d+/g)].map((d) => Number(d[0]));
    const actual = path.reduce<NestedArray>((v, i) => (v as NestedArray[])[i]!, result.toArray());
    expect(maxError(flat(actual), flat(expected)), key).toBeLessThan(1e-8);
  }
}

describe('the notebook test blocks, with RandomState(1) in their draw order', () => {
  it('rnn_cell_forward', () => {
    const v = draw(new RandomState(1), [
      ['xt', [3, 10]],
      ['aPrev', [5, 10]],
      ['Waa', [5, 5]],
      ['Wax', [5, 3]],
      ['Wya', [2, 5]],
      ['ba', [5, 1]],
      ['by', [2, 1]],
    ]);
    const { aNext, ytPred } = rnnCellForward(v.xt, v.aPrev, v);
    expect(aNext.shape).toEqual([5, 10]);
    expect(ytPred.shape).toEqual([2, 10]);
    expectNotebookBlock('rnn_cell_forward', { a_next: aNext, yt_pred: ytPred });
  });

  it('rnn_forward', () => {
    const v = draw(new RandomState(1), [
      ['x', [3, 10, 4]],
      ['a0', [5, 10]],
      ['Waa', [5, 5]],
      ['Wax', [5, 3]],
      ['Wya', [2, 5]],
      ['ba', [5, 1]],
      ['by', [2, 1]],
    ]);
    const { a, yPred, caches } = rnnForward(v.x, v.a0, v);
    expect(a.shape).toEqual([5, 10, 4]);
    expect(yPred.shape).toEqual([2, 10, 4]);
    expect(caches.steps).toHaveLength(4);
    expectNotebookBlock('rnn_forward', { a, y_pred: yPred });
  });

  it('rnn_backward (Wax drawn before Waa in this block)', () => {
    const rng = new RandomState(1);
    const v = draw(rng, [
      ['x', [3, 10, 4]],
      ['a0', [5, 10]],
      ['Wax', [5, 3]],
      ['Waa', [5, 5]],
      ['Wya', [2, 5]],
      ['ba', [5, 1]],
      ['by', [2, 1]],
    ]);
    const { caches } = rnnForward(v.x, v.a0, v);
    const g = rnnBackward(rng.randn(5, 10, 4), caches);
    expect(g.dx.shape).toEqual([3, 10, 4]);
    expect(g.dba.shape).toEqual([5, 1]);
    expectNotebookBlock('rnn_backward', g);
  });

  it('lstm_cell_forward', () => {
    const v = draw(new RandomState(1), [
      ['xt', [3, 10]],
      ['aPrev', [5, 10]],
      ['cPrev', [5, 10]],
      ...lstmParameterOrder(5, 3, 2),
    ]);
    const { aNext, cNext, ytPred } = lstmCellForward(v.xt, v.aPrev, v.cPrev, v);
    expect(cNext.shape).toEqual([5, 10]);
    expectNotebookBlock('lstm_cell_forward', { a_next: aNext, c_next: cNext, yt: ytPred });
  });

  it('lstm_forward', () => {
    const v = draw(new RandomState(1), [['x', [3, 10, 7]], ['a0', [5, 10]], ...lstmParameterOrder(5, 3, 2)]);
    const { a, y, c, caches } = lstmForward(v.x, v.a0, v);
    expect([a.shape, y.shape, c.shape]).toEqual([
      [5, 10, 7],
      [2, 10, 7],
      [5, 10, 7],
    ]);
    expect(caches.steps).toHaveLength(7);
    expectNotebookBlock('lstm_forward', { a, y, c });
  });
});

/** numpy's names for the grads (scripts/fixtures/step_by_step.py) mapped onto ours. */
const fromNumpy = (key: string): string => key.replace('da_prev', 'daPrev').replace('dc_prev', 'dcPrev');

function expectNumpyGrads(name: string, grads: Record<string, Tensor>) {
  const expected = numpyBackward[name]!.grads;
  expect(Object.keys(grads).sort()).toEqual(Object.keys(expected).map(fromNumpy).sort());
  for (const [key, want] of Object.entries(expected)) expectClose(grads[fromNumpy(key)]!, want, 1e-10);
}

describe("backward values against numpy's correct float64 backward (committed JSON)", () => {
  it('rnnCellBackward', () => {
    const rng = new RandomState(1);
    const v = draw(rng, [
      ['xt', [3, 10]],
      ['aPrev', [5, 10]],
      ['Wax', [5, 3]],
      ['Waa', [5, 5]],
      ['Wya', [2, 5]],
      ['ba', [5, 1]],
      ['by', [2, 1]],
    ]);
    const { cache } = rnnCellForward(v.xt, v.aPrev, v);
    expectNumpyGrads('rnn_cell_backward', rnnCellBackward(rng.randn(5, 10), cache));
  });

  it('lstmCellBackward, with a non-zero dcNext', () => {
    const rng = new RandomState(1);
    const v = draw(rng, [
      ['xt', [3, 10]],
      ['aPrev', [5, 10]],
      ['cPrev', [5, 10]],
      ...lstmParameterOrder(5, 3, 2),
    ]);
    const { cache } = lstmCellForward(v.xt, v.aPrev, v.cPrev, v);
    const daNext = rng.randn(5, 10);
    expectNumpyGrads('lstm_cell_backward', lstmCellBackward(daNext, rng.randn(5, 10), cache));
  });

  it('lstmBackward', () => {
    const rng = new RandomState(1);
    const v = draw(rng, [['x', [3, 10, 7]], ['a0', [5, 10]], ...lstmParameterOrder(5, 3, 2)]);
    const { caches } = lstmForward(v.x, v.a0, v);
    expectNumpyGrads('lstm_backward', lstmBackward(rng.randn(5, 10, 7), caches));
  });
});

// Sizes for the tape and difference checks: n_x = n_a lets the notebook's wrong slice run (with the
// notebook's own n_a = 5, n_x = 3 it is a shape error instead of a wrong value).
const nX = 4;
const nA = 4;
const nY = 3;
const m = 3;
const T = 4;

const rnnNames = ['Wax', 'Waa', 'Wya', 'ba', 'by'] as const;
const lstmNames = ['Wf', 'bf', 'Wi', 'bi', 'Wc', 'bc', 'Wo', 'bo', 'Wy', 'by'] as const;
/** Parameters from a list in rnnNames / lstmNames order (how functions of many tensors take them). */
const rnnNamesOf = (ps: Tensor[]) =>
  Object.fromEntries(rnnNames.map((k, i) => [k, ps[i]!])) as unknown as RnnParameters;
const lstmNamesOf = (ps: Tensor[]) =>
  Object.fromEntries(lstmNames.map((k, i) => [k, ps[i]!])) as unknown as LstmParameters;

function rnnSetup(seed: number) {
  const rng = new RandomState(seed);
  const v = draw(rng, [
    ['x', [nX, m, T]],
    ['a0', [nA, m]],
    ['Wax', [nA, nX]],
    ['Waa', [nA, nA]],
    ['Wya', [nY, nA]],
    ['ba', [nA, 1]],
    ['by', [nY, 1]],
    ['da', [nA, m, T]],
  ]);
  return { v, inputs: [v.x, v.a0, ...rnnNames.map((k) => v[k])] };
}

function lstmSetup(seed: number) {
  const rng = new RandomState(seed);
  const v = draw(rng, [
    ['x', [nX, m, T]],
    ['a0', [nA, m]],
    ['cPrev', [nA, m]],
    ...lstmParameterOrder(nA, nX, nY),
    ['da', [nA, m, T]],
    ['dc', [nA, m]],
  ]);
  return { v, inputs: [v.x, v.a0, ...lstmNames.map((k) => v[k])] };
}

/** The grads of f at inputs by central differences, one element at a time, in float64. */
function numericGrads(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-6): Tensor[] {
  const buffers = inputs.map((t) => Float64Array.from(t.data));
  const objective = () => noGrad(() => f(...buffers.map((b, i) => tensor(b, { shape: inputs[i]!.shape }))));
  return buffers.map((b, k) => {
    const grad = new Float64Array(b.length);
    for (let j = 0; j < b.length; j++) {
      const original = b[j]!;
      b[j] = original + eps;
      const up = objective().item();
      b[j] = original - eps;
      const down = objective().item();
      b[j] = original;
      grad[j] = (up - down) / (2 * eps);
    }
    return tensor(grad, { shape: inputs[k]!.shape });
  });
}

/** Tape grads and difference grads of a scalar loss over all inputs. */
function oracles(loss: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) {
  const argnums = inputs.map((_, i) => i);
  const tape = valueAndGrad(loss, { argnums })(...inputs)[1] as Tensor[];
  return { tape, numeric: numericGrads(loss, inputs) };
}

describe('each backward agrees with the tape (1e-10) and with central differences (1e-6)', () => {
  it('rnnCellBackward: grads of ⟨a_next, daNext⟩; Wya and by get none from the hidden state', () => {
    const { v, inputs } = rnnSetup(11);
    const [xt, daNext] = [at(v.x, 1), at(v.da, 0)];
    const loss = (x: Tensor, aPrev: Tensor, ...ps: Tensor[]) =>
      sum(mul(rnnCellForward(x, aPrev, rnnNamesOf(ps)).aNext, daNext));
    const cellInputs = [xt, ...inputs.slice(1)];
    const { cache } = rnnCellForward(xt, v.a0, v);
    const g = rnnCellBackward(daNext, cache);
    const ours = [g.dxt, g.daPrev, g.dWax, g.dWaa, null, g.dba, null];
    const { tape, numeric } = oracles(loss, cellInputs);
    ours.forEach((mine, i) => {
      const want = mine ?? zerosLike(cellInputs[i]!);
      expectClose(want, tape[i]!, 1e-10);
      expectClose(want, numeric[i]!, 1e-6);
    });
  });

  it('rnnBackward: grads of Σ_t ⟨a_t, da_t⟩ wrt x, a0 and the parameters', () => {
    const { v, inputs } = rnnSetup(12);
    const loss = (x: Tensor, a0: Tensor, ...ps: Tensor[]) =>
      sum(mul(rnnForward(x, a0, rnnNamesOf(ps)).a, v.da));
    const g = rnnBackward(v.da, rnnForward(v.x, v.a0, v).caches);
    const ours = [g.dx, g.da0, g.dWax, g.dWaa, null, g.dba, null];
    const { tape, numeric } = oracles(loss, inputs);
    ours.forEach((mine, i) => {
      const want = mine ?? zerosLike(inputs[i]!);
      expectClose(want, tape[i]!, 1e-10);
      expectClose(want, numeric[i]!, 1e-6);
    });
  });

  it('lstmCellBackward: grads of ⟨a_next, daNext⟩ + ⟨c_next, dcNext⟩, with a random dcNext', () => {
    const { v } = lstmSetup(13);
    const [xt, daNext] = [at(v.x, 1), at(v.da, 0)];
    const inputs = [xt, v.a0, v.cPrev, ...lstmNames.map((k) => v[k])];
    const loss = (x: Tensor, aPrev: Tensor, cPrev: Tensor, ...ps: Tensor[]) => {
      const { aNext, cNext } = lstmCellForward(x, aPrev, cPrev, lstmNamesOf(ps));
      return add(sum(mul(aNext, daNext)), sum(mul(cNext, v.dc)));
    };
    const g = lstmCellBackward(daNext, v.dc, lstmCellForward(xt, v.a0, v.cPrev, v).cache);
    const ours = [
      g.dxt,
      g.daPrev,
      g.dcPrev,
      g.dWf,
      g.dbf,
      g.dWi,
      g.dbi,
      g.dWc,
      g.dbc,
      g.dWo,
      g.dbo,
      null,
      null,
    ];
    const { tape, numeric } = oracles(loss, inputs);
    ours.forEach((mine, i) => {
      const want = mine ?? zerosLike(inputs[i]!);
      expectClose(want, tape[i]!, 1e-10);
      expectClose(want, numeric[i]!, 1e-6);
    });
  });

  it('lstmBackward: grads of Σ_t ⟨a_t, da_t⟩ wrt x, a0 and the gate parameters', () => {
    const { v, inputs } = lstmSetup(14);
    const loss = (x: Tensor, a0: Tensor, ...ps: Tensor[]) =>
      sum(mul(lstmForward(x, a0, lstmNamesOf(ps)).a, v.da));
    const g = lstmBackward(v.da, lstmForward(v.x, v.a0, v).caches);
    const ours = [g.dx, g.da0, g.dWf, g.dbf, g.dWi, g.dbi, g.dWc, g.dbc, g.dWo, g.dbo, null, null];
    const { tape, numeric } = oracles(loss, inputs);
    ours.forEach((mine, i) => {
      const want = mine ?? zerosLike(inputs[i]!);
      expectClose(want, tape[i]!, 1e-10);
      expectClose(want, numeric[i]!, 1e-6);
    });
  });

  it('the sequence grads are the vjp of the stacked hidden states (seeded with da)', () => {
    const { v } = lstmSetup(15);
    const [, pullback] = vjp(
      (x, a0, ...ps) => lstmForward(x, a0, lstmNamesOf(ps)).a,
      v.x,
      v.a0,
      ...lstmNames.map((k) => v[k]),
    );
    const [dx, da0] = pullback(v.da);
    const g = lstmBackward(v.da, lstmForward(v.x, v.a0, v).caches);
    expectClose(g.dx, dx!, 1e-10);
    expectClose(g.da0, da0!, 1e-10);
  });
});

/** The largest disagreement between a candidate's grads and the tape's, over the named inputs. */
function worstAgainst(tape: Tensor[], candidate: Tensor[]): number {
  return Math.max(...candidate.map((c, i) => maxError(c.data, tape[i]!.data)));
}

/**
 * The notebook's lstm_cell_backward with its syntax repaired, from core ops. With `wrongSlice` it
 * keeps the notebook's bug: dxt takes Wc's columns that belong to a_prev (Wc[:, :n_a]).
 */
function notebookCellBackward(daNext: Tensor, dcNext: Tensor, cache: LstmCache, wrongSlice: boolean) {
  const { cNext, aPrev, cPrev, ft, it, cct, ot, parameters: p } = cache;
  return noGrad(() => {
    const tc = tanh(cNext);
    const slope = sub(1, mul(tc, tc));
    const dc = add(dcNext, mul(mul(daNext, ot), slope));
    const dft = mul(mul(dc, cPrev), mul(ft, sub(1, ft)));
    const dit = mul(mul(dc, cct), mul(it, sub(1, it)));
    const dcct = mul(mul(dc, it), sub(1, mul(cct, cct)));
    const dot = mul(mul(daNext, tc), mul(ot, sub(1, ot)));
    const rows = aPrev.shape[0]!;
    const cols = (w: Tensor, inputPart: boolean) =>
      transpose(inputPart ? slice(w, [0, rows], [rows, w.shape[1]!]) : slice(w, [0, 0], [rows, rows]));
    const dxt = [
      matmul(cols(p.Wf, true), dft),
      matmul(cols(p.Wc, !wrongSlice), dcct),
      matmul(cols(p.Wi, true), dit),
      matmul(cols(p.Wo, true), dot),
    ].reduce((s, t) => add(s, t));
    const daPrev = [
      matmul(cols(p.Wf, false), dft),
      matmul(cols(p.Wc, false), dcct),
      matmul(cols(p.Wi, false), dit),
      matmul(cols(p.Wo, false), dot),
    ].reduce((s, t) => add(s, t));
    return { dxt, daPrev, dcPrev: mul(dc, ft) };
  });
}

/** lstmBackward's loop with the carries switchable: the notebook's version carries neither. */
function lstmBackwardCarrying(da: Tensor, caches: LstmCaches, carry: { a: boolean; c: boolean }): Tensor[] {
  const zero = zeros(caches.steps[0]!.aNext.shape, { dtype: 'float64' });
  let [daPrev, dcPrev, da0] = [zero, zero, zero];
  let dWf = zerosLike(caches.steps[0]!.parameters.Wf);
  const dxs: Tensor[] = [];
  for (let t = caches.steps.length - 1; t >= 0; t--) {
    const g = lstmCellBackward(add(at(da, t), daPrev), dcPrev, caches.steps[t]!);
    dxs[t] = g.dxt;
    dWf = add(dWf, g.dWf);
    da0 = g.daPrev;
    if (carry.a) daPrev = g.daPrev;
    if (carry.c) dcPrev = g.dcPrev;
  }
  return [stack(dxs, 2), da0, dWf];
}

describe("the notebook's LSTM backward bugs disagree with the tape; the correct backward agrees", () => {
  it('dxt from the Wc columns that belong to a_prev', () => {
    const { v } = lstmSetup(21);
    const [xt, daNext] = [at(v.x, 0), at(v.da, 0)];
    const loss = (x: Tensor, aPrev: Tensor, cPrev: Tensor) => {
      const { aNext, cNext } = lstmCellForward(x, aPrev, cPrev, v);
      return add(sum(mul(aNext, daNext)), sum(mul(cNext, v.dc)));
    };
    const tape = valueAndGrad(loss, { argnums: [0, 1, 2] })(xt, v.a0, v.cPrev)[1] as Tensor[];
    const { cache } = lstmCellForward(xt, v.a0, v.cPrev, v);
    const ours = lstmCellBackward(daNext, v.dc, cache);
    const repaired = notebookCellBackward(daNext, v.dc, cache, false);
    const buggy = notebookCellBackward(daNext, v.dc, cache, true);

    expect(worstAgainst(tape, [ours.dxt, ours.daPrev, ours.dcPrev])).toBeLessThan(1e-10);
    expect(worstAgainst(tape, [repaired.dxt, repaired.daPrev, repaired.dcPrev])).toBeLessThan(1e-10);
    expect(maxError(buggy.dxt.data, tape[0]!.data)).toBeGreaterThan(1e-2);
    // Only dxt is wrong: the bug is in one slice, not elsewhere.
    expect(worstAgainst(tape.slice(1), [buggy.daPrev, buggy.dcPrev])).toBeLessThan(1e-10);
  });

  it('an lstmBackward that drops da_prev and dc_prev between steps', () => {
    const { v } = lstmSetup(22);
    const loss = (x: Tensor, a0: Tensor, Wf: Tensor) => sum(mul(lstmForward(x, a0, { ...v, Wf }).a, v.da));
    const tape = valueAndGrad(loss, { argnums: [0, 1, 2] })(v.x, v.a0, v.Wf)[1] as Tensor[];
    const { caches } = lstmForward(v.x, v.a0, v);
    const ours = lstmBackward(v.da, caches);
    expect(worstAgainst(tape, [ours.dx, ours.da0, ours.dWf])).toBeLessThan(1e-10);
    expect(worstAgainst(tape, lstmBackwardCarrying(v.da, caches, { a: true, c: true }))).toBeLessThan(1e-10);
    // The notebook's loop carries neither; carrying da_prev alone is not enough either.
    for (const carry of [
      { a: false, c: false },
      { a: true, c: false },
    ]) {
      const wrong = lstmBackwardCarrying(v.da, caches, carry);
      wrong.forEach((g, i) => {
        expect(maxError(g.data, tape[i]!.data)).toBeGreaterThan(1e-2);
      });
    }
  });
});

// The same backwards as customOps, so that @tapegrad/gradcheck's three oracles (hand-written backward,
// tape of the forward, finite differences) judge them over the whole Jacobian, at several sizes.

const rnnSequenceOp = customOp<stepByStep.RnnCaches>({
  name: 'stepByStep.rnn',
  forward: ([x, a0, ...ps]) => {
    const { a, caches } = rnnForward(x!, a0!, rnnNamesOf(ps));
    return { outputs: a, residuals: caches };
  },
  backward: ([da], caches) => {
    const g = rnnBackward(da!, caches);
    return [g.dx, g.da0, g.dWax, g.dWaa, null, g.dba, null];
  },
  reference: (x, a0, ...ps) => rnnForward(x!, a0!, rnnNamesOf(ps)).a,
});

/** The LSTM over a sequence as a customOp whose backward is `backward` (lstmBackward, or a broken one). */
const lstmSequenceOp = (backward: (da: Tensor, caches: LstmCaches) => Tensor[]) =>
  customOp<LstmCaches>({
    name: 'stepByStep.lstm',
    forward: ([x, a0, ...ps]) => {
      const { a, caches } = lstmForward(x!, a0!, lstmNamesOf(ps));
      return { outputs: a, residuals: caches };
    },
    backward: ([da], caches) => [...backward(da!, caches), null, null],
    reference: (x, a0, ...ps) => lstmForward(x!, a0!, lstmNamesOf(ps)).a,
  });

/** One LSTM step with outputs [a_next, c_next], so both upstream grads (daNext, dcNext) are exercised. */
const lstmCellOp = (backward: typeof lstmCellBackward) =>
  customOp<LstmCache>({
    name: 'stepByStep.lstmCell',
    forward: ([xt, aPrev, cPrev, ...ps]) => {
      const { aNext, cNext, cache } = lstmCellForward(xt!, aPrev!, cPrev!, lstmNamesOf(ps));
      return { outputs: [aNext, cNext], residuals: cache };
    },
    backward: ([daNext, dcNext], cache) => {
      const g = backward(daNext!, dcNext!, cache);
      return [g.dxt, g.daPrev, g.dcPrev, g.dWf, g.dbf, g.dWi, g.dbi, g.dWc, g.dbc, g.dWo, g.dbo, null, null];
    },
    reference: (xt, aPrev, cPrev, ...ps) => {
      const { aNext, cNext } = lstmCellForward(xt!, aPrev!, cPrev!, lstmNamesOf(ps));
      return [aNext, cNext];
    },
  });

const correctLstm = (da: Tensor, caches: LstmCaches): Tensor[] => {
  const g = lstmBackward(da, caches);
  return [g.dx, g.da0, g.dWf, g.dbf, g.dWi, g.dbi, g.dWc, g.dbc, g.dWo, g.dbo];
};

/** (n_x, n_a, n_y, m, T): the notebook's own sizes, single example, single step, n_x > n_a. */
const sizes: [number, number, number, number, number][] = [
  [3, 5, 2, 2, 3],
  [2, 3, 2, 1, 2],
  [1, 2, 1, 3, 1],
  [4, 2, 3, 2, 3],
];

function randomInputs(seed: number, shapes: number[][]): Tensor[] {
  const rng = new RandomState(seed);
  return shapes.map((shape) => rng.randn(...shape));
}

/** Shapes of the LSTM parameters in lstmNames order. */
const lstmShapes = (x: number, a: number, y: number): number[][] =>
  lstmNames.map((k) => (k === 'Wy' ? [y, a] : k === 'by' ? [y, 1] : k.startsWith('W') ? [a, a + x] : [a, 1]));

describe('@tapegrad/gradcheck: hand-written backward vs tape vs finite differences, whole Jacobian', () => {
  it.each(sizes)('n_x %i, n_a %i, n_y %i, m %i, T %i', (x, a, y, batch, steps) => {
    const rnn = randomInputs(40 + steps, [
      [x, batch, steps],
      [a, batch],
      [a, x],
      [a, a],
      [y, a],
      [a, 1],
      [y, 1],
    ]);
    const lstm = randomInputs(50 + steps, [[x, batch, steps], [a, batch], ...lstmShapes(x, a, y)]);
    const cell = randomInputs(60 + steps, [[x, batch], [a, batch], [a, batch], ...lstmShapes(x, a, y)]);
    for (const report of [
      checkOverrideAt(rnnSequenceOp, rnn),
      checkOverrideAt(lstmSequenceOp(correctLstm), lstm),
      checkOverrideAt(lstmCellOp(lstmCellBackward), cell),
    ]) {
      expect(report.ok, formatOverrideReport(report)).toBe(true);
    }
  });

  it("names the notebook's bugs: the hand-written backward is wrong, tape and differences agree", () => {
    const lstm = randomInputs(71, [[nX, m, T], [nA, m], ...lstmShapes(nX, nA, nY)]);
    const dropsCarries = (da: Tensor, caches: LstmCaches): Tensor[] => {
      const [dx, da0, dWf] = lstmBackwardCarrying(da, caches, { a: false, c: false });
      return [dx!, da0!, dWf!, ...correctLstm(da, caches).slice(3)];
    };
    const cell = randomInputs(72, [[nX, m], [nA, m], [nA, m], ...lstmShapes(nX, nA, nY)]);
    const wrongSlice: typeof lstmCellBackward = (daNext, dcNext, cache) => ({
      ...lstmCellBackward(daNext, dcNext, cache),
      dxt: notebookCellBackward(daNext, dcNext, cache, true).dxt,
    });
    for (const report of [
      checkOverrideAt(lstmSequenceOp(dropsCarries), lstm),
      checkOverrideAt(lstmCellOp(wrongSlice), cell),
    ]) {
      expect(report.ok).toBe(false);
      expect(report.verdict).toMatch(/^the hand-written backward is wrong/);
    }
  });
});

describe('float32', () => {
  it('keeps the dtype through forward and backward, close to the float64 result', () => {
    const { v, inputs } = lstmSetup(81);
    const [x, a0, ...ps] = inputs.map((t) => astype(t, 'float32'));
    const single = lstmForward(x!, a0!, lstmNamesOf(ps));
    const g32 = lstmBackward(astype(v.da, 'float32'), single.caches);
    const g64 = lstmBackward(v.da, lstmForward(v.x, v.a0, v).caches);
    expect(single.a.dtype).toBe('float32');
    for (const key of ['dx', 'da0', 'dWf', 'dbo'] as const) {
      expect(g32[key].dtype).toBe('float32');
      expect(maxError(g32[key].data, g64[key].data)).toBeLessThan(1e-4);
    }
  });
});

describe('shape errors name the function and the shapes', () => {
  const rnn = () => rnnSetup(31).v;
  const lstm = () => lstmSetup(32).v;

  it('rnnCellForward and rnnForward', () => {
    const v = rnn();
    const xt = tensor(new Float64Array(nX * m), { shape: [nX, m] });
    const badWax = tensor(new Float64Array(nA * (nX + 1)), { shape: [nA, nX + 1] });
    expect(() => rnnCellForward(xt, v.a0, { ...v, Wax: badWax })).toThrow(
      new ShapeError('rnnCellForward: Wax has shape [4,5], expected [4,4]'),
    );
    expect(() => rnnCellForward(v.x, v.a0, v)).toThrow(
      new ShapeError('rnnCellForward: xt must have rank 2, got shape [4,3,4]'),
    );
    const badA0 = tensor(new Float64Array(nA * (m + 1)), { shape: [nA, m + 1] });
    expect(() => rnnForward(v.x, badA0, v)).toThrow(
      new ShapeError('rnnForward: a0 has shape [4,4], expected [4,3]'),
    );
    expect(() => rnnForward(v.x, v.a0, { ...v, ba: v.a0 })).toThrow(
      new ShapeError('rnnForward: ba has shape [4,3], expected [4,1]'),
    );
  });

  it('lstmCellForward and lstmForward', () => {
    const v = lstm();
    const xt = tensor(new Float64Array(nX * m), { shape: [nX, m] });
    expect(() => lstmCellForward(xt, v.a0, v.a0, { ...v, Wc: v.Wy })).toThrow(
      new ShapeError('lstmCellForward: Wc has shape [3,4], expected [4,8]'),
    );
    const badC = tensor(new Float64Array(nA * 2), { shape: [nA, 2] });
    expect(() => lstmCellForward(xt, v.a0, badC, v)).toThrow(
      new ShapeError('lstmCellForward: cPrev has shape [4,2], expected [4,3]'),
    );
    expect(() => lstmForward(xt, v.a0, v)).toThrow(
      new ShapeError('lstmForward: x must have rank 3, got shape [4,3]'),
    );
  });

  it('the backwards check the upstream grads against the caches', () => {
    const r = rnn();
    const { caches } = rnnForward(r.x, r.a0, r);
    expect(() => rnnBackward(r.a0, caches)).toThrow(
      new ShapeError('rnnBackward: da has shape [4,3], expected [4,3,4]'),
    );
    expect(() => rnnCellBackward(r.x, caches.steps[0]!)).toThrow(
      new ShapeError('rnnCellBackward: daNext has shape [4,3,4], expected [4,3]'),
    );
    const l = lstm();
    const lstmCaches = lstmForward(l.x, l.a0, l).caches;
    expect(() => lstmBackward(l.Wf, lstmCaches)).toThrow(
      new ShapeError('lstmBackward: da has shape [4,8], expected [4,3,4]'),
    );
    expect(() => lstmCellBackward(l.a0, l.Wf, lstmCaches.steps[0]!)).toThrow(
      new ShapeError('lstmCellBackward: dcNext has shape [4,8], expected [4,3]'),
    );
  });

  it('the backwards name caches with no time steps (not a TypeError from reading step 0)', () => {
    const da = tensor(new Float64Array(0), { shape: [nA, m, 0] });
    const r = rnn();
    const emptyRnn = { ...rnnForward(r.x, r.a0, r).caches, steps: [] };
    expect(() => rnnBackward(da, emptyRnn)).toThrow(ShapeError);
    expect(() => rnnBackward(da, emptyRnn)).toThrow(/^rnnBackward: caches hold no time steps$/);
    const l = lstm();
    const emptyLstm = { ...lstmForward(l.x, l.a0, l).caches, steps: [] };
    expect(() => lstmBackward(da, emptyLstm)).toThrow(ShapeError);
    expect(() => lstmBackward(da, emptyLstm)).toThrow(/^lstmBackward: caches hold no time steps$/);
  });
});
