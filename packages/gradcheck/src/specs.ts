// One gradient spec per core op: how to draw its arguments (domain, kinks kept at a margin),
// how to call it, and any tolerance of its own. Typed by OpName, so a new op without a spec
// is a compile error.
import {
  abs,
  add,
  astype,
  broadcastShapes,
  broadcastTo,
  clip,
  concat,
  div,
  exp,
  gather,
  indexSelect,
  log,
  logSoftmax,
  logSumExp,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  neg,
  noGrad,
  type OpName,
  permute,
  pow,
  relu,
  reshape,
  type Shape,
  sigmoid,
  slice,
  softmax,
  split,
  sqrt,
  squeeze,
  stack,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
  unsqueeze,
  where,
} from '@tapegrad/core';
import * as fc from 'fast-check';
import {
  broadcastableShapes,
  defaultMargin,
  masks,
  shapes,
  type TensorArbOptions,
  tensors,
} from './arbitraries.js';
import type { Outputs } from './finiteDiff.js';
import type { GradcheckOptions } from './gradcheck.js';

export interface OpSpec {
  /** The op's arguments (tensors and plain options), as fast-check draws them. */
  args: fc.Arbitrary<unknown[]>;
  /** Calls the op on them (typed against args where the spec is written, by `spec`). */
  call: (...args: unknown[]) => Outputs;
  /** Tolerance and non-differentiable arguments, passed to gradcheck. */
  options?: GradcheckOptions;
  /** What the arguments keep away from, and why. */
  kinks?: string;
  /** The op's second-order check (gradgradcheck): required, so an op without one does not compile. */
  gradgrad: GradgradSpec;
}

/** An op's second-order check: what it holds the tape to, and anything of its own it needs. */
export interface GradgradSpec {
  /** The second derivative the check holds the tape to, in one line. */
  rule: string;
  /** Tolerance of its own at second order, on top of `options`. */
  options?: GradcheckOptions;
  /** A call of its own at second order (default `call`), where the first-order one cannot be checked; say why. */
  call?: OpSpec['call'];
}

/** A mutable tuple (what a rest parameter takes). */
const tuple = <T extends unknown[]>(...items: T): T => items;

/** A spec whose call is typed against its arguments. */
const spec = <A extends unknown[]>(
  args: fc.Arbitrary<A>,
  call: (...args: NoInfer<A>) => Outputs,
  rest: Omit<OpSpec, 'args' | 'call'>,
): OpSpec => ({ args, call: call as OpSpec['call'], ...rest });

const unaryArgs = (values: TensorArbOptions = {}) => tensors(values).map((x) => tuple(x));

/** Two tensors of broadcastable shapes. */
const binaryArgs = (left: TensorArbOptions = {}, right: TensorArbOptions = {}) =>
  broadcastableShapes(2).chain(([a, b]) =>
    fc.tuple(tensors({ ...left, shape: a! }), tensors({ ...right, shape: b! })),
  );

/** No broadcast pair of a and b closer than the margin: maximum and minimum are kinked at ties. */
const apart = ([a, b]: readonly [Tensor, Tensor]): boolean =>
  noGrad(() => min(abs(sub(a, b))).item() > defaultMargin);

/** A shape of rank ≥ 1 and an axis of it (negative half the time). */
const withAxis = (options: { minRank?: number } = {}) =>
  fc.tuple(shapes({ minRank: options.minRank ?? 1 }), fc.nat(), fc.boolean()).map(([shape, k, negative]) => {
    const axis = k % shape.length;
    return { shape, axis: negative ? axis - shape.length : axis };
  });

/** A reduction's arguments: a tensor and { axis, keepDims } with axis none, one or several. */
const reduceArgs = (values: TensorArbOptions = {}) =>
  fc
    .tuple(shapes(), fc.option(fc.array(fc.nat(), { maxLength: 3 })), fc.boolean())
    .chain(([shape, picks, keepDims]) => {
      const axes = picks === null ? undefined : [...new Set(picks.map((p) => p % Math.max(shape.length, 1)))];
      const axis = shape.length === 0 || axes?.length === 0 ? undefined : axes;
      return tensors({ ...values, shape }).map((x) => tuple(x, { axis, keepDims }));
    });

