// Whole-sequence recurrent ops: an RNN, LSTM or GRU over x [T, B, I] as one customOp, with the input
// projection of every step in one gemm and backward through time written by hand (the cells' own maths).
import {
  type CustomOp,
  customOp,
  type DType,
  DTypeError,
  formatShape as fmt,
  reshape,
  ShapeError,
  split,
  stack,
  type Tensor,
  type TypedArray,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';
import { type Carving, carve, carving, freshGrad, gradSize, passedGrad, toTensor } from './common.js';
import { gruCellReference } from './gru.js';
import { lstmCellReference } from './lstm.js';
import { type RnnNonlinearity, rnnCellReference } from './rnn.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

interface SequenceShape extends kernels.SequenceDims {
  input: number;
  /** gates·hidden: the rows of the stacked weights. */
  width: number;
}

/**
 * Checks x [T, B, I], the states [B, H], weights [G·H, I] and [G·H, H], biases [G·H], all of one dtype;
 * `names` are the inputs' names, x first and the states next.
 */
function checkSequence(
  op: string,
  gateCount: number,
  inputs: readonly Tensor[],
  names: readonly string[],
): SequenceShape {
  if (inputs.length !== names.length) {
    throw new TypeError(
      `${op}: expected ${names.length} tensors (${names.join(', ')}), got ${inputs.length}`,
    );
  }
  const [x, h0] = inputs as [Tensor, Tensor];
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    if (t.dtype !== x.dtype) throw new DTypeError(`${op}: ${names[i]} is ${t.dtype} but x is ${x.dtype}`);
  }
  if (x.rank !== 3 || x.shape[0] === 0) {
    throw new ShapeError(`${op}: x must be [time, batch, input] with time ≥ 1, got ${fmt(x.shape)}`);
  }
  if (h0.rank !== 2) throw new ShapeError(`${op}: ${names[1]} must be [batch, hidden], got ${fmt(h0.shape)}`);
  const [steps, batch, input] = x.shape as [number, number, number];
  const hidden = h0.shape[1]!;
  const width = gateCount * hidden;
  const states = names.length - 5;
  for (let k = 1; k < inputs.length; k++) {
    // The states [B, H], then weightIh [G·H, I], weightHh [G·H, H], biasIh and biasHh [G·H].
    const rank = k < states + 3 ? 2 : 1;
    const rows = k <= states ? batch : width;
    const columns = k <= states ? hidden : k === states + 1 ? input : hidden;
    const t = inputs[k]!;
    if (t.rank !== rank || t.shape[0] !== rows || (rank === 2 && t.shape[1] !== columns)) {
      const want = rank === 2 ? [rows, columns] : [rows];
      throw new ShapeError(
        `${op}: ${names[k]} has shape ${fmt(t.shape)}, expected ${fmt(want)} for x ${fmt(x.shape)} and ${names[1]} ${fmt(h0.shape)}`,
      );
    }
  }
  return { steps, batch, input, hidden, width };
}

/**
 * Buffers of these sizes from `arena`, not zeroed: every caller here writes each value before it reads
 * one. A call arena's scratch (the backward's gate grads, say) goes back when the call returns, so
 * backward through time allocates nothing but the grads it returns; a graph arena's saved values when
 * the graph's backward has run.
 */
const takeAll = <const Sizes extends readonly number[]>(
  arena: kernels.Arena,
  dtype: DType,
  sizes: Sizes,
): { -readonly [K in keyof Sizes]: TypedArray } =>
  sizes.map((size) => arena.take(dtype, size, { zeroed: false })) as {
    -readonly [K in keyof Sizes]: TypedArray;
  };

/**
 * A tensor of the last [B, H] step block of a [T·B, H] buffer: a view of the output's own buffer (never
 * written again), else a copy into `copy` (the buffer may be a graph arena's, reused once the graph is freed).
 */
function lastStep(data: TypedArray, s: SequenceShape, copy?: TypedArray): Tensor {
  const block = s.batch * s.hidden;
  const last = data.subarray((s.steps - 1) * block, s.steps * block);
  if (copy) copy.set(last);
  return toTensor(copy ?? last, [s.batch, s.hidden]);
}

/** gates [T·B, G·H] = X·W_ihᵀ for every step at once. */
function projectInputs(s: SequenceShape, x: Tensor, weightIh: Tensor, gates: TypedArray): void {
  kernels.gemm({
    a: x.data,
    b: weightIh.data,
    c: gates,
    m: s.steps * s.batch,
    n: s.width,
    k: s.input,
    transB: true,
  });
}

