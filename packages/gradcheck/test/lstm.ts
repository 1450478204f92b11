// Test-only LSTM customOps in the notebook's column layout (gates act on the stack [a_prev; x_t]),
// with a correct hand-written backward and the notebook's buggy variants, to prove the checks catch them.
import {
  add,
  concat,
  customOp,
  matmul,
  mul,
  sigmoid,
  slice,
  split,
  squeeze,
  stack,
  sub,
  sum,
  type Tensor,
  tanh,
  transpose,
  zeros,
} from '@tapegrad/core';
import * as fc from 'fast-check';
import { fromPool, pool, seededTensors } from '../src/arbitraries.js';

/** Which mistake the backward makes ('none' is the correct backward). */
export type CellBug =
  | 'none'
  | 'dxt-uses-a_prev-columns-of-Wc' // the notebook's dxt: Wc[:, :n_a] where Wc[:, n_a:] belongs
  | 'da_prev-uses-x-columns-of-Wi' // the mirror slip on da_prev
  | 'dW-uses-[x; a_prev]-stack' // the weight grads against the stack in the wrong order
  | 'dit-misses-sigmoid-derivative'; // the input gate's grad without its σ' = i(1 - i)

export const cellInputNames = ['xt', 'aPrev', 'cPrev', 'Wf', 'bf', 'Wi', 'bi', 'Wc', 'bc', 'Wo', 'bo'];

/** The forward, from core ops: f, i, o = σ(W·[a; x] + b), c̃ = tanh(Wc·[a; x] + bc). */
function cellForward(inputs: readonly Tensor[]) {
  const [xt, aPrev, cPrev, Wf, bf, Wi, bi, Wc, bc, Wo, bo] = inputs as Tensor[] as [Tensor, ...Tensor[]];
  const z = concat([aPrev!, xt], 0);
  const gate = (W: Tensor, b: Tensor): Tensor => add(matmul(W, z), b);
  const ft = sigmoid(gate(Wf!, bf!));
  const it = sigmoid(gate(Wi!, bi!));
  const cct = tanh(gate(Wc!, bc!));
  const ot = sigmoid(gate(Wo!, bo!));
  const cNext = add(mul(ft, cPrev!), mul(it, cct));
  const aNext = mul(ot, tanh(cNext));
  return { aNext, cNext, cache: { z, ft, it, cct, ot, cNext, cPrev: cPrev!, xt, aPrev: aPrev! } };
}

type Cache = ReturnType<typeof cellForward>['cache'];

/** lstm_cell_backward: grads of [xt, aPrev, cPrev, Wf, bf, Wi, bi, Wc, bc, Wo, bo]. */
function cellBackward(
  daNext: Tensor,
  dcNext: Tensor,
  r: Cache,
  weights: { Wf: Tensor; Wi: Tensor; Wc: Tensor; Wo: Tensor },
  bug: CellBug,
): Tensor[] {
  const nA = r.aPrev.shape[0]!;
  const nX = r.xt.shape[0]!;
  const tanhC = tanh(r.cNext);
  // dc = dc_next + da_next·o·(1 - tanh²c); each gate's pre-activation grad by its own derivative
  const dc = add(dcNext, mul(mul(daNext, r.ot), sub(1, mul(tanhC, tanhC))));
  const dot = mul(mul(daNext, tanhC), mul(r.ot, sub(1, r.ot)));
  const dcct = mul(mul(dc, r.it), sub(1, mul(r.cct, r.cct)));
  const dit =
    bug === 'dit-misses-sigmoid-derivative' ? mul(dc, r.cct) : mul(mul(dc, r.cct), mul(r.it, sub(1, r.it)));
  const dft = mul(mul(dc, r.cPrev), mul(r.ft, sub(1, r.ft)));
  // dW = d_gate · [a; x]ᵀ, db = Σ_columns d_gate
  const stacked = bug === 'dW-uses-[x; a_prev]-stack' ? concat([r.xt, r.aPrev], 0) : r.z;
  const dW = (d: Tensor): Tensor => matmul(d, transpose(stacked));
  const db = (d: Tensor): Tensor => sum(d, { axis: 1, keepDims: true });
  const aCols = (W: Tensor): Tensor => slice(W, [0, 0], [nA, nA]);
  const xCols = (W: Tensor): Tensor => slice(W, [0, nA], [nA, nA + nX]);
  const back = (cols: Tensor, d: Tensor): Tensor => matmul(transpose(cols), d);
  const { Wf, Wi, Wc, Wo } = weights;
  // da_prev = Σ_gates W[:, :n_a]ᵀ d_gate and dxt = Σ_gates W[:, n_a:]ᵀ d_gate
  const daPrev = [
    back(aCols(Wf), dft),
    back(bug === 'da_prev-uses-x-columns-of-Wi' ? xCols(Wi) : aCols(Wi), dit),
    back(aCols(Wc), dcct),
    back(aCols(Wo), dot),
  ].reduce((s, t) => add(s, t));
  const dxt = [
    back(xCols(Wf), dft),
    back(xCols(Wi), dit),
    back(bug === 'dxt-uses-a_prev-columns-of-Wc' ? aCols(Wc) : xCols(Wc), dcct),
    back(xCols(Wo), dot),
  ].reduce((s, t) => add(s, t));
  const dcPrev = mul(dc, r.ft);
  return [dxt, daPrev, dcPrev, dW(dft), db(dft), dW(dit), db(dit), dW(dcct), db(dcct), dW(dot), db(dot)];
}

const weightsOf = (inputs: readonly Tensor[]) => ({
  Wf: inputs[3]!,
  Wi: inputs[5]!,
  Wc: inputs[7]!,
  Wo: inputs[9]!,
});