/** Permutations of 0..rank-1, drawn as the argsort of random keys. */
const permutationOf = (rank: number) =>
  fc.array(fc.nat(), { minLength: rank, maxLength: rank }).map((keys) =>
    keys
      .map((k, i) => tuple(k, i))
      .sort((p, q) => p[0] - q[0] || p[1] - q[1])
      .map(([, i]) => i),
  );

/** numpy matmul's cases: 1-D operands, 2-D, and a batch axis broadcast on either side. */
const matmulArgs = fc
  .record({
    m: fc.integer({ min: 1, max: 3 }),
    k: fc.integer({ min: 1, max: 3 }),
    n: fc.integer({ min: 1, max: 3 }),
    batch: fc.integer({ min: 1, max: 2 }),
    rankA: fc.integer({ min: 1, max: 3 }),
    rankB: fc.integer({ min: 1, max: 3 }),
    broadcastA: fc.boolean(),
  })
  .chain(({ m, k, n, batch, rankA, rankB, broadcastA }) => {
    const a = rankA === 1 ? [k] : rankA === 2 ? [m, k] : [broadcastA ? 1 : batch, m, k];
    const b = rankB === 1 ? [k] : rankB === 2 ? [k, n] : [broadcastA ? batch : 1, k, n];
    return fc.tuple(tensors({ shape: a }), tensors({ shape: b }));
  });

/** Tensors along one axis: equal shapes except along it (concat), or equal shapes (stack). */
const joinArgs = (equal: boolean) =>
  fc
    .tuple(withAxis(), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }))
    .chain(([{ shape, axis }, lengths]) => {
      const at = axis < 0 ? axis + shape.length : axis;
      const parts = lengths.map((n) =>
        tensors({ shape: equal ? shape : shape.map((d, i) => (i === at ? n : d)) }),
      );
      return fc.tuple(...parts).map((ts): [number, ...Tensor[]] => [axis, ...ts]);
    });