/**
 * One carving for the grads of the states, weights and biases (inputs after x; biases last), which
 * are small and consumed together; equal bias grads (RNN, LSTM) share their values. x's grad, as
 * large as the sequence and passed on to the layer below, keeps a buffer of its own.
 */
function paramGradCarving(inputs: readonly Tensor[], sharedBias: boolean): Carving {
  const n = inputs.length;
  let size = 0;
  for (let i = 1; i < n - 2; i++) size += gradSize(inputs[i]!);
  const [biasIh, biasHh] = [inputs[n - 2]!, inputs[n - 1]!];
  if (!sharedBias) size += gradSize(biasIh) + gradSize(biasHh);
  else if (biasIh.requiresGrad || biasHh.requiresGrad) size += biasIh.size;
  // Every grad is written whole (copies, and gemms that do not accumulate): no zeros needed.
  return carving(inputs[0]!.dtype, size, { zero: false });
}

/**
 * The grads through the projections from the gate grads of every step (one buffer for the input side
 * and one for the hidden side; the same for RNN and LSTM): whole-sequence gemms, nulls for inputs
 * that do not require grad. previous() gives h_0 .. h_{T-1} back to back [T·B, H].
 */
function projectionGrads(
  s: SequenceShape,
  x: Tensor,
  previous: () => TypedArray,
  weightIh: Tensor,
  weightHh: Tensor,
  dInputGates: TypedArray,
  dHiddenGates: TypedArray,
  params: Carving,
): { dx: Tensor | null; dWeightIh: Tensor | null; dWeightHh: Tensor | null } {
  const { steps, batch, input, hidden, width } = s;
  const rows = steps * batch;
  return {
    // dX = dGates_ih · W_ih
    dx: passedGrad(x, null, (out) =>
      kernels.gemm({ a: dInputGates, b: weightIh.data, c: out, m: rows, n: input, k: width }),
    ),
    // dW_ih = dGates_ihᵀ · X
    dWeightIh: freshGrad(weightIh, params, (out) =>
      kernels.gemm({ a: dInputGates, b: x.data, c: out, m: width, n: input, k: rows, transA: true }),
    ),
    // dW_hh = Σ_t dGates_hh,tᵀ · h_{t-1}: one product over every step
    dWeightHh: freshGrad(weightHh, params, (out) =>
      kernels.gemm({ a: dHiddenGates, b: previous(), c: out, m: width, n: hidden, k: rows, transA: true }),
    ),
  };
}

/**
 * h0 and the output's blocks 0..T-2 copied back to back into scratch, for projectionGrads (h0's block
 * alone was a small product of its own, whose fixed costs outweighed the copy; the paired runs that
 * showed it are in bench/README).
 */
function previousStates(
  s: SequenceShape,
  h0: Tensor,
  output: TypedArray,
  scratch: kernels.Arena,
): TypedArray {
  const block = s.batch * s.hidden;
  const previous = scratch.take(h0.dtype, s.steps * block, { zeroed: false });
  previous.set(h0.data);
  previous.set(output.subarray(0, (s.steps - 1) * block), block);
  return previous;
}

/** A copy of `values` (a scratch buffer) as the grad of t, or null if t does not require grad. */
function copyGrad(t: Tensor, values: TypedArray, from: Carving): Tensor | null {
  if (!t.requiresGrad) return null;
  const out = carve(from, t.size);
  out.set(values);
  return toTensor(out, t.shape);
}

/** The equal grads of biasIh and biasHh (RNN, LSTM): one copy of dBias, shared, as tensors never change. */
function sharedBiasGrads(
  biasIh: Tensor,
  biasHh: Tensor,
  dBias: TypedArray,
  from: Carving,
): [Tensor | null, Tensor | null] {
  if (!biasIh.requiresGrad || !biasHh.requiresGrad) {
    return [copyGrad(biasIh, dBias, from), copyGrad(biasHh, dBias, from)];
  }
  const copy = copyGrad(biasIh, dBias, from)!;
  return [copy, toTensor(copy.data, biasHh.shape)];
}

/** The per-step cell unrolled with core ops: [output [T, B, H], ...final states]. */
function unrolled(x: Tensor, state: Tensor[], step: (xt: Tensor, state: Tensor[]) => Tensor[]): Tensor[] {
  const [steps, batch, input] = x.shape as [number, number, number];
  const hs = split(x, steps, 0).map((slab) => {
    const xt = reshape(slab, [batch, input]);
    state = step(xt, state);
    return state[0]!;
  });
  return [stack(hs, 0), ...state];
}