/** lstm_cell as a customOp: (xt, aPrev, cPrev, Wf, bf, Wi, bi, Wc, bc, Wo, bo) → [aNext, cNext]. */
export function lstmCell(bug: CellBug = 'none') {
  return customOp<Cache>({
    name: bug === 'none' ? 'lstmCell' : `lstmCell(${bug})`,
    forward(inputs) {
      const { aNext, cNext, cache } = cellForward(inputs);
      return { outputs: [aNext, cNext], residuals: cache };
    },
    backward([daNext, dcNext], cache, inputs) {
      return cellBackward(daNext!, dcNext!, cache, weightsOf(inputs), bug);
    },
    reference: (...inputs) => {
      const { aNext, cNext } = cellForward(inputs);
      return [aNext, cNext];
    },
  });
}

export const sequenceInputNames = ['a0', 'Wf', 'bf', 'Wi', 'bi', 'Wc', 'bc', 'Wo', 'bo', 'x'];

/** lstm_forward over x (n_x, m, T) from a0 and c0 = 0, returning a (n_a, m, T), as the notebook does. */
function sequenceForward(inputs: readonly Tensor[]) {
  const [a0, Wf, bf, Wi, bi, Wc, bc, Wo, bo, x] = inputs as [Tensor, ...Tensor[]];
  const steps = split(x!, x!.shape[2]!, 2).map((xt) => squeeze(xt, 2));
  let a = a0;
  let c = zeros(a0.shape, { dtype: a0.dtype });
  const caches: Cache[] = [];
  const as: Tensor[] = [];
  for (const xt of steps) {
    const step = cellForward([xt, a, c, Wf!, bf!, Wi!, bi!, Wc!, bc!, Wo!, bo!]);
    a = step.aNext;
    c = step.cNext;
    caches.push(step.cache);
    as.push(a);
  }
  return { a: stack(as, 2), caches };
}

/** lstm_backward as a customOp; `dropCarries` is the notebook's: da_prev and dc_prev never reach t - 1. */
export function lstmSequence(dropCarries = false) {
  return customOp<Cache[]>({
    name: dropCarries ? 'lstmSequence(drops da_prev/dc_prev)' : 'lstmSequence',
    forward(inputs) {
      const { a, caches } = sequenceForward(inputs);
      return { outputs: a, residuals: caches };
    },
    backward([da], caches, inputs) {
      const weights = { Wf: inputs[1]!, Wi: inputs[3]!, Wc: inputs[5]!, Wo: inputs[7]! };
      const daSteps = split(da!, caches.length, 2).map((g) => squeeze(g, 2));
      let daPrev = zeros(inputs[0]!.shape, { dtype: da!.dtype });
      let dcPrev = daPrev;
      const dxs: Tensor[] = [];
      let paramGrads: Tensor[] | null = null;
      for (let t = caches.length - 1; t >= 0; t--) {
        const [dxt, daStep, dcStep, ...dParams] = cellBackward(
          add(daSteps[t]!, daPrev),
          dcPrev,
          caches[t]!,
          weights,
          'none',
        );
        dxs[t] = dxt!;
        paramGrads = paramGrads ? paramGrads.map((g, k) => add(g, dParams[k]!)) : dParams;
        if (!dropCarries || t === 0) {
          // The notebook still reads da0 off the last cell it ran (t = 0).
          daPrev = daStep!;
          dcPrev = dcStep!;
        }
      }
      return [daPrev, ...paramGrads!, stack(dxs, 2)];
    },
    reference: (...inputs) => sequenceForward(inputs).a,
  });
}

/** Dimensions of a cell or a sequence: hidden size, input size, batch (and steps). */
export const dims = fc.record({
  nA: fc.integer({ min: 1, max: 3 }),
  nX: fc.integer({ min: 1, max: 3 }),
  m: fc.integer({ min: 1, max: 3 }),
  T: fc.integer({ min: 1, max: 3 }),
});

/** The shapes of lstmCell's inputs for given dimensions. */
const cellShapes = ({ nA, nX, m }: { nA: number; nX: number; m: number }): number[][] => [
  [nX, m],
  [nA, m],
  [nA, m],
  ...[0, 1, 2, 3].flatMap(() => [
    [nA, nA + nX],
    [nA, 1],
  ]),
];

/** Inputs of lstmCell: xt, aPrev, cPrev, then (W, b) for f, i, c, o (generic values; dims shrink). */
export const cellInputs = seededTensors(dims.map(cellShapes), { min: -1, max: 1 });

/** Inputs of lstmSequence: a0, (W, b) for f, i, c, o, then x of shape (n_x, m, T). */
export const sequenceInputs = seededTensors(
  dims.map(({ nA, nX, m, T }) => [
    [nA, m],
    ...[0, 1, 2, 3].flatMap(() => [
      [nA, nA + nX],
      [nA, 1],
    ]),
    [nX, m, T],
  ]),
  { min: -1, max: 1 },
);

/**
 * Inputs of lstmCell whose values shrink too (towards 0, where every gate's derivative is tame and
 * many products vanish): each input is cropped from a pool of its largest shape, so the dimensions
 * and the values shrink side by side.
 */
export const shrinkingCellInputs = fc
  .tuple(
    dims,
    fc.tuple(...cellShapes({ nA: 3, nX: 3, m: 3 }).map((within) => pool({ min: -1, max: 1 }, within))),
  )
  .map(([d, pools]) => {
    const largest = cellShapes({ nA: 3, nX: 3, m: 3 });
    return cellShapes(d).map((s, k) => fromPool(pools[k]!, s, 'float64', largest[k]));
  });