export const specs: Record<OpName, OpSpec> = {
  add: spec(binaryArgs(), (a, b) => add(a, b), {
    gradgrad: { rule: 'linear in a and b: the second derivative is zero, the grad is g itself' },
  }),
  sub: spec(binaryArgs(), (a, b) => sub(a, b), {
    gradgrad: { rule: 'linear: zero second derivative; the grads g and -g are linear in g' },
  }),
  mul: spec(binaryArgs(), (a, b) => mul(a, b), {
    gradgrad: { rule: 'bilinear: ∂²(ab)/∂a∂b = 1 (g·b differentiated in b gives g), zero in a alone' },
  }),
  div: spec(binaryArgs({}, { avoid: [0], margin: 0.3 }), (a, b) => div(a, b), {
    gradgrad: { rule: '∂²(a/b)/∂b² = 2a/b³, ∂²/∂a∂b = -1/b², zero in a alone' },
    kinks: 'denominators at least 0.3 from 0',
  }),
  neg: spec(unaryArgs(), (x) => neg(x), { gradgrad: { rule: 'linear: zero second derivative' } }),
  exp: spec(unaryArgs(), (x) => exp(x), {
    gradgrad: { rule: "exp'' = exp: the grad g·eˣ differentiated in x is g·eˣ" },
  }),
  log: spec(unaryArgs({ min: 0.1, max: 3 }), (x) => log(x), {
    gradgrad: { rule: "log'' = -1/x²" },
    kinks: 'domain x ≥ 0.1',
  }),
  sqrt: spec(unaryArgs({ min: 0.1, max: 3 }), (x) => sqrt(x), {
    gradgrad: { rule: "sqrt'' = -1/(4x^{3/2})" },
    kinks: 'domain x ≥ 0.1',
  }),
  pow: spec(
    fc.tuple(tensors({ min: 0.2, max: 2 }), fc.constantFrom(0, 1, 2, 3, -1, 0.5, 2.5, -1.5)),
    (x, p) => pow(x, p),
    {
      gradgrad: { rule: "(xᵖ)'' = p(p-1)x^{p-2}" },
      kinks: 'positive bases (fractional and negative exponents), exponents from a fixed list',
    },
  ),
  tanh: spec(unaryArgs({ min: -3, max: 3 }), (x) => tanh(x), {
    gradgrad: { rule: "tanh'' = -2y(1-y²), y = tanh x" },
  }),
  sigmoid: spec(unaryArgs({ min: -3, max: 3 }), (x) => sigmoid(x), {
    gradgrad: { rule: "σ'' = σ(1-σ)(1-2σ)" },
  }),
  relu: spec(unaryArgs({ avoid: [0] }), (x) => relu(x), {
    gradgrad: { rule: 'zero away from 0 (the mask is a constant); the grad is linear in g' },
    kinks: 'x away from 0',
  }),
  abs: spec(unaryArgs({ avoid: [0] }), (x) => abs(x), {
    gradgrad: { rule: 'zero away from 0 (sign is a constant); the grad is linear in g' },
    kinks: 'x away from 0',
  }),
  maximum: spec(binaryArgs().filter(apart), (a, b) => maximum(a, b), {
    gradgrad: { rule: 'zero away from ties (the pick mask is a constant); the grad is linear in g' },
    kinks: 'no ties a = b',
  }),
  minimum: spec(binaryArgs().filter(apart), (a, b) => minimum(a, b), {
    gradgrad: { rule: 'zero away from ties (the pick mask is a constant); the grad is linear in g' },
    kinks: 'no ties a = b',
  }),
  clip: spec(unaryArgs({ avoid: [-0.5, 0.75] }), (x) => clip(x, -0.5, 0.75), {
    gradgrad: { rule: 'zero away from the bounds (the mask is a constant); the grad is linear in g' },
    kinks: 'x away from the bounds -0.5 and 0.75',
  }),
  where: spec(
    broadcastableShapes(3).chain(([c, a, b]) =>
      fc.tuple(masks({ shape: c! }), tensors({ shape: a! }), tensors({ shape: b! })),
    ),
    (cond, a, b) => where(cond, a, b),
    {
      gradgrad: { rule: 'linear in a and b (the mask is a constant)' },
      options: { nondiff: [0] },
      kinks: 'the mask is not differentiated',
    },
  ),
  // Central differences cannot see through float32 rounding at eps 1e-6; the cast is linear, so a
  // wide step is exact.
  astype: spec(unaryArgs(), (x) => astype(x, 'float32'), {
    // At second order the output grad is itself an input: cast to float32, it rounds, which gradcheck's
    // float64 linearity check sees. The float64 cast runs the same vjp (a recorded astype) exactly.
    gradgrad: {
      rule: 'linear: the grad is g cast back',
      call: (x) => astype(x as Tensor, 'float64'),
    },
    options: { eps: 1e-2 },
  }),
  matmul: spec(matmulArgs, (a, b) => matmul(a, b), {
    gradgrad: { rule: 'bilinear: ∂²(AB)/∂A∂B pairs g with the identity; zero in A or B alone' },
  }),
  sum: spec(reduceArgs(), (x, o) => sum(x, o), { gradgrad: { rule: 'linear: the grad is g spread back' } }),
  mean: spec(reduceArgs(), (x, o) => mean(x, o), {
    gradgrad: { rule: 'linear: the grad is g/n spread back' },
  }),
  max: spec(reduceArgs({ distinct: true }), (x, o) => max(x, o), {
    gradgrad: { rule: 'zero away from ties (the hit mask is a constant); the grad is linear in g' },
    kinks: 'no ties for the maximum',
  }),
  min: spec(reduceArgs({ distinct: true }), (x, o) => min(x, o), {
    gradgrad: { rule: 'zero away from ties (the hit mask is a constant); the grad is linear in g' },
    kinks: 'no ties for the minimum',
  }),
  logSumExp: spec(reduceArgs(), (x, o) => logSumExp(x, o), {
    gradgrad: { rule: 'the Hessian is diag(p) - ppᵀ per reduced slice, p = softmax' },
  }),
  softmax: spec(
    withAxis().chain(({ shape, axis }) => tensors({ shape }).map((x) => tuple(x, axis))),
    (x, axis) => softmax(x, axis),
    { gradgrad: { rule: 'the grad y·(g - Σg·y) differentiated in x through y (itself differentiable)' } },
  ),
  logSoftmax: spec(
    withAxis().chain(({ shape, axis }) => tensors({ shape }).map((x) => tuple(x, axis))),
    (x, axis) => logSoftmax(x, axis),
    { gradgrad: { rule: 'the grad g - softmax·Σg differentiated in x through softmax' } },
  ),
  reshape: spec(
    fc.tuple(shapes(), fc.integer({ min: 0, max: 3 })).chain(([shape, pick]) => {
      const size = shape.reduce((n, d) => n * d, 1);
      const target = [[size], [-1], [1, size], [...shape].reverse()][pick]!;
      return tensors({ shape }).map((x) => tuple(x, target));
    }),
    (x, shape) => reshape(x, shape),
    { gradgrad: { rule: 'linear: the grad is g reshaped back' } },
  ),
  permute: spec(
    shapes().chain((shape) => fc.tuple(tensors({ shape }), permutationOf(shape.length))),
    (x, axes) => permute(x, axes),
    { gradgrad: { rule: 'linear: the grad is g permuted back' } },
  ),
  transpose: spec(
    shapes().chain((shape) => fc.tuple(tensors({ shape }), fc.option(permutationOf(shape.length)))),
    (x, axes) => transpose(x, axes ?? undefined),
    { gradgrad: { rule: 'linear: the grad is g transposed back' } },
  ),
  concat: spec(joinArgs(false), (axis: number, ...parts: Tensor[]) => concat(parts, axis), {
    gradgrad: { rule: 'linear: the grad is g split back into the pieces' },
  }),
  stack: spec(joinArgs(true), (axis: number, ...parts: Tensor[]) => stack(parts, axis), {
    gradgrad: { rule: 'linear: the grad is g split back and reshaped' },
  }),
  slice: spec(
    shapes({ minRank: 1 }).chain((shape) =>
      fc.tuple(
        tensors({ shape }),
        fc.tuple(
          ...shape.map((d) =>
            fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 0, max: d - 1 })),
          ),
        ),
      ),
    ),
    (x, bounds) =>
      slice(
        x,
        bounds.map(([p, q]) => Math.min(p, q)),
        bounds.map(([p, q]) => Math.max(p, q) + 1),
      ),
    { gradgrad: { rule: 'linear: the grad is g scattered into zeros, whose own vjp is the slice again' } },
  ),
  split: spec(
    withAxis().chain(({ shape, axis }) => {
      const length = shape[axis < 0 ? axis + shape.length : axis]!;
      // A cut after each position or not; the pieces' lengths are the gaps between cuts.
      const sizes = fc.array(fc.boolean(), { minLength: length - 1, maxLength: length - 1 }).map((cuts) => {
        const out = [1];
        for (const cut of cuts) {
          if (cut) out.push(1);
          else out[out.length - 1]!++;
        }
        return out;
      });
      return fc.tuple(tensors({ shape }), sizes, fc.constant(axis));
    }),
    (x, sizes, axis) => split(x, sizes, axis),
    { gradgrad: { rule: "linear: the grad is the pieces' grads concatenated" } },
  ),
  squeeze: spec(
    shapes({ maxDim: 2 }).chain((shape) =>
      fc.tuple(tensors({ shape }), fc.option(fc.subarray(shape.flatMap((d, i) => (d === 1 ? [i] : []))))),
    ),
    (x, axes) => squeeze(x, axes ?? undefined),
    { gradgrad: { rule: 'linear: the grad is g reshaped back' } },
  ),
  unsqueeze: spec(
    shapes().chain((shape) =>
      fc.tuple(tensors({ shape }), fc.integer({ min: -(shape.length + 1), max: shape.length })),
    ),
    (x, axis) => unsqueeze(x, axis),
    { gradgrad: { rule: 'linear: the grad is g reshaped back' } },
  ),
  broadcastTo: spec(
    broadcastableShapes(2).chain(([from, other]) =>
      fc.tuple(
        tensors({ shape: from! }),
        fc.constant(broadcastShapes('broadcastTo', from!, other!) as Shape),
      ),
    ),
    (x, shape) => broadcastTo(x, shape),
    { gradgrad: { rule: 'linear: the grad is g summed back over the broadcast axes' } },
  ),
  indexSelect: spec(
    withAxis().chain(({ shape, axis }) => {
      const length = shape[axis < 0 ? axis + shape.length : axis]!;
      const indices = fc.array(fc.integer({ min: 0, max: length - 1 }), { minLength: 1, maxLength: 3 });
      return fc.tuple(
        tensors({ shape }),
        fc.constant(axis),
        indices.map((i) => tensor(i, { dtype: 'float64' })),
      );
    }),
    (x, axis, indices) => indexSelect(x, axis, indices),
    {
      gradgrad: { rule: 'linear: the grad is g scatter-added back, whose own vjp gathers again' },
      options: { nondiff: [2] },
      kinks: 'indices are not differentiated; repeats accumulate',
    },
  ),
  gather: spec(
    withAxis().chain(({ shape, axis }) => {
      const at = axis < 0 ? axis + shape.length : axis;
      const indexShape = fc.tuple(...shape.map((d, i) => fc.integer({ min: 1, max: i === at ? 3 : d })));
      const indices = indexShape.chain((s) => {
        const size = s.reduce((n, d) => n * d, 1);
        return fc
          .array(fc.integer({ min: 0, max: shape[at]! - 1 }), { minLength: size, maxLength: size })
          .map((i) => tensor(i, { dtype: 'float64', shape: s }));
      });
      return fc.tuple(tensors({ shape }), fc.constant(axis), indices);
    }),
    (x, axis, indices) => gather(x, axis, indices),
    {
      gradgrad: { rule: 'linear: the grad is g scatter-added back, whose own vjp gathers again' },
      options: { nondiff: [2] },
      kinks: 'indices are not differentiated; repeats accumulate',
    },
  ),
};