type RnnInputs = [x: Tensor, h0: Tensor, weightIh: Tensor, weightHh: Tensor, biasIh: Tensor, biasHh: Tensor];
const RNN_NAMES = ['x', 'h0', 'weightIh', 'weightHh', 'biasIh', 'biasHh'] as const;

interface RnnResiduals {
  shape: SequenceShape;
  /** h_1..h_T [T·B, H]: the output's own buffer, never written again. */
  output: TypedArray;
}

function rnnSequenceOp(nonlinearity: RnnNonlinearity): CustomOp<RnnResiduals | null> {
  const name = nonlinearity === 'tanh' ? 'rnnTanhSequence' : 'rnnReluSequence';
  return customOp<RnnResiduals | null>({
    name,
    forward(inputs, { needsGrad }) {
      const shape = checkSequence(name, 1, inputs, RNN_NAMES);
      const [x, h0, weightIh, weightHh, biasIh, biasHh] = inputs as RnnInputs;
      const { steps, batch, hidden } = shape;
      // The pre-activations are made in the output buffer (written whole) and activated there; h' alone
      // gives act'.
      const output = allocate(x.dtype, steps * batch * hidden, { zero: false });
      projectInputs(shape, x, weightIh, output);
      kernels.rnnSequenceForward({
        output,
        weightHh: weightHh.data,
        biasIh: biasIh.data,
        biasHh: biasHh.data,
        h0: h0.data,
        steps,
        batch,
        hidden,
        nonlinearity,
      });
      return {
        outputs: [toTensor(output, [steps, batch, hidden]), lastStep(output, shape)],
        residuals: needsGrad ? { shape, output } : null,
      };
    },
    backward: ([gradOutput, gradHN], residuals, inputs) =>
      kernels.callArena(`${name} backward`, (scratch) => {
        const { shape, output } = residuals!;
        const [x, h0, weightIh, weightHh, biasIh, biasHh] = inputs as RnnInputs;
        const { steps, batch, hidden } = shape;
        const [dGates, dh, dBias] = takeAll(scratch, x.dtype, [
          steps * batch * hidden,
          batch * hidden,
          hidden,
        ]);
        dh.set(gradHN!.data);
        kernels.rnnSequenceBackward({
          gradOutput: gradOutput!.data,
          output,
          weightHh: weightHh.data,
          dGates,
          dh,
          dBias,
          steps,
          batch,
          hidden,
          nonlinearity,
        });
        const params = paramGradCarving(inputs, true);
        const previous = () => previousStates(shape, h0, output, scratch);
        const d = projectionGrads(shape, x, previous, weightIh, weightHh, dGates, dGates, params);
        // db_ih = db_hh = Σ_{t,b} dGates
        return [
          d.dx,
          copyGrad(h0, dh, params),
          d.dWeightIh,
          d.dWeightHh,
          ...sharedBiasGrads(biasIh, biasHh, dBias, params),
        ];
      }),
    reference: (x, h0, weightIh, weightHh, biasIh, biasHh) =>
      unrolled(x!, [h0!], (xt, [h]) => [
        rnnCellReference(xt, h!, weightIh!, weightHh!, biasIh!, biasHh!, { nonlinearity }),
      ]),
  });
}

/** The tanh RNN over a sequence: (x [T, B, I], h0 [B, H], weightIh, weightHh, biasIh, biasHh) → [output [T, B, H], hN]. */
export const rnnTanhSequence = rnnSequenceOp('tanh');
/** The relu RNN over a sequence, as rnnTanhSequence. */
export const rnnReluSequence = rnnSequenceOp('relu');

/** [output [T, B, H], hN [B, H]] of an Elman RNN over x [T, B, I] from h0 [B, H]. */
export function rnnSequence(
  x: Tensor,
  h0: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
  options: { nonlinearity?: RnnNonlinearity } = {},
): [Tensor, Tensor] {
  const nonlinearity = options.nonlinearity ?? 'tanh';
  if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
    throw new RangeError(`rnnSequence: nonlinearity must be 'tanh' or 'relu', got ${String(nonlinearity)}`);
  }
  const op = nonlinearity === 'tanh' ? rnnTanhSequence : rnnReluSequence;
  return op(x, h0, weightIh, weightHh, biasIh, biasHh) as [Tensor, Tensor];
}

type LstmInputs = [
  x: Tensor,
  h0: Tensor,
  c0: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
];
const LSTM_NAMES = ['x', 'h0', 'c0', 'weightIh', 'weightHh', 'biasIh', 'biasHh'] as const;

interface LstmResiduals {
  shape: SequenceShape;
  /** Holds LstmBuffers, lent to the graph. */
  saved: kernels.GraphArena;
}

/** gates i, f, g, o [T·B, 4H], c_t [T·B, H], tanh c_t [T·B, H], h_0 .. h_T [(T+1)·B, H]. */
type LstmBuffers = [gates: TypedArray, cells: TypedArray, tanhCells: TypedArray, states: TypedArray];

/** The LSTM over a sequence, a customOp of (x, h0, c0, weightIh, weightHh, biasIh, biasHh) → [output, hN, cN]. */
export const lstmSequenceOp: CustomOp<LstmResiduals | null> = customOp<LstmResiduals | null>({
  name: 'lstmSequence',
  forward(inputs, { needsGrad }) {
    const shape = checkSequence('lstmSequence', 4, inputs, LSTM_NAMES);
    const [x, h0, c0, weightIh, weightHh, biasIh, biasHh] = inputs as LstmInputs;
    const { steps, batch, hidden, width } = shape;
    const rows = steps * batch;
    const block = batch * hidden;
    const saved = kernels.graphArena('lstmSequence');
    const sizes = [rows * width, rows * hidden, rows * hidden, rows * hidden + block] as const;
    const [gates, cells, tanhCells, states]: LstmBuffers = takeAll(saved, x.dtype, sizes);
    // The states h_0 .. h_T back to back in the graph arena, made there by the kernel (in place in wasm
    // memory), so the backward's dW_hh reads h_{t-1} of every step where it is, not from a copy.
    states.set(h0.data);
    const hs = states.subarray(block);
    projectInputs(shape, x, weightIh, gates);
    kernels.lstmSequenceForward({
      gates,
      weightHh: weightHh.data,
      biasIh: biasIh.data,
      biasHh: biasHh.data,
      h0: states.subarray(0, block),
      c0: c0.data,
      output: hs,
      cells,
      tanhCells,
      steps,
      batch,
      hidden,
    });
    // The output and cN from one allocation (hN is a view of the output), both copies written whole.
    const outputs = carving(x.dtype, (rows + batch) * hidden, { zero: false });
    const output = carve(outputs, rows * hidden);
    output.set(hs);
    const results = [
      toTensor(output, [steps, batch, hidden]),
      lastStep(output, shape),
      lastStep(cells, shape, carve(outputs, batch * hidden)),
    ];
    saved.lendTo(results, needsGrad);
    return { outputs: results, residuals: needsGrad ? { shape, saved } : null };
  },
  backward: ([gradOutput, gradHN, gradCN], residuals, inputs) =>
    kernels.callArena('lstmSequence backward', (scratch) => {
      const { shape, saved } = residuals!;
      const [gates, cells, tanhCells, states] = saved.buffers as LstmBuffers;
      const [x, h0, c0, weightIh, weightHh, biasIh, biasHh] = inputs as LstmInputs;
      const { steps, batch, hidden, width } = shape;
      const block = batch * hidden;
      const [dGates, dh, dc, dBias] = takeAll(scratch, x.dtype, [steps * batch * width, block, block, width]);
      dh.set(gradHN!.data);
      dc.set(gradCN!.data);
      kernels.lstmSequenceBackward({
        gradOutput: gradOutput!.data,
        gates,
        c0: c0.data,
        cells,
        tanhCells,
        weightHh: weightHh.data,
        dGates,
        dh,
        dc,
        dBias,
        steps,
        batch,
        hidden,
      });
      const params = paramGradCarving(inputs, true);
      const previous = () => states.subarray(0, steps * batch * hidden);
      const d = projectionGrads(shape, x, previous, weightIh, weightHh, dGates, dGates, params);
      // dh0, dc0: the carries after step 0; db_ih = db_hh = Σ_{t,b} dGates
      return [
        d.dx,
        copyGrad(h0, dh, params),
        copyGrad(c0, dc, params),
        d.dWeightIh,
        d.dWeightHh,
        ...sharedBiasGrads(biasIh, biasHh, dBias, params),
      ];
    }),
  reference: (x, h0, c0, weightIh, weightHh, biasIh, biasHh) =>
    unrolled(x!, [h0!, c0!], (xt, [h, c]) =>
      lstmCellReference(xt, h!, c!, weightIh!, weightHh!, biasIh!, biasHh!),
    ),
});