/**
 * How forward mode is checked for each op (gradcheck's test/jvp.test.ts): jvp against the vjp by the
 * transpose identity ⟨u, J·v⟩ = ⟨Jᵀu, v⟩, and against central differences, at the spec's arguments and
 * tolerances. Typed by OpName, so an op without a jvp check is a compile error. Empty: the defaults.
 */
export interface JvpCheck {
  /** Relative tolerance of the transpose identity (default 1e-10, for float64). */
  transposeTolerance?: number;
  /** Why this op's check is not the default. */
  why?: string;
}

export const jvpChecks: Record<OpName, JvpCheck> = {
  add: {},
  sub: {},
  mul: {},
  div: {},
  neg: {},
  exp: {},
  log: {},
  sqrt: {},
  pow: {},
  tanh: {},
  sigmoid: {},
  relu: {},
  abs: {},
  maximum: {},
  minimum: {},
  clip: {},
  where: {},
  astype: { transposeTolerance: 1e-6, why: 'the output, u and J·v are float32' },
  matmul: {},
  sum: {},
  mean: {},
  max: {},
  min: {},
  logSumExp: {},
  softmax: {},
  logSoftmax: {},
  reshape: {},
  permute: {},
  transpose: {},
  concat: {},
  stack: {},
  slice: {},
  split: {},
  squeeze: {},
  unsqueeze: {},
  broadcastTo: {},
  indexSelect: {},
  gather: {},
};