/** [output [T, B, H], hN, cN] of an LSTM over x [T, B, I] from h0, c0 [B, H] (gates i, f, g, o). */
export function lstmSequence(
  x: Tensor,
  h0: Tensor,
  c0: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): [Tensor, Tensor, Tensor] {
  return lstmSequenceOp(x, h0, c0, weightIh, weightHh, biasIh, biasHh) as [Tensor, Tensor, Tensor];
}

interface GruResiduals {
  shape: SequenceShape;
  output: TypedArray;
  /** Holds [gates r, z, n [T·B, 3H], W_hn h_{t-1} + b_hn [T·B, H]], lent to the graph. */
  saved: kernels.GraphArena;
}

/** The GRU over a sequence, a customOp of (x, h0, weightIh, weightHh, biasIh, biasHh) → [output, hN]. */
export const gruSequenceOp: CustomOp<GruResiduals | null> = customOp<GruResiduals | null>({
  name: 'gruSequence',
  forward(inputs, { needsGrad }) {
    const shape = checkSequence('gruSequence', 3, inputs, RNN_NAMES);
    const [x, h0, weightIh, weightHh, biasIh, biasHh] = inputs as RnnInputs;
    const { steps, batch, hidden, width } = shape;
    const rows = steps * batch;
    const saved = kernels.graphArena('gruSequence');
    const [gates, hiddenN] = takeAll(saved, x.dtype, [rows * width, rows * hidden]);
    const output = allocate(x.dtype, rows * hidden, { zero: false }); // every step written whole
    projectInputs(shape, x, weightIh, gates);
    kernels.callArena('gruSequence', (scratch) =>
      kernels.gruSequenceForward({
        gates,
        hiddenGates: scratch.take(x.dtype, batch * width, { zeroed: false }),
        weightHh: weightHh.data,
        biasIh: biasIh.data,
        biasHh: biasHh.data,
        h0: h0.data,
        output,
        hiddenN,
        steps,
        batch,
        hidden,
      }),
    );
    const outputs = [toTensor(output, [steps, batch, hidden]), lastStep(output, shape)];
    saved.lendTo(outputs, needsGrad);
    return { outputs, residuals: needsGrad ? { shape, output, saved } : null };
  },
  backward: ([gradOutput, gradHN], residuals, inputs) =>
    kernels.callArena('gruSequence backward', (scratch) => {
      const { shape, output, saved } = residuals!;
      const [gates, hiddenN] = saved.buffers as [TypedArray, TypedArray];
      const [x, h0, weightIh, weightHh, biasIh, biasHh] = inputs as RnnInputs;
      const { steps, batch, hidden, width } = shape;
      const gateGrads = steps * batch * width;
      const sizes = [gateGrads, gateGrads, batch * hidden, width, width] as const;
      const [dInputGates, dHiddenGates, dh, dBiasIh, dBiasHh] = takeAll(scratch, x.dtype, sizes);
      dh.set(gradHN!.data);
      kernels.gruSequenceBackward({
        gradOutput: gradOutput!.data,
        gates,
        hiddenN,
        h0: h0.data,
        output,
        weightHh: weightHh.data,
        dInputGates,
        dHiddenGates,
        dh,
        dBiasIh,
        dBiasHh,
        steps,
        batch,
        hidden,
      });
      const params = paramGradCarving(inputs, false);
      const previous = () => previousStates(shape, h0, output, scratch);
      const d = projectionGrads(shape, x, previous, weightIh, weightHh, dInputGates, dHiddenGates, params);
      // db_ih = Σ_{t,b} dGates_ih, db_hh = Σ_{t,b} dGates_hh
      return [
        d.dx,
        copyGrad(h0, dh, params),
        d.dWeightIh,
        d.dWeightHh,
        copyGrad(biasIh, dBiasIh, params),
        copyGrad(biasHh, dBiasHh, params),
      ];
    }),
  reference: (x, h0, weightIh, weightHh, biasIh, biasHh) =>
    unrolled(x!, [h0!], (xt, [h]) => [gruCellReference(xt, h!, weightIh!, weightHh!, biasIh!, biasHh!)]),
});

/** [output [T, B, H], hN [B, H]] of a GRU over x [T, B, I] from h0 [B, H] (gates r, z, n). */
export function gruSequence(
  x: Tensor,
  h0: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): [Tensor, Tensor] {
  return gruSequenceOp(x, h0, weightIh, weightHh, biasIh, biasHh) as [Tensor, Tensor];
}

markLibraryCode(codeStart, new Error()); // and where it ends
